"""The C3D reader on the real recordings in ../shared/data/c3d, and its refusals.

Foot assignment is checked against the Foot Strike events the labs wrote into the files (which
our reader does not use), and the heading frame against the physics of walking: braking then
propulsion along x, and a medially directed ground reaction on each foot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gaitgrf.core import contract as c
from gaitgrf.core.errors import ContractError
from gaitgrf.ingest.convert import convert_recording
from gaitgrf.ingest.formats.c3d import read_c3d
from gaitgrf.ingest.formats.recording import RecordingError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
C3D = SHARED / "c3d"
pytestmark = pytest.mark.skipif(not C3D.is_dir(), reason=f"shared recordings not found at {C3D}")

#: file -> (marker rate, analog rate, plates, body mass or None); from ../shared/data/README.md.
EXPECTED = {
    "btk_PiG_Motion-FlatFoot-Full": (100.0, 1000.0, 2, 47.5),
    "btk_FunctionalWalk": (120.0, 1080.0, 3, 60.0),
    "c3dorg_Eb015pi": (50.0, 200.0, 2, None),
    "ktk_walk": (100.0, 2000.0, 4, 73.4),
}
#: Recordings with a Plug-in Gait style marker set, which the importer turns into trials.
PIG = ("btk_PiG_Motion-FlatFoot-Full", "btk_FunctionalWalk", "ktk_walk")


@pytest.fixture(scope="module")
def recordings() -> dict[str, object]:
    return {name: read_c3d(C3D / f"{name}.c3d") for name in EXPECTED}


@pytest.fixture(scope="module")
def converted(recordings: dict) -> dict[str, tuple]:
    out = {}
    for name in PIG:
        rec = recordings[name]
        out[name] = convert_recording(
            rec, trial_id="T01", subject_id="S01", cohort_id="c3d-test", mass_kg=rec.mass_kg
        )
    return out


@pytest.mark.parametrize("name", list(EXPECTED))
def test_reads_rates_plates_and_mass_from_the_file(recordings: dict, name: str) -> None:
    rate, analog, n_plates, mass = EXPECTED[name]
    rec = recordings[name]
    assert rec.marker_rate_hz == pytest.approx(rate)
    assert len(rec.plates) == n_plates
    assert all(p.rate_hz == pytest.approx(analog) for p in rec.plates)
    assert rec.mass_kg == (None if mass is None else pytest.approx(mass, abs=0.01))
    # Markers are metres: a lab is a few metres across, never kilometres.
    spans = [np.nanmax(np.abs(m)) for m in rec.markers.values() if np.isfinite(m).any()]
    assert 0.3 < max(spans) < 20.0
    # Same clock: plates and markers start together and last as long (one frame's tolerance).
    plate = rec.plates[0]
    assert plate.time[0] == pytest.approx(rec.marker_time[0])
    assert plate.time[-1] == pytest.approx(rec.marker_time[-1], abs=1.0 / rate)


def test_plate_force_is_the_force_on_the_body_with_the_documented_peaks(recordings: dict) -> None:
    """README: FlatFoot Fz max ~483/501 N, Eb015pi ~839 N; ktk has one unloaded plate."""
    peaks = {
        name: [float(np.nanmax(p.force[:, 2])) for p in recordings[name].plates]
        for name in EXPECTED
    }
    assert peaks["btk_PiG_Motion-FlatFoot-Full"] == pytest.approx([483, 501], abs=2)
    assert max(peaks["c3dorg_Eb015pi"]) == pytest.approx(839, abs=2)
    assert sorted(peaks["ktk_walk"])[0] < 1.0
    for plate in recordings["ktk_walk"].plates:
        assert np.nanmin(plate.force[:, 2]) > -20.0  # upward force on the body, not on the plate


def test_plug_in_gait_angles_are_read_in_degrees(recordings: dict) -> None:
    rec = recordings["btk_FunctionalWalk"]
    assert rec.angle_source == "c3d_plug_in_gait"
    knee = rec.angles[("knee", "l", "flex")]
    assert 45.0 < np.nanmax(knee) < 80.0  # swing-phase knee flexion of walking
    assert len(rec.angles) == 18
    assert "LKneeAngles" not in rec.markers and "LGroundReactionForce" not in rec.markers


@pytest.mark.parametrize("name", PIG)
def test_each_contact_is_given_to_the_foot_the_lab_marked(
    recordings: dict, converted: dict, name: str
) -> None:
    """Every assigned contact starts within 30 ms of a Foot Strike event of that foot."""
    events = recordings[name].info["events"]
    _, report, _ = converted[name]
    assigned = [e for e in report.contacts if e["foot"] is not None]
    assert len(assigned) >= 2
    assert {e["foot"] for e in assigned} == {"l", "r"}
    for contact in assigned:
        side = "Left" if contact["foot"] == "l" else "Right"
        strikes = [
            e["time_s"] for e in events if e["label"] == "Foot Strike" and e["context"] == side
        ]
        gap = min(abs(contact["start_s"] - t) for t in strikes)
        assert gap < 0.03, (name, contact, strikes)
        assert contact["heel_distance_m"][contact["foot"]] < 0.15


def test_a_second_foot_on_the_same_plate_is_detected(recordings: dict, converted: dict) -> None:
    """ktk_walk: the left foot lands on FP1 while the right still stands on it (event 3.33 s);
    from then on the plate's force cannot be split between the feet, so both are unknown."""
    trial, report, _ = converted["ktk_walk"]
    (shared,) = [e for e in report.contacts if "shared_from_s" in e]
    assert (shared["plate"], shared["foot"]) == ("FP1", "r")
    strikes = [
        e["time_s"]
        for e in recordings["ktk_walk"].info["events"]
        if e["label"] == "Foot Strike" and e["context"] == "Left"
    ]
    assert min(abs(shared["shared_from_s"] - t) for t in strikes) < 0.03
    grf = trial.streams[c.STREAM_GRF]
    after = (grf.time > shared["shared_from_s"]) & (grf.time < shared["stop_s"])
    for side in c.SIDES:
        assert np.isnan(grf.channel(c.grf_channel(side, "z"))[after]).all()


