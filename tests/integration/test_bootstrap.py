"""End to end: `gaitgrf bootstrap` then `dvc repro` in a folder that is not yet a repository.

The project's pipeline files (params.yaml, dvc.yaml, stages/, src/ as the stage dependencies)
are copied into a temporary folder with a tiny synthetic cohort configured (a tiny project,
tests/support/projects.py); everything runs as real subprocesses (git, DVC, the stage), as
`make run` would.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.projects import (
    MODEL_STAGES,
    TINY_MODELS,
    dvc,
    gaitgrf,
    git,
    run_fails,
    write_tiny_project,
)

pytestmark = pytest.mark.integration


def _mtimes(root: Path) -> dict[str, int]:
    """mtime of every file outside git's and DVC's own bookkeeping folders."""
    skip = (root / ".git", root / ".dvc" / "tmp")
    return {
        str(p.relative_to(root)): p.stat().st_mtime_ns
        for p in root.rglob("*")
        if p.is_file() and not any(p.is_relative_to(s) for s in skip)
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_tiny_project(tmp_path / "project")


def test_bootstrap_then_repro_then_nothing_to_do(project: Path) -> None:
    cohort_id = "synth-default"
    out = gaitgrf(project, "bootstrap", "--params", "params.yaml")
    assert "git: initialised" in out
    assert "dvc: initialised" in out
    assert f"cohort {cohort_id}: generated 6 trials" in out
    assert f"tracked in data/raw/{cohort_id}.dvc, pushed" in out

    # A git repository with commits (the project, then DVC's configuration).
    assert git(project, "rev-parse", "--is-inside-work-tree").strip() == "true"
    assert len(git(project, "log", "--oneline").splitlines()) == 2
    # DVC with a default remote inside the project, written relative to .dvc/.
    assert (project / ".dvc").is_dir()
    assert dvc(project, "remote", "default").strip() == "local"
    assert "url = ../.dvc-remote" in (project / ".dvc" / "config").read_text()
    # The cohort: one .dvc file, data in the remote, nothing else for git to see.
    assert (project / "data" / "raw" / f"{cohort_id}.dvc").is_file()
    remote_files = [p for p in (project / ".dvc-remote").rglob("*") if p.is_file()]
    assert len(remote_files) >= 6 + 2  # trials, subjects.csv, manifest.json (+ the .dir list)
    status = git(project, "status", "--porcelain").splitlines()
    assert status == [f"?? data/raw/{cohort_id}.dvc"]
    # DVC sees the cohort's .dvc file and orders it before the stage reading data/raw.
    assert f"data/raw/{cohort_id}.dvc" in dvc(project, "dag")

    out = dvc(project, "repro")
    assert "Running stage 'inventory'" in out
    inventory = json.loads((project / "reports" / "inventory.json").read_text())
    assert inventory["cohorts"] == 1
    assert inventory["subjects"] == 3
    assert inventory["walking_trials"] == 3
    assert inventory["static_trials"] == 3
    assert sum(inventory["subjects_per_group"].values()) == 3
    assert inventory["walking_minutes"] == pytest.approx(3 * 4.0 / 60, abs=0.01)
    # The data stages: validated trials, both layouts for both conditions, reports.
    for stage in ("validate", "resample", "fuse"):
        assert f"Running stage '{stage}'" in out
    validation = json.loads((project / "reports/validation/metrics.json").read_text())
    assert validation["trials"] == 6 and validation["quarantined"] == 0
    assert (project / "reports/validation/data_docs/index.html").is_file()
    events = json.loads((project / "reports" / "events.json").read_text())
    assert events["samples"]["stance"] > 0 and events["samples"]["window"] > 0
    for layout in ("stance", "window"):
        for condition in ("base", "subject"):
            assert (project / "data/fused" / layout / f"{condition}.npz").is_file()
    assert "metrics.json" in dvc(project, "metrics", "show")
    # The model stages: every study tuned, evaluated on the held-out subject, a champion.
    for stage in MODEL_STAGES:
        assert f"Running stage '{stage}'" in out
    report = (project / "reports" / "evaluation.md").read_text()
    for arch in TINY_MODELS:
        assert f"| {arch} | base |" in report and f"| {arch} | subject |" in report
    promotion = json.loads((project / "reports" / "promotion.json").read_text())
    assert promotion["promoted"] is True and promotion["champion_after"] == "1"
    assert "rrmse_mean" in dvc(project, "metrics", "show")
    assert (project / "reports/evaluation/plots/curves_best_subject.png").stat().st_size > 1000

    # A second run does nothing: the output says so and no file is touched.
    before = _mtimes(project)
    out = gaitgrf(project, "bootstrap", "--params", "params.yaml")
    assert "git: repo exists" in out
    assert "dvc: already initialised" in out
    assert f"cohorts present: {cohort_id} — nothing to do" in out
    out = dvc(project, "repro")
    assert "Stage 'inventory' didn't change, skipping" in out
    assert "Running stage" not in out
    assert _mtimes(project) == before
    assert "up to date" in dvc(project, "status")

    # A filter cut-off belongs to resample: only resample and fuse run again.
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["resample"]["filter"]["cutoff_hz"]["grf"] = 25.0
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = dvc(project, "repro")
    ran = sorted(line.split("'")[1] for line in out.splitlines() if line.startswith("Running"))
    assert ran == sorted(["fuse", "resample", *MODEL_STAGES])


def test_inventory_stage_fails_clearly_without_cohort(project: Path) -> None:
    proc = run_fails(project, sys.executable, "-m", "stages.inventory")
    assert "no cohort folder" in proc.stderr
    assert "hint: run `gaitgrf bootstrap`" in proc.stderr
    assert not (project / "reports" / "inventory.json").exists()


def test_inventory_stage_lists_violations(project: Path) -> None:
    gaitgrf(project, "synth", "--params", "params.yaml", "--cohort-id", "broken")
    (project / "data" / "raw" / "broken" / "subjects.csv").write_text("subject_id\nS01\n")
    proc = run_fails(project, sys.executable, "-m", "stages.inventory")
    assert "violation(s)" in proc.stderr


def test_bootstrap_restores_and_tracks_existing_cohorts(project: Path) -> None:
    gaitgrf(project, "bootstrap", "--params", "params.yaml")
    raw = project / "data" / "raw"
    # A tracked cohort whose folder is gone (a fresh clone): restored from DVC, not regenerated.
    shutil.rmtree(raw / "synth-default")
    out = gaitgrf(project, "bootstrap", "--params", "params.yaml")
    assert "cohort synth-default: restored from DVC" in out
    assert "generated" not in out
    assert (raw / "synth-default" / "manifest.json").is_file()
    # A cohort folder nobody tracked (e.g. an interrupted run): tracked and pushed.
    gaitgrf(project, "synth", "--params", "params.yaml", "--cohort-id", "extra")
    out = gaitgrf(project, "bootstrap", "--params", "params.yaml")
    assert "cohort extra: tracked in data/raw/extra.dvc, pushed" in out
    assert "cohorts present: extra, synth-default — nothing to do" in out
    assert "/extra" in (raw / ".gitignore").read_text().splitlines()
    assert git(project, "status", "--porcelain").splitlines() == [
        " M data/raw/.gitignore",
        "?? data/raw/extra.dvc",
        "?? data/raw/synth-default.dvc",
    ]
    tracked = ("data/raw/extra.dvc", "data/raw/synth-default.dvc")
    assert "up to date" in dvc(project, "status", *tracked)
    # Data that neither the cache nor the remote holds: a clear error, nothing regenerated.
    shutil.rmtree(raw / "extra")
    shutil.rmtree(project / ".dvc" / "cache")
    shutil.rmtree(project / ".dvc-remote")
    proc = run_fails(
        project, sys.executable, "-m", "gaitgrf.cli", "bootstrap", "--params", "params.yaml"
    )
    assert proc.stderr.startswith("error: `dvc pull --quiet data/raw/extra.dvc` failed")
    assert "hint: the data of data/raw/extra.dvc is in neither the DVC cache nor" in proc.stderr
