"""`gaitgrf cohort add` / `gaitgrf.ingest.intake`: validated first, then copied, tracked and
committed.

Real git and DVC in a temporary project; tiny synthetic cohorts (2 subjects, one 4 s walk each).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gaitgrf.core import contract as c
from gaitgrf.core.config import SynthConfig
from gaitgrf.ingest.intake import CohortRejected, IntakeError
from gaitgrf.io.cohort_store import write_manifest
from gaitgrf.io.loader import read_trial
from gaitgrf.io.trial_file import write_trial
from gaitgrf.synth import generate_cohort
from gaitgrf.workspace import ensure_dvc, ensure_git_repo
from tests.support.projects import add_cohort_to

pytestmark = pytest.mark.integration


def _synth(parent: Path, cohort_id: str) -> Path:
    cfg = SynthConfig(
        cohort_id=cohort_id,
        subjects=2,
        walking_trials=1,
        static_trials=1,
        trial_duration_s=4.0,
        static_duration_s=1.0,
    )
    generate_cohort(cfg, parent / cohort_id)
    return parent / cohort_id


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    ensure_git_repo(root)
    ensure_dvc(root, commit=True)
    return root


def test_add_validates_tracks_commits_and_refuses_twice(project: Path, tmp_path: Path) -> None:
    src = _synth(tmp_path / "incoming", "clinic-a")
    added = add_cohort_to(project, src)
    raw = project / "data" / "raw"
    assert (raw / "clinic-a" / c.SUBJECTS_FILE).is_file()
    assert (raw / "clinic-a.dvc").is_file()
    assert "/clinic-a" in (raw / ".gitignore").read_text()
    log = _git(project, "log", "--format=%s", "-1")
    assert log.startswith("Add cohort clinic-a (4 trials)")
    assert set(_git(project, "show", "--name-only", "--format=", "HEAD").split()) == {
        "data/raw/clinic-a.dvc",
        "data/raw/.gitignore",
    }
    assert added.trials == 4  # type: ignore[attr-defined]
    pushed = [p for p in (project / ".dvc-remote").rglob("*") if p.is_file()]
    assert len(pushed) >= 4
    before = sorted(p.name for p in raw.iterdir())
    with pytest.raises(IntakeError, match="already exists"):
        add_cohort_to(project, src)
    assert sorted(p.name for p in raw.iterdir()) == before


def test_failing_cohort_is_rejected_and_raw_is_untouched(project: Path, tmp_path: Path) -> None:
    good = add_cohort_to(project, _synth(tmp_path / "incoming", "good"))
    assert good is not None
    src = _synth(tmp_path / "incoming", "broken")
    for path in sorted((src / c.TRIALS_DIR).glob("*.parquet")):
        trial = read_trial(path)
        grf = trial.streams["grf"]
        kn = dataclasses.replace(grf, data=grf.data / 1000.0)  # kN written as N
        write_trial(dataclasses.replace(trial, streams={**trial.streams, "grf": kn}), path)
    write_manifest(src, "broken", {"kind": "test"})
    raw = project / "data" / "raw"
    before = {p.name: p.stat().st_mtime_ns for p in raw.iterdir()}
    head = _git(project, "rev-parse", "HEAD")
    with pytest.raises(CohortRejected) as info:
        add_cohort_to(project, src)
    assert "cohort broken rejected" in str(info.value)
    assert (info.value.report_dir / "summary.json").is_file()
    assert "data_docs" in {p.name for p in info.value.report_dir.iterdir()}
    assert {p.name: p.stat().st_mtime_ns for p in raw.iterdir()} == before
    assert _git(project, "rev-parse", "HEAD") == head
