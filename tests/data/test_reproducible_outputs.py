"""The data stages' outputs depend only on their inputs (issue 17, item 4).

DVC compares output hashes: a manifest with the time of writing, a report with wall times or an
absolute path, or a Data Docs page with a random id makes `dvc status` dirty after a re-run of
unchanged data. Here validate, resample and fuse run twice on the same tiny raw cohort, into two
differently named folders, and every file they write must be byte-identical and free of the
folders' absolute paths.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gaitgrf.core.config import (
    ContractConfig,
    FuseConfig,
    ResampleConfig,
    SynthConfig,
    ValidateConfig,
)
from gaitgrf.pipeline.fuse.run import fuse
from gaitgrf.pipeline.resample.run import resample_cohorts
from gaitgrf.pipeline.validate.report import ValidationSummary
from gaitgrf.pipeline.validate.run import validate_cohorts
from gaitgrf.synth import generate_cohort

CONFIG = SynthConfig(
    cohort_id="t", subjects=2, walking_trials=1, static_trials=1, trial_duration_s=3.0
)


def _run_stages(raw: Path, out: Path) -> ValidationSummary:
    """validate -> resample -> fuse, each writing under `out` (as the DVC stages do)."""
    summary = validate_cohorts(
        raw, out / "validated", out / "reports" / "validation", ContractConfig(), ValidateConfig()
    )
    resample_cohorts(
        out / "validated", out / "resampled", out / "reports" / "events.json", ResampleConfig()
    )
    fuse(out / "resampled", out / "fused", FuseConfig())
    return summary


def _files(root: Path) -> dict[str, bytes]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files}


@pytest.fixture(scope="module")
def twice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[ValidationSummary]]:
    base = tmp_path_factory.mktemp("repro")
    generate_cohort(CONFIG, base / "raw" / CONFIG.cohort_id)
    summaries = [_run_stages(base / "raw", base / name) for name in ("first", "second")]
    return base, summaries


def test_rerun_writes_the_same_bytes(twice: tuple[Path, list[ValidationSummary]]) -> None:
    base, _ = twice
    first, second = _files(base / "first"), _files(base / "second")
    assert sorted(first) == sorted(second)  # same file names: no time-stamped folder
    assert any(name.startswith("reports/validation/data_docs/") for name in first)
    assert any(name.startswith("validated/t/") for name in first)
    different = [name for name in first if first[name] != second[name]]
    assert different == []


def test_outputs_hold_no_absolute_path(twice: tuple[Path, list[ValidationSummary]]) -> None:
    base, _ = twice
    for name, content in _files(base / "first").items():
        assert str(base).encode() not in content, name
        assert str(Path.cwd()).encode() not in content, name


def test_timings_are_printed_not_stored(twice: tuple[Path, list[ValidationSummary]]) -> None:
    base, summaries = twice
    report = json.loads((base / "first" / "reports" / "validation" / "summary.json").read_text())
    assert "timings_s" not in report
    assert report["data_docs"] == "data_docs/index.html"  # relative to summary.json
    assert summaries[0].timings_s["gx"] > 0  # still measured, for the console
    manifest = json.loads((base / "first" / "validated" / "t" / "manifest.json").read_text())
    raw = json.loads((base / "raw" / "t" / "manifest.json").read_text())
    assert manifest["created_at"] == raw["created_at"]
