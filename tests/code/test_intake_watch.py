"""Which incoming folders are complete (gaitgrf.ingest.intake.ready_cohorts): marker or quiet
period."""

from __future__ import annotations

from pathlib import Path

from gaitgrf.ingest.intake import READY_MARKER, ready_cohorts


def _folder(root: Path, name: str, *files: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    for f in files:
        (folder / f).write_text("x")
    return folder


def test_marker_makes_a_folder_ready_once(tmp_path: Path) -> None:
    _folder(tmp_path, "a", "subjects.csv", READY_MARKER)
    ready, state = ready_cohorts(tmp_path, {}, settle_s=3600, now=0.0)
    assert [p.name for p in ready] == ["a"]
    again, state = ready_cohorts(tmp_path, state, settle_s=3600, now=1.0)
    assert again == []


def test_folder_being_copied_waits_for_quiet_period(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "b", "subjects.csv")
    ready, state = ready_cohorts(tmp_path, {}, settle_s=60, now=0.0)
    assert ready == []
    (folder / "trial1.parquet").write_text("more")  # still arriving: the clock restarts
    ready, state = ready_cohorts(tmp_path, state, settle_s=60, now=50.0)
    assert ready == []
    ready, state = ready_cohorts(tmp_path, state, settle_s=60, now=100.0)
    assert ready == []  # only 50 s since the last change
    ready, state = ready_cohorts(tmp_path, state, settle_s=60, now=111.0)
    assert [p.name for p in ready] == ["b"]


def test_changed_content_is_announced_again_and_hidden_folders_ignored(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "c", READY_MARKER)
    _folder(tmp_path, ".done", READY_MARKER)
    ready, state = ready_cohorts(tmp_path, {}, settle_s=10, now=0.0)
    assert [p.name for p in ready] == ["c"]
    (folder / "extra.csv").write_text("redelivered")
    ready, state = ready_cohorts(tmp_path, state, settle_s=10, now=1.0)
    assert [p.name for p in ready] == ["c"]


def test_missing_incoming_folder(tmp_path: Path) -> None:
    assert ready_cohorts(tmp_path / "nope", {}, settle_s=1) == ([], {})
