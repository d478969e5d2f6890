"""`gaitgrf import SRC --cohort ID [--subjects FILE]` on a real OpenSim trial."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gaitgrf.cli import app
from gaitgrf.io.loader import load_cohort

SUBJECT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "opensim" / "Subject4"
pytestmark = pytest.mark.skipif(not SUBJECT.is_dir(), reason=f"no shared data at {SUBJECT}")
runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path]:
    """(params file with paths.raw under tmp_path, source folder with one subject)."""
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"paths": {"raw": str(tmp_path / "raw")}}))
    folder = tmp_path / "src" / "P01"
    folder.mkdir(parents=True)
    for suffix in (".trc", "_grf.mot", "_external_forces.xml", "_ik.mot"):
        shutil.copy(SUBJECT / f"walking1{suffix}", folder / f"walking1{suffix}")
    return params, tmp_path / "src"


def test_import_writes_a_cohort_and_reports(project: tuple[Path, Path], tmp_path: Path) -> None:
    params, src = project
    subjects = tmp_path / "subjects.csv"
    subjects.write_text("subject_id,mass_kg,affected_side,group\nP01,62.6,none,healthy\n")
    args = ["import", str(src), "--cohort", "lab-a", "--subjects", str(subjects)]
    result = runner.invoke(app, [*args, "--params", str(params)])
    assert result.exit_code == 0, result.output
    assert "cohort lab-a: 1 subjects, 1 trials" in result.output
    assert "markers win" in result.output  # the XML's foot overruled, and said so
    cohort = load_cohort(tmp_path / "raw" / "lab-a")
    assert cohort.subject("P01")["group"] == "healthy"


def test_import_error_is_one_clear_line_and_writes_nothing(project: tuple[Path, Path]) -> None:
    params, src = project
    result = runner.invoke(app, ["import", str(src), "--cohort", "lab-b", "--params", str(params)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[0].startswith("error: ") and "Traceback" not in result.output
    assert "[mass_unknown]" in result.output and "subject=P01" in result.output
    assert lines[-1].startswith("hint: ")
    assert not (params.parent / "raw" / "lab-b").exists()


def test_import_help() -> None:
    result = runner.invoke(app, ["import", "--help"])
    assert result.exit_code == 0 and "--cohort" in result.output
    # Every format the importer reads is named, the tables with their column mapping.
    text = " ".join(result.output.split())
    for fmt in ("C3D", "OpenSim", "CSV/Parquet", "mapping"):
        assert fmt in text, fmt


def test_import_reports_each_recording_before_and_after(
    project: tuple[Path, Path], tmp_path: Path
) -> None:
    from gaitgrf.ingest.cohort import import_recordings

    _, src = project
    subjects = tmp_path / "subjects.csv"
    subjects.write_text("subject_id,mass_kg,affected_side,group\nP01,62.6,none,healthy\n")
    calls: list[tuple[int, int, str]] = []
    import_recordings(
        src, "lab-c", tmp_path / "raw", subjects, progress=lambda *call: calls.append(call)
    )
    assert calls == [(0, 1, "converting P01/walking1.trc"), (1, 1, "converting P01/walking1.trc")]


def test_import_shows_its_progress_bar(
    project: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gaitgrf.cli import output

    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # as in a terminal (issue 17: what, counts, ETA)
    monkeypatch.setattr(output.console, "is_interactive", True)
    params, src = project
    subjects = tmp_path / "subjects.csv"
    subjects.write_text("subject_id,mass_kg,affected_side,group\nP01,62.6,none,healthy\n")
    args = ["import", str(src), "--cohort", "lab-d", "--subjects", str(subjects)]
    result = runner.invoke(app, [*args, "--params", str(params)])
    assert result.exit_code == 0, result.output
    assert "importing lab-d: converting P01/walking1.trc" in result.output
