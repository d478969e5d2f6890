"""gaitgrf.pipeline.retrain: what the retrain flows wrap (parking, the watcher's state, repro).

The whole retrain (a cohort added, `dvc repro`, a promotion served) runs for real in
tests/integration/test_retrain_served.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gaitgrf.ingest.intake import READY_MARKER
from gaitgrf.pipeline.retrain import STATE_FILE, announce_ready, park_incoming, run_repro


def test_parked_folder_leaves_incoming_with_a_stamped_name(tmp_path: Path) -> None:
    src = tmp_path / "incoming" / "lab-b"
    src.mkdir(parents=True)
    (src / "subjects.csv").write_text("x")
    park_incoming(src, tmp_path / "incoming" / ".done")
    assert not src.exists()
    [parked] = (tmp_path / "incoming" / ".done").iterdir()
    assert parked.name.startswith("lab-b-") and (parked / "subjects.csv").read_text() == "x"
    park_incoming(src, tmp_path / "incoming" / ".done")  # already gone: nothing to do


def test_a_ready_folder_is_announced_once_and_the_state_kept(tmp_path: Path) -> None:
    folder = tmp_path / "a"
    folder.mkdir()
    (folder / READY_MARKER).write_text("")
    seen: list[Path] = []
    assert announce_ready(tmp_path, 3600, seen.append) == [folder]
    assert seen == [folder]
    assert json.loads((tmp_path / STATE_FILE).read_text())
    assert announce_ready(tmp_path, 3600, seen.append) == []
    assert seen == [folder]
    assert announce_ready(tmp_path / "absent", 3600, seen.append) == []


def test_failed_repro_raises_with_its_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no DVC project here
    stages: list[str] = []
    with pytest.raises(RuntimeError, match=r"dvc repro failed \(exit"):
        run_repro(stages.append)
    assert stages == []


def test_a_contract_failing_incoming_cohort_is_parked_and_a_busy_one_stays(
    tmp_path: Path, make_cohort
) -> None:
    """The watcher never retries a cohort the contract refuses; a locked intake is retried."""
    import fcntl

    from gaitgrf.core.config import Params, PathsConfig
    from gaitgrf.ingest import intake
    from gaitgrf.pipeline.retrain import add_incoming

    incoming = tmp_path / "incoming"
    params = Params(paths=PathsConfig(raw=tmp_path / "raw2", incoming=incoming))
    src = make_cohort("lab-c")
    moved = incoming / "lab-c"
    incoming.mkdir()
    src.rename(moved)
    (moved / "manifest.json").write_text("[]")  # not an object: refused by the contract
    raw = params.paths.raw
    raw.mkdir()
    with (raw / intake.LOCK_FILE).open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(intake.IntakeBusy):
            add_incoming(params, moved, root=tmp_path, report=lambda _: None)
    assert moved.is_dir()  # busy: left for the next poll
    with pytest.raises(intake.IntakeError, match="expected a JSON object"):
        add_incoming(params, moved, root=tmp_path, report=lambda _: None)
    assert not moved.exists()
    assert [p.name.startswith("lab-c-") for p in (incoming / ".rejected").iterdir()] == [True]
