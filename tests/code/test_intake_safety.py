"""`gaitgrf cohort add` refuses hostile input before any path is built, one add at a time.

Regression tests of the hardening issue: ids that escape data/raw, symlinks and special files
in an incoming cohort, a manifest that is not an object, a second concurrent add, scratch and
half-added cohorts left by a killed add, and error lines naming the scratch copy.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from gaitgrf.ingest import intake
from gaitgrf.ingest.intake import IntakeBusy, IntakeError
from tests.support.projects import add_cohort_to


def _set_manifest_id(cohort: Path, value: object) -> None:
    manifest = json.loads((cohort / "manifest.json").read_text())
    manifest["cohort_id"] = value
    (cohort / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("bad_id", ["/tmp/gaitgrf-escape", "../../../../tmp/gaitgrf-escape", ""])
def test_manifest_id_that_escapes_is_refused_before_any_copy(
    make_cohort: Callable[..., Path], tmp_path: Path, bad_id: str
) -> None:
    src = make_cohort("incoming")
    _set_manifest_id(src, bad_id)
    project = tmp_path / "project"
    escape = Path("/tmp/gaitgrf-escape")
    assert not escape.exists()
    with pytest.raises(IntakeError, match=r"manifest\.json"):
        add_cohort_to(project, src)
    assert not escape.exists()
    assert not (project / "data" / "raw").exists() or not [
        p for p in (project / "data" / "raw").iterdir() if not p.name.startswith(".")
    ]


@pytest.mark.parametrize("bad_id", ["../evil", "/abs", "x" * 65, "kohört"])
def test_cohort_option_is_checked_first(
    make_cohort: Callable[..., Path], tmp_path: Path, bad_id: str
) -> None:
    with pytest.raises(IntakeError, match="must match"):
        add_cohort_to(tmp_path / "project", make_cohort("incoming"), cohort_id=bad_id)
    assert not (tmp_path / "evil").exists()


def test_manifest_that_is_a_list_is_one_clear_error(
    make_cohort: Callable[..., Path], tmp_path: Path
) -> None:
    src = make_cohort("incoming")
    (src / "manifest.json").write_text("[1, 2]")
    with pytest.raises(IntakeError, match="expected a JSON object, found list"):
        add_cohort_to(tmp_path / "project", src)


def test_symlinked_file_is_refused_naming_it(
    make_cohort: Callable[..., Path], tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    src = make_cohort("incoming")
    (src / "notes.txt").symlink_to(secret)
    with pytest.raises(IntakeError, match=r"notes\.txt: symbolic link"):
        add_cohort_to(tmp_path / "project", src)
    assert not list((tmp_path / "project").rglob("notes.txt"))


def test_symlinked_trial_folder_and_fifo_are_refused(
    make_cohort: Callable[..., Path], tmp_path: Path
) -> None:
    src = make_cohort("incoming")
    os.mkfifo(src / "pipe")
    with pytest.raises(IntakeError, match=r"pipe: not a regular file"):
        add_cohort_to(tmp_path / "project", src)
    (src / "pipe").unlink()
    trials = src / "trials"
    trials.rename(tmp_path / "elsewhere")
    trials.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(IntakeError, match=r"trials: symbolic link"):
        add_cohort_to(tmp_path / "project", src)


def test_second_concurrent_add_fails_in_one_line(
    make_cohort: Callable[..., Path], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    raw = project / "data" / "raw"
    raw.mkdir(parents=True)
    with (raw / intake.LOCK_FILE).open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(IntakeBusy, match="another `gaitgrf cohort add` is running"):
            add_cohort_to(project, make_cohort("incoming"))
    assert sorted(p.name for p in raw.iterdir()) == [".gitignore", intake.LOCK_FILE]


def test_scratch_of_a_killed_add_is_cleaned_and_errors_name_the_source(
    make_cohort: Callable[..., Path], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    raw = project / "data" / "raw"
    leftover = raw / intake.SCRATCH_DIR / "raw" / "old"
    leftover.mkdir(parents=True)
    (leftover / "big.bin").write_bytes(b"x" * 1024)
    src = make_cohort("incoming")
    with (src / "subjects.csv").open("a") as fh:
        fh.write("not,a,valid,row\n")
    with pytest.raises(IntakeError) as caught:
        add_cohort_to(project, src)
    assert str(src) in str(caught.value)
    assert intake.SCRATCH_DIR not in str(caught.value)
    assert not (raw / intake.SCRATCH_DIR).exists()


def _commit(project: Path, *paths: str) -> None:
    subprocess.run(["git", "-C", str(project), "add", *paths], check=True)
    identity = ["-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "-C", str(project), *identity, "commit", "-qm", "x"], check=True)


def _git_project(path: Path) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    (path / "README").write_text("x\n")
    _commit(path, "README")
    return path


def test_interrupted_add_is_rolled_back_and_a_finished_one_kept(tmp_path: Path) -> None:
    project = _git_project(tmp_path / "project")
    raw = project / "data" / "raw"
    half = raw / "half"
    half.mkdir(parents=True)
    (half / "subjects.csv").write_text("subject_id\n")
    intake.begin(raw, "half", commit=True)
    done = raw / "done"
    done.mkdir()
    (raw / "done.dvc").write_text("outs: []\n")
    _commit(project, "data/raw/done.dvc")
    intake.begin(raw, "done", commit=True)
    lines: list[str] = []
    assert intake.recover_interrupted(project, raw, report=lines.append) == ["half"]
    assert not half.exists()
    assert done.is_dir() and (raw / "done.dvc").is_file()
    assert not list(raw.glob(f"{intake.JOURNAL_PREFIX}*"))
    assert lines == ["rolled back the interrupted add of cohort half"]


def test_bootstrap_does_not_track_a_half_added_cohort(tmp_path: Path) -> None:
    from gaitgrf.workspace import track_untracked_cohorts

    raw = tmp_path / "raw"
    (raw / "half").mkdir(parents=True)
    intake.begin(raw, "half", commit=True)
    lines: list[str] = []
    assert track_untracked_cohorts(tmp_path, raw, report=lines.append) == []
    assert "interrupted `gaitgrf cohort add`" in lines[0]
