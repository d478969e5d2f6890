"""A static calibration trial recorded off the force plates imports, without GRF.

A lab's static trial (for the joint centres and the alignment) is often recorded beside the
plates, or with plates that were not zeroed for it. It needs no plate, so it imports with its
GRF unknown (NaN), which the contract allows; walking trials still need a foot on a plate.
The validate stage then has no weight to check for it: it skips `static_weight` and says so.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from gaitgrf.core import contract as c
from gaitgrf.core.config import ContractConfig, ValidateConfig
from gaitgrf.ingest.cohort import ImportResult, import_recordings
from gaitgrf.ingest.convert import convert_recording, read_recording
from gaitgrf.ingest.formats.recording import RecordingError
from gaitgrf.io.loader import load_cohort, read_trial
from gaitgrf.pipeline.validate.run import validate_cohorts
from gaitgrf.pipeline.validate.trial_metrics import STATIC_OFF_PLATES
from tests.support.recordings import SHARED, SUBJECT, copy_trial, edit_mot

pytestmark = pytest.mark.skipif(not SUBJECT.is_dir(), reason=f"no shared data at {SUBJECT}")
SUBJECTS_CSV = "subject_id,mass_kg,affected_side,group\nP01,62.6,none,healthy\n"
PIG = SHARED / "c3d" / "btk_PiG_Motion-FlatFoot-Full.c3d"


def _no_force(col: str, value: float) -> float:
    """A plate nobody stands on: zero force (the COP columns are left as recorded)."""
    return 0.0 if "_v" in col else value


def _session(tmp_path: Path, static_plates: str) -> Path:
    """Subject P01: walking4 (both feet on the plates) and static1, whose plates are
    `unloaded` (forces zero) or `absent` (no _grf.mot)."""
    folder = tmp_path / "src" / "P01"
    copy_trial(folder, "walking4")
    static = copy_trial(folder, "static1")
    mot = static.with_name("static1_grf.mot")
    if static_plates == "unloaded":
        edit_mot(mot, _no_force)
    else:
        mot.unlink()
    (tmp_path / "subjects.csv").write_text(SUBJECTS_CSV)
    return folder.parent


def _import(tmp_path: Path, static_plates: str) -> ImportResult:
    src = _session(tmp_path, static_plates)
    return import_recordings(src, "static-off", tmp_path / "raw", tmp_path / "subjects.csv")


@pytest.mark.parametrize("static_plates", ["unloaded", "absent"])
def test_session_with_a_static_trial_off_the_plates_imports(
    tmp_path: Path, static_plates: str
) -> None:
    result = _import(tmp_path, static_plates)
    cohort = load_cohort(result.cohort_dir)
    trials = {t.trial_id: read_trial(t) for t in cohort.trials}
    assert {k: t.kind for k, t in trials.items()} == {
        "P01_static1": "static",
        "P01_walking4": "walking",
    }
    static = trials["P01_static1"].streams[c.STREAM_GRF]
    assert np.isnan(static.select(list(c.REQUIRED_GRF_CHANNELS))).all()
    walking = trials["P01_walking4"].streams[c.STREAM_GRF]
    assert np.nanmax(walking.channel(c.grf_channel("r", "z"))) > 500.0
    notes = trials["P01_static1"].extra["import"]["notes"]
    expected = "static trial off the force plates" if static_plates == "unloaded" else "no force"
    assert any(expected in n for n in notes), notes
    # The markers still give the alignment; the mass is the subjects file's.
    row = cohort.subject("P01")
    assert row["mass_kg"] == pytest.approx(62.6)
    assert row["knee_alignment_left_deg"] == pytest.approx(2.28, abs=0.05)
    assert any("medial_markers" in n for n in result.notes)


def test_validate_skips_the_weight_check_and_says_why(tmp_path: Path) -> None:
    result = _import(tmp_path, "unloaded")
    summary = validate_cohorts(
        result.cohort_dir.parent,
        tmp_path / "validated",
        tmp_path / "reports",
        ContractConfig(),
        ValidateConfig(),
    )
    assert (summary.trials, summary.passed) == (2, 2)
    report = json.loads((tmp_path / "reports" / "summary.json").read_text())
    entries = {t["trial_id"]: t for t in report["trials"]}
    assert entries["P01_walking4"]["skipped_checks"] == []
    skipped = entries["P01_static1"]["skipped_checks"]
    assert {s["check"] for s in skipped} == {"static_weight_present", "static_weight"}
    assert all(s["reason"] == STATIC_OFF_PLATES for s in skipped)
    table = (tmp_path / "reports" / "trial_metrics.csv").read_text()
    assert "static trial recorded off the force plates" in table


def test_a_static_trial_on_the_plates_is_still_weighed(tmp_path: Path) -> None:
    """The skip is for unknown force only: a static trial whose load is wrong still fails."""
    src = _session(tmp_path, "unloaded")
    # Put static1's plates back, scaled: the plates then weigh 30 % more than subjects.csv.
    mot = src / "P01" / "static1_grf.mot"
    mot.write_text((SUBJECT / "static1_grf.mot").read_text())
    edit_mot(mot, lambda col, v: 1.3 * v if "_v" in col else v)
    result = import_recordings(src, "heavy", tmp_path / "raw", tmp_path / "subjects.csv")
    summary = validate_cohorts(
        result.cohort_dir.parent,
        tmp_path / "validated",
        tmp_path / "reports",
        ContractConfig(),
        ValidateConfig(max_fail_fraction=1.0),
    )
    reasons = summary.quarantined_trials["heavy/P01_static1"]
    assert any(r.startswith("static_weight_ratio") for r in reasons), reasons


def test_a_walking_trial_still_needs_a_foot_on_a_plate(tmp_path: Path) -> None:
    folder = tmp_path / "src" / "P01"
    trc = copy_trial(folder, "walking4")
    edit_mot(trc.with_name("walking4_grf.mot"), _no_force)
    (tmp_path / "subjects.csv").write_text(SUBJECTS_CSV)
    with pytest.raises(RecordingError) as info:
        import_recordings(folder.parent, "walk", tmp_path / "raw", tmp_path / "subjects.csv")
    (v,) = info.value.violations
    assert (v.rule, v.subject) == ("no_foot_contact", "P01")
    assert not (tmp_path / "raw" / "walk").exists()


@pytest.mark.skipif(not PIG.is_file(), reason=f"no {PIG}")
def test_a_c3d_static_trial_off_the_plates_converts() -> None:
    """The same for a C3D: Plug-in Gait markers, its plates unloaded, taken as a static trial."""
    rec = read_recording(PIG)
    unloaded = tuple(dataclasses.replace(p, force=np.zeros_like(p.force)) for p in rec.plates)
    rec = dataclasses.replace(rec, plates=unloaded)
    trial, report, _body = convert_recording(
        rec, trial_id="T", subject_id="S", cohort_id="x", kind="static"
    )
    grf = trial.streams[c.STREAM_GRF]
    assert trial.kind == "static" and np.isnan(grf.select(list(c.REQUIRED_GRF_CHANNELS))).all()
    assert report.static_load_n is None and report.contacts == []
    assert any("static trial off the force plates" in n for n in report.notes)
    with pytest.raises(RecordingError) as info:  # the same recording as a walking trial
        convert_recording(rec, trial_id="T", subject_id="S", cohort_id="x", kind="walking")
    assert info.value.rules == {"no_foot_contact"}