@pytest.mark.parametrize("name", PIG)
def test_grf_is_in_the_heading_frame(recordings: dict, converted: dict, name: str) -> None:
    trial, report, _ = converted[name]
    grf = trial.streams[c.STREAM_GRF]
    mass = recordings[name].mass_kg
    for side, medial_sign in (("l", -1.0), ("r", 1.0)):
        fz = grf.channel(c.grf_channel(side, "z"))
        fx = grf.channel(c.grf_channel(side, "x"))
        fy = grf.channel(c.grf_channel(side, "y"))
        # A full stance of this foot on a plate: the first assigned contact not cut by the crop.
        contact = next(
            e
            for e in report.contacts
            if e["foot"] == side and e["start_s"] > grf.time[0] + 0.02 and "shared_from_s" not in e
        )
        stance = (grf.time >= contact["start_s"]) & (grf.time <= contact["stop_s"])
        n = int(stance.sum())
        idx = np.flatnonzero(stance)
        early, late = idx[: int(0.4 * n)], idx[-int(0.4 * n) :]
        assert np.mean(fx[early]) < 0 < np.mean(fx[late]), "braking then propulsion along +x"
        assert medial_sign * np.mean(fy[stance]) > 0, "ground pushes the foot medially"
        peak_bw = float(np.nanmax(fz)) / (mass * 9.80665)
        assert 0.9 < peak_bw < 1.6


def test_virtual_accelerometers_are_physiological_on_real_walking(converted: dict) -> None:
    for name, (trial, _, _) in converted.items():
        acc = trial.streams[c.STREAM_ACC]
        for loc in ("pelvis", "thigh_l", "thigh_r", "shank_l", "shank_r"):
            xyz = acc.select([c.acc_channel(loc, ax) for ax in c.AXES])
            assert np.isfinite(xyz).all()
            norm = np.linalg.norm(xyz, axis=1)
            # Walking: pelvis within ~0.5-1.6 g, thigh and shank well under 4 g at 10 Hz.
            limit = 2.0 if loc == "pelvis" else 4.0
            assert norm.max() < limit * 9.81, (name, loc, norm.max())
            # Gravity dominates on average: the sensor's z axis points up along the segment.
            assert 7.0 < float(np.mean(xyz[:, 2])) < 12.0, (name, loc)
            assert abs(float(np.mean(xyz[:, 1]))) < 3.0, (name, loc)
        pelvis = acc.select([c.acc_channel("pelvis", ax) for ax in c.AXES])
        assert np.linalg.norm(pelvis.mean(axis=0)) == pytest.approx(9.81, abs=0.6)


def test_empty_file_is_refused_with_file_and_rule() -> None:
    path = C3D / "malformed" / "btk_Empty.c3d"
    with pytest.raises(RecordingError) as info:
        read_c3d(path)
    (v,) = info.value.violations
    assert v.rule == "file_empty" and v.file == str(path)
    assert "empty" in str(info.value)


def test_non_standard_parameter_section_is_refused() -> None:
    path = C3D / "malformed" / "c3dorg_bad_parameter_section.c3d"
    with pytest.raises(RecordingError) as info:
        read_c3d(path)
    (v,) = info.value.violations
    assert (v.rule, v.channel, v.file) == ("c3d_format", "parameters", str(path))
    assert "non-standard" in v.detail


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    data = (C3D / "ktk_walk.c3d").read_bytes()
    path = tmp_path / "cut.c3d"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ContractError) as info:
        read_c3d(path)
    assert info.value.rules == {"file_unreadable"}
    assert str(path) in str(info.value) and "truncated" in str(info.value)


def test_header_only_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "header.c3d"
    path.write_bytes((C3D / "ktk_walk.c3d").read_bytes()[:512])
    with pytest.raises(ContractError) as info:
        read_c3d(path)
    assert str(path) in str(info.value)
