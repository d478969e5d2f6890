"""Fixtures shared by every test folder.

`tests/` is not a package, so this file puts it on sys.path to make the plain helper module
`cohort_factory` importable from any test (`from cohort_factory import make_trial`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

import cohort_factory  # noqa: E402
from hypothesis import settings  # noqa: E402

# No per-example deadline: the suite runs in parallel processes on shared CI machines, where an
# example's wall time says nothing about the code (hypothesis' default 200 ms would flake).
settings.register_profile("gaitgrf", deadline=None)
settings.load_profile("gaitgrf")


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    """An empty `data/raw`-like folder under tmp_path."""
    path = tmp_path / "raw"
    path.mkdir()
    return path


@pytest.fixture
def make_cohort(raw_dir: Path) -> Callable[..., Path]:
    """`make_cohort(cohort_id="tiny", subjects=..., trials=..., edit=...)` -> cohort folder.

    See `cohort_factory.build_cohort`; cohorts land in the `raw_dir` fixture's folder.
    """

    def make(cohort_id: str = "tiny", **kwargs: Any) -> Path:
        return cohort_factory.build_cohort(raw_dir, cohort_id, **kwargs)

    return make
