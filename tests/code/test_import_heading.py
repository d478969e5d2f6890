"""The heading frame follows the walker through turns and curves (issue 14).

A trial's forces are read in the walking direction of each sample, measured from the pelvis
displacement over one stride. On a curved path the anterior-posterior and medio-lateral GRF
must match the walker's own frame, where one heading for the whole trial mixes them; on the
straight shared recordings the result must stay what the single heading gave.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from curved_path import carry_round_arc, write_table
from hypothesis import given, settings
from hypothesis import strategies as st

from gaitgrf.core import contract as c
from gaitgrf.core.sensors import GRAVITY
from gaitgrf.ingest import convert
from gaitgrf.ingest.convert import convert_recording, read_recording
from gaitgrf.ingest.formats.recording import Recording
from gaitgrf.ingest.formats.tabular import read_table
from gaitgrf.ingest.marker_frame import TrialMarkers, heading
from gaitgrf.ingest.options import ImportOptions
from gaitgrf.ingest.segment_model.cleaning import true_runs
from gaitgrf.ingest.segment_model.frames import heading_yaw, stride_period, turn
from gaitgrf.ingest.segment_model.markers import MarkerMap
from gaitgrf.io.trial_file import Trial
from gaitgrf.serving.inputs import read_input

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
IDS = {"trial_id": "T", "subject_id": "S", "cohort_id": "heading"}
#: Body mass (kg) that scales the tolerances: the recording's, else docs/importing.md section 8.
MASS_KG = {"opensim": 60.05, "c3dorg_Eb015pi": 82.7}
SHARED_FILES = [
    *(f"opensim/Subject4/{n}.trc" for n in ("static1", "walking1", "walking2", "walking4")),
    "opensim/Subject4/walkingTI1.trc",  # toe-in
    "opensim/Subject4/walkingTO1.trc",  # toe-out
    *(f"c3d/{n}.c3d" for n in ("btk_PiG_Motion-FlatFoot-Full", "btk_FunctionalWalk")),
    "c3d/ktk_walk.c3d",
    "c3d/c3dorg_Eb015pi.c3d",  # cluster-only marker set
]
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"no shared data at {SHARED}")


def single_heading(rec: Recording, monkeypatch: pytest.MonkeyPatch) -> Trial:
    """The trial as the importer made it before issue 14: one heading for the whole trial."""
    with monkeypatch.context() as patch:
        patch.setattr(
            convert,
            "heading_over_time",
            lambda markers_h, *_: (np.zeros(len(next(iter(markers_h.values())))), None),
        )
        trial, _, _ = convert_recording(rec, **IDS)
    return trial


def body_weight(rec: Recording, path: str) -> float:
    mass = rec.mass_kg or MASS_KG.get(Path(path).stem) or MASS_KG["opensim"]
    return mass * GRAVITY


def stances(trial: Trial, side: str) -> list[tuple[int, int]]:
    """[start, stop) GRF samples of each stance of one foot (vertical force above 20 N)."""
    fz = trial.streams[c.STREAM_GRF].channel(c.grf_channel(side, "z"))
    return [(a, b) for a, b in true_runs(np.nan_to_num(fz) > 20.0) if b - a > 10]


def stance_fit(trial: Trial, truth: Trial, axis: str) -> tuple[float, float]:
    """Worst per-stance correlation with the truth, and the largest difference (N)."""
    worst_r, worst_d = 1.0, 0.0
    grf, true_grf = trial.streams[c.STREAM_GRF], truth.streams[c.STREAM_GRF]
    for side in c.SIDES:
        got = np.interp(true_grf.time, grf.time, grf.channel(c.grf_channel(side, axis)))
        want = true_grf.channel(c.grf_channel(side, axis))
        for a, b in stances(truth, side):
            ok = np.isfinite(got[a:b]) & np.isfinite(want[a:b])
            assert ok.sum() > 10, f"stance {side} {a}-{b} lost"
            worst_r = min(worst_r, float(np.corrcoef(got[a:b][ok], want[a:b][ok])[0, 1]))
            worst_d = max(worst_d, float(np.max(np.abs(got[a:b][ok] - want[a:b][ok]))))
    return worst_r, worst_d


# --- curved paths --------------------------------------------------------------------------
#: (recording, radius m (> 0 left), fraction walked straight first): 65-140 deg of turn.
ARCS = [
    ("btk_FunctionalWalk", 1.5, 0.3),
    ("btk_FunctionalWalk", -1.2, 0.5),
    ("btk_PiG_Motion-FlatFoot-Full", -1.5, 0.0),
    ("ktk_walk", -1.2, 0.3),
    ("ktk_walk", 1.5, 0.0),
]


@needs_shared
@pytest.mark.parametrize(("name", "radius_m", "straight"), ARCS)
def test_curved_path_gives_the_walkers_own_ap_and_ml(
    name: str, radius_m: float, straight: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = read_recording(SHARED / "c3d" / f"{name}.c3d")
    truth, _, _ = convert_recording(rec, **IDS)  # the straight walk: its own frame
    bent, theta = carry_round_arc(rec, radius_m, straight)
    trial, report, _ = convert_recording(bent, **IDS)
    bw = body_weight(rec, name)
    for axis in ("x", "y"):
        r, diff = stance_fit(trial, truth, axis)
        assert r > 0.95, (axis, r)
        assert diff < 0.03 * bw, (axis, diff / bw)
    # Vertical force and the feet on the plates are untouched by the turn.
    assert stance_fit(trial, truth, "z")[1] < 0.005 * bw
    assert [e["foot"] for e in report.contacts] == [
        e["foot"] for e in convert_recording(rec, **IDS)[1].contacts
    ]
    # The written walking direction follows the path's turn (plus the straight walk's own), up
    # to the constant angle between the two trials' reference headings, wherever a one-stride
    # window fits (the first and last half strides continue the turn rate: no check there).
    kin_time = trial.streams[c.STREAM_KIN].time
    path_deg = np.degrees(np.interp(kin_time, rec.marker_time, theta))
    path_deg += np.asarray(truth.extra["heading_yaw_deg"])
    off = np.asarray(trial.extra["heading_yaw_deg"]) - path_deg
    half = round(0.5 * trial.extra["heading_stride_s"] * rec.marker_rate_hz)
    off = off[half:-half]
    # On a circle it is the tangent; where a straight walk enters the circle the window spreads
    # the kink over a stride.
    assert np.max(np.abs(off - np.median(off))) < (1.5 if straight == 0 else 8.0)
    # One heading for the whole trial mixes AP into ML: r falls far below.
    r_single, diff_single = stance_fit(single_heading(bent, monkeypatch), truth, "y")
    assert r_single < 0.85 and diff_single > 0.04 * bw, (r_single, diff_single / bw)


@needs_shared
def test_inference_reads_a_curved_recording_in_the_same_frame(tmp_path: Path) -> None:
    """`gaitgrf predict` converts through the importer: the same turning frame."""
    rec = read_recording(SHARED / "c3d" / "btk_FunctionalWalk.c3d")
    # The straight walk through the same route (a table: plates on the markers' clock).
    truth = read_input(write_table(rec, tmp_path / "straight", up="+z")).trial
    bent, _ = carry_round_arc(rec, 1.5, 0.3)
    table = write_table(bent, tmp_path / "P01", up="+z")
    loaded = read_input(table)
    imported, _, _ = convert_recording(read_table(table, tmp_path / "P01" / "mapping.yaml"), **IDS)
    grf, ref = loaded.trial.streams[c.STREAM_GRF], imported.streams[c.STREAM_GRF]
    np.testing.assert_array_equal(grf.data, ref.data)
    assert loaded.trial.extra["heading_yaw_deg"] == imported.extra["heading_yaw_deg"]
    assert np.ptp(loaded.trial.extra["heading_yaw_deg"]) > 90.0
    for axis in ("x", "y"):
        r, diff = stance_fit(loaded.trial, truth, axis)
        assert r > 0.95 and diff < 0.03 * body_weight(rec, "btk_FunctionalWalk"), (axis, r, diff)


# --- straight recordings ------------------------------------------------------------------
@needs_shared
@pytest.mark.parametrize("path", SHARED_FILES, ids=lambda p: Path(p).stem)
def test_straight_recordings_keep_the_single_heading_result(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within 1.5 % BW of the single heading (largest seen: 1.1 %, c3dorg_Eb015pi, ML); the
    accelerometers and joint angles do not depend on the heading at all."""
    rec = read_recording(SHARED / path)
    trial, report, _ = convert_recording(rec, **IDS)
    before = single_heading(rec, monkeypatch)
    new, old = trial.streams[c.STREAM_GRF], before.streams[c.STREAM_GRF]
    np.testing.assert_array_equal(np.isnan(new.data), np.isnan(old.data))
    diff = np.nan_to_num(np.abs(new.data - old.data))
    force = [i for i, ch in enumerate(new.channels) if ch.startswith("grf_")]
    assert diff[:, force].max() < 0.015 * body_weight(rec, path)
    cop = [i for i, ch in enumerate(new.channels) if ch.startswith("cop_")]
    assert diff[:, cop].max() < 0.012  # m: each contact's COP path turns about its mean point
    clusters = "Eb015pi" in path  # the cluster pelvis' x is the walking direction
    for stream in (c.STREAM_ACC, c.STREAM_KIN):
        np.testing.assert_allclose(
            trial.streams[stream].data, before.streams[stream].data, atol=0.1 if clusters else 0
        )
    yaw = np.asarray(trial.extra["heading_yaw_deg"])
    assert yaw.size == trial.streams[c.STREAM_KIN].time.size
    assert trial.extra["heading_rotation"] == before.extra["heading_rotation"]
    if trial.kind == "static":
        assert not yaw.any() and trial.extra["heading_stride_s"] is None
    else:
        assert np.ptp(yaw) < (25.0 if clusters else 10.0)
        # Both feet on the plates (toe-in and toe-out included); Eb015pi: the right foot only.
        feet = {e["foot"] for e in report.contacts if e["foot"]}
        assert feet == ({"r"} if clusters else {"l", "r"})


