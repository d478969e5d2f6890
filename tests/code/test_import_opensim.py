"""The OpenSim reader on ../shared/data/opensim/Subject4 (OpenCap, ~62.6 kg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gaitgrf.core import contract as c
from gaitgrf.core.sensors import GRAVITY
from gaitgrf.ingest.convert import convert_recording
from gaitgrf.ingest.formats.opensim import read_external_forces, read_mot, read_opensim, read_trc
from gaitgrf.ingest.segment_model.frames import joint_angles

SUBJECT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "opensim" / "Subject4"
pytestmark = pytest.mark.skipif(not SUBJECT.is_dir(), reason=f"no shared data at {SUBJECT}")
WALKS = ("walking1", "walking2", "walking4", "walkingTI1", "walkingTO1")


def test_trc_markers_in_metres_at_100_hz() -> None:
    rate, time, markers = read_trc(SUBJECT / "walking1.trc")
    assert rate == 100.0 and len(markers) == 51 and time.size == 131
    assert np.diff(time) == pytest.approx(np.full(130, 0.01))
    # Heels near the floor, pelvis about a metre up (OpenSim: Y up).
    assert 0.0 < np.nanmedian(markers["L_calc"][:, 1]) < 0.15
    assert 0.8 < np.nanmedian(markers["L.ASIS"][:, 1]) < 1.2


def test_external_forces_xml_and_grf_columns() -> None:
    sides = read_external_forces(SUBJECT / "walking1_external_forces.xml")
    assert sides == {"ground_force_1_": "r", "ground_force_2_": "r"}
    _header, columns, data = read_mot(SUBJECT / "static1_grf.mot")
    assert columns[0] == "time" and "ground_force_3_vy" in columns
    assert data.shape == (517, 28)


def test_ik_angles_are_converted_to_degrees() -> None:
    rec = read_opensim(SUBJECT / "walking1.trc")
    assert rec.angle_source == "opensim_ik"
    knee = rec.angles[("knee", "l", "flex")]
    assert 50.0 < np.nanmax(knee) < 80.0  # swing knee flexion in degrees, not 1.2 rad
    assert ("knee", "l", "add") not in rec.angles  # a one-degree-of-freedom knee


@pytest.fixture(scope="module")
def walks() -> dict[str, tuple]:
    out = {}
    for name in WALKS:
        rec = read_opensim(SUBJECT / f"{name}.trc")
        out[name] = (rec, *convert_recording(rec, trial_id="T", subject_id="S4", cohort_id="os"))
    return out


@pytest.mark.parametrize("name", WALKS)
def test_walking_trials_convert_with_both_feet(walks: dict, name: str) -> None:
    _rec, trial, report, body = walks[name]
    assert trial.kind == "walking"
    assert 1.0 < trial.extra["speed_mps"] < 1.6
    feet = {e["foot"] for e in report.contacts if e["foot"] is not None}
    assert feet == {"l", "r"}
    # The XML says every plate pushes the right talus; the markers put the left heel on FP2.
    fp2 = [e for e in report.contacts if e["plate"] == "FP2"]
    assert fp2 and all(e["foot"] == "l" and e["declared_foot"] == "r" for e in fp2)
    assert any("markers win" in note for note in report.notes)
    grf = trial.streams[c.STREAM_GRF]
    for side in c.SIDES:
        peak = np.nanmax(grf.channel(c.grf_channel(side, "z"))) / (62.6 * GRAVITY)
        assert 0.9 < peak < 1.5
    # IK flexion angles are used as recorded and agree in sign with the marker model's.
    model = joint_angles(body)
    kin = trial.streams[c.STREAM_KIN]
    for joint in ("hip", "knee", "ankle"):
        own = kin.channel(c.angle_channel(joint, "l", "flex"))
        assert trial.extra["angle_sources"][c.angle_channel(joint, "l", "flex")] == "opensim_ik"
        assert np.corrcoef(own, model[(joint, "l", "flex")])[0, 1] > 0.9
    assert trial.extra["angle_sources"]["angle_knee_l_add"] == "segment_model"


def test_static_trial_gives_body_weight_and_knee_alignment() -> None:
    rec = read_opensim(SUBJECT / "static1.trc")
    trial, report, _ = convert_recording(rec, trial_id="S", subject_id="S4", cohort_id="os")
    assert trial.kind == "static"
    assert {e["foot"] for e in report.contacts if e["foot"]} == {"l", "r"}
    assert report.static_load_n is not None
    mass = report.static_load_n / GRAVITY
    # README: ~62.6 kg (OpenCap metadata); the plates under the standing subject say 60.0 kg.
    assert mass == pytest.approx(62.6, rel=0.05)
    # Medial knee and ankle markers exist in this static trial: alignment is measured.
    assert set(report.alignment_deg) == {"l", "r"}
    assert all(-6.0 < v < 6.0 for v in report.alignment_deg.values())
    acc = trial.streams[c.STREAM_ACC]
    for loc in ("thigh_l", "thigh_r", "shank_l", "shank_r"):
        z = acc.channel(c.acc_channel(loc, "z"))
        assert z.mean() == pytest.approx(GRAVITY, abs=0.3)  # upright and still
