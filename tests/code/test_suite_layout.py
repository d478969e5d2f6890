"""The test suite's own layout: pytest must be able to collect every module.

The test folders are not packages (no __init__.py), so pytest imports each module under its bare
file name: two test files with the same name in different folders make collection stop with
"import file mismatch", and the whole `make test` fails before running anything.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_module_names_are_unique_across_folders() -> None:
    by_name: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("test_*.py"):
        by_name[path.name].append(str(path.relative_to(TESTS)))
    clashes = {name: paths for name, paths in by_name.items() if len(paths) > 1}
    assert not clashes, f"test modules sharing a file name (rename one): {clashes}"