# --- the direction over time, on its own ------------------------------------------------------
def _walk(radius_m: float, speed: float, stride_s: float, sway_m: float, rate: float = 100.0):
    """Pelvis on a circle (or straight, radius inf) with a side-to-side sway of one stride's
    period and a forward surge twice a stride; and the feet passing each other every step."""
    t = np.arange(0.0, 4.0 * stride_s, 1.0 / rate)
    s = speed * t + 0.02 * np.sin(4 * np.pi * t / stride_s)
    theta = np.zeros_like(s) if np.isinf(radius_m) else s / radius_m
    centre = (
        np.stack([s, np.zeros_like(s)], 1)
        if np.isinf(radius_m)
        else radius_m * np.stack([np.sin(theta), 1 - np.cos(theta)], 1)
    )
    left = np.stack([-np.sin(theta), np.cos(theta)], 1)
    ahead = np.stack([np.cos(theta), np.sin(theta)], 1)
    pelvis = centre + (sway_m * np.sin(2 * np.pi * t / stride_s))[:, None] * left
    lead = (0.35 * np.sin(2 * np.pi * t / stride_s))[:, None] * ahead
    feet = (pelvis + lead + 0.1 * left, pelvis - lead - 0.1 * left)
    return pelvis, feet, theta, rate


@settings(max_examples=40, deadline=None)
@given(
    radius=st.one_of(st.just(np.inf), st.floats(1.5, 20.0), st.floats(-20.0, -1.5)),
    speed=st.floats(0.6, 1.8),
    stride=st.floats(0.9, 1.4),
    sway=st.floats(0.0, 0.04),
)
def test_heading_yaw_follows_the_path_and_ignores_the_sway(
    radius: float, speed: float, stride: float, sway: float
) -> None:
    pelvis, feet, theta, rate = _walk(radius, speed, stride, sway)
    found = stride_period(pelvis, feet, rate)
    assert found is not None and abs(found - stride) < 0.03
    yaw = heading_yaw(pelvis, rate, found)
    half = round(0.5 * found * rate)
    inner = slice(half, len(yaw) - half)
    # Sway and surge of one stride cancel over a one-stride window; the turn is followed.
    assert np.max(np.abs(np.degrees(yaw[inner] - theta[inner]))) < 1.0
    assert np.max(np.abs(np.degrees(yaw - theta))) < 3.0  # ends: the turn rate continued
    if np.isinf(radius):
        assert np.max(np.abs(np.degrees(yaw))) < 0.5


