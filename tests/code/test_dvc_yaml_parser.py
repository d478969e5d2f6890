"""DVC reads its YAML files through ruamel.yaml's C parser, not the pure-Python fallback.

Since ruamel.yaml 0.19 the C parser is an optional extra; without it every no-op `dvc repro` of
the default pipeline spends most of its time parsing params.yaml once per stage
(benchmarks/README.md, "No-op `dvc repro`"). pyproject.toml pins `ruamel.yaml.clib`; this fails
if an install lost it.
"""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    platform.python_implementation() != "CPython", reason="the C parser exists for CPython only"
)
def test_dvc_parses_yaml_with_the_c_parser() -> None:
    from ruamel.yaml import YAML
    from ruamel.yaml.main import CParser

    assert CParser is not None, "ruamel.yaml.clib is not installed: pip install -e '.[dev]'"
    assert YAML(typ="safe").Parser is CParser


def test_the_c_parser_reads_params_and_the_pipeline_as_the_pure_one() -> None:
    """Same values from both parsers on the project's own files (what DVC compares to dvc.lock)."""
    from ruamel.yaml import YAML

    for name in ("params.yaml", "dvc.yaml"):
        text = (REPO / name).read_text()
        assert YAML(typ="safe").load(text) == YAML(typ="safe", pure=True).load(text), name