def test_too_short_or_no_stride_keeps_one_heading() -> None:
    pelvis, feet, _, rate = _walk(2.0, 1.2, 1.1, 0.02)
    n = round(0.9 * 1.1 * rate)  # less than a stride
    assert not heading_yaw(pelvis[:n], rate, 1.1).any()
    assert stride_period(pelvis[:40], (feet[0][:40], feet[1][:40]), rate) is None


def test_turn_reads_a_vector_along_the_walking_direction_as_anterior() -> None:
    yaw = np.radians([0.0, 30.0, 90.0, -120.0])
    along = np.stack([np.cos(yaw), np.sin(yaw)], 1) * 2.0
    np.testing.assert_allclose(turn(along, yaw), [[2.0, 0.0]] * 4, atol=1e-12)
    leftward = np.stack([-np.sin(yaw), np.cos(yaw)], 1)
    np.testing.assert_allclose(turn(leftward, yaw), [[0.0, 1.0]] * 4, atol=1e-12)


def test_there_and_back_is_walking_not_standing() -> None:
    """The pelvis ends where it started, but went 3 m out: a walk, heading the way out."""
    t = np.arange(0.0, 6.0, 0.01)
    x = 3.0 * np.sin(np.pi * t / 6.0)  # out along -y of the lab, then back
    asis = {
        "LASI": np.stack([0.12 + 0 * t, -x, 0.9 + 0 * t], 1),
        "RASI": np.stack([-0.12 + 0 * t, -x, 0.9 + 0 * t], 1),
    }
    mapping = MarkerMap({("asis", "l"): "LASI", ("asis", "r"): "RASI"}, {})
    rec = Recording("walk.c3d", 100.0, t, asis, (), lab_up=np.array([0.0, 0.0, 1.0]))
    markers = TrialMarkers(mapping, asis, 0, t.size, t, [], [])
    rot, kind = heading(rec, markers, (), None, ImportOptions())
    assert kind == "walking"
    np.testing.assert_allclose(rot[0], [0.0, -1.0, 0.0], atol=1e-9)
