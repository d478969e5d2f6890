"""Synthetic subjects whose inputs come from simulated markers through the importer.

The marker path (`gaitgrf.synth.marker_path`) must give what a lab recording of the same walk
would: joint angles and virtual accelerometers computed by the importer's own code from Plug-in
Gait markers. Checked here against the generator's truth (the direct path's angles without its
motion-capture offsets, the direct sensors' readings with their mounting undone), on the
geometry (noise-free markers put the importer's joint centres on the generator's), and on the
cohort: a mixed cohort validates, and every choice is deterministic and leaves the other draws
alone.

Tolerances, over the first subjects' first walking trial (edges of 0.3 s left out, as the
importer's filters and derivatives have edges there; docs/synthetic-cohort.md section 8):
flexion r > 0.95, error SD < 3.5 deg, offset < 6 deg (marker placement); hip adduction median
r > 0.8 (each > 0.5) and within 10 deg RMS, knee adduction within 10 deg RMS, the rotations
within 15 deg RMS, since without medial markers the segment model takes the thigh's and shank's
long-axis rotation from the pelvis (a toe-out walker's hip rotation is not seen at all).
Accelerometers (pelvis, thighs, shanks; x and z; both through the importer's 10 Hz filter):
median r > 0.9, each > 0.7 (skin artefact and jitter, differentiated twice, are what is left).
The minima leave room for subjects whose thighs turn more against the pelvis (toe-out walkers):
the importer's knee axis is the pelvis' y axis, so its knee centres and hip adduction get worse
with them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt

from gaitgrf.core import contract as c
from gaitgrf.core.config import ContractConfig, SynthConfig, ValidateConfig
from gaitgrf.ingest.segment_model.landmarks import build_body
from gaitgrf.ingest.segment_model.markers import match_markers
from gaitgrf.io.loader import load_cohort, read_trial
from gaitgrf.io.trial_file import Trial
from gaitgrf.pipeline.validate.run import validate_cohorts
from gaitgrf.synth import generate_cohort, marker_path
from gaitgrf.synth import markers as mk
from gaitgrf.synth.population import SubjectTruth, draw_subject
from gaitgrf.synth.trials import SubjectSession, open_session, simulate_trial

BASE = SynthConfig(dropout_probability=0.0, trial_duration_s=6.0, walking_trials=1)
MARKERS = BASE.model_copy(update={"marker_fraction": 1.0})
SUBJECTS = range(4)
EDGE_S = 0.3


def _pair(index: int, marker_set: str) -> tuple[SubjectSession, Trial, Trial]:
    session = open_session(draw_subject(index, BASE), BASE.seed)
    direct = simulate_trial(session, 0, "walking", "t", BASE)
    cfg = MARKERS.model_copy(update={"marker_sets": (marker_set,)})
    marked = simulate_trial(session, 0, "walking", "t", cfg)
    assert marked.extra["inputs"]["marker_set"] == marker_set
    return session, direct, marked


@pytest.fixture(scope="module", params=[mk.PLUG_IN_GAIT, mk.OPENCAP])
def pairs(request: pytest.FixtureRequest) -> list[tuple[SubjectSession, Trial, Trial]]:
    return [_pair(i, request.param) for i in SUBJECTS]


def _inner(time: np.ndarray) -> np.ndarray:
    return (time > EDGE_S) & (time < time[-1] - EDGE_S)


def test_marker_trials_say_so_and_keep_the_targets(pairs) -> None:
    for _, direct, marked in pairs:
        assert direct.extra["inputs"] == {"path": "sensors"}
        inputs = marked.extra["inputs"]
        assert inputs["path"] == "markers"
        assert inputs["importer"] == "gaitgrf.ingest.convert"
        # Only the inputs change: GRF and the generator's truth are the direct path's.
        np.testing.assert_array_equal(marked.streams["grf"].data, direct.streams["grf"].data)
        assert marked.extra["synthetic"] == direct.extra["synthetic"]
        # Markers and their streams come at the motion-capture rate, as a lab's do.
        assert marked.streams["acc"].rate_hz == BASE.rates.kinematics_hz
        assert marked.streams["acc"].channels == direct.streams["acc"].channels
        assert marked.streams["kin"].channels == direct.streams["kin"].channels


def test_joint_angles_agree_with_the_generators_truth(pairs) -> None:
    hip_add_r = []
    for session, direct, marked in pairs:
        kd, km = direct.streams["kin"], marked.streams["kin"]
        np.testing.assert_allclose(km.time, kd.time)
        sel = _inner(kd.time)
        for joint in c.JOINTS:
            for side in c.SIDES:
                for plane in c.PLANES:
                    if joint == "ankle" and plane == "add":
                        continue  # the generator does not move the foot in the frontal plane
                    name = c.angle_channel(joint, side, plane)
                    truth = (kd.channel(name) - session.mocap_offset[(joint, side, plane)])[sel]
                    got = km.channel(name)[sel]
                    err = got - truth
                    where = (session.subject.subject_id, name)
                    if plane == "flex":
                        assert np.corrcoef(got, truth)[0, 1] > 0.95, where
                        assert err.std() < 3.5 and abs(err.mean()) < 6.0, where
                        continue
                    if joint == "hip" and plane == "add":
                        hip_add_r.append(np.corrcoef(got, truth)[0, 1])
                    limit = 15.0 if plane == "rot" else 10.0
                    assert np.sqrt(np.mean(err**2)) < limit, where
    assert np.median(hip_add_r) > 0.8 and min(hip_add_r) > 0.5


def _lowpass(x: np.ndarray, rate_hz: float) -> np.ndarray:
    return np.asarray(sosfiltfilt(butter(4, 10.0, fs=rate_hz, output="sos"), x, axis=0))


def test_virtual_accelerometers_agree_with_the_direct_sensors(pairs) -> None:
    found = []
    for session, direct, marked in pairs:
        ad, am = direct.streams["acc"], marked.streams["acc"]
        filtered = _lowpass(ad.data, ad.rate_hz)
        sel = _inner(am.time)
        for loc in ("pelvis", "thigh_l", "thigh_r", "shank_l", "shank_r"):
            cols = [ad.channels.index(c.acc_channel(loc, ax)) for ax in c.AXES]
            # The direct sensor is mounted slightly askew; a virtual one sits on the segment axes.
            aligned = filtered[:, cols] @ session.mounts[loc].T
            for k, ax in enumerate(c.AXES):
                if ax == "y":
                    continue
                ref = np.interp(am.time, ad.time, aligned[:, k])[sel]
                got = am.channel(c.acc_channel(loc, ax))[sel]
                found.append(float(np.corrcoef(ref, got)[0, 1]))
    assert np.median(found) > 0.9
    assert min(found) > 0.7


def _clean(placement: mk.Placement, height_m: float) -> mk.Placement:
    """The same subject with markers exactly on their landmarks: no offset, no skin motion,
    an average adult's joint widths (the importer's defaults at 1.75 m), measured exactly."""
    widths = mk.typical_widths(height_m)
    return replace(
        placement,
        offset_m={k: 0 * v for k, v in placement.offset_m.items()},
        artefact={k: 0 * v for k, v in placement.artefact.items()},
        widths_m=widths,
        true_widths_m=widths,
    )


@pytest.mark.parametrize(
    ("marker_set", "use_sacrum"),
    [(mk.PLUG_IN_GAIT, False), (mk.PLUG_IN_GAIT, True), (mk.OPENCAP, False)],
)
def test_noise_free_markers_put_the_importers_joint_centres_on_the_generators(
    marker_set: str, use_sacrum: bool
) -> None:
    """Harrington's hip (or OpenCap's exported one), Plug-in Gait's knee and ankle rule (with
    the lab's widths, or the importer's defaults) read the markers back."""
    subject = draw_subject(2, BASE)
    sim = _simulated(subject)
    placement = replace(
        _clean(mk.draw_placement(subject.height_m, np.random.default_rng(0)), subject.height_m),
        use_sacrum=use_sacrum,
    )
    pelvis = marker_path.pelvis_path(sim, subject)
    paths = mk.marker_paths(sim.motion, pelvis, sim.legs, subject.height_m, placement, marker_set)
    assert set(paths) == set(mk.MARKER_SETS[marker_set].values()) - (
        {"LPSI", "RPSI"} if use_sacrum else {"SACR"}
    )
    mapping, missing = match_markers(paths)
    assert not missing
    widths = placement.widths_m if marker_set == mk.PLUG_IN_GAIT else None
    body = build_body(paths, mapping, widths)
    np.testing.assert_allclose(body.points["sacrum"], pelvis, atol=0.01)
    for side in c.SIDES:
        hip = pelvis + sim.motion.points[f"hip_{side}"]
        np.testing.assert_allclose(body.points[f"hip_{side}"], hip, atol=0.001)
        # The width rule offsets along the pelvis' y axis, not the thigh's: a few mm off.
        for joint in ("knee", "ankle"):
            truth = pelvis + sim.motion.points[f"{joint}_{side}"]
            err = np.linalg.norm(body.points[f"{joint}_{side}"] - truth, axis=1)
            assert np.percentile(err, 95) < 0.02, (joint, side)


def _simulated(subject: SubjectTruth) -> marker_path.TrialMotion:
    """One walking trial's motion, caught as simulate_trial hands it to the marker path."""
    caught: list[marker_path.TrialMotion] = []
    original = marker_path.choose_inputs

    def spy(trial: Trial, sim: marker_path.TrialMotion, *args: Any) -> Trial:
        caught.append(sim)
        return original(trial, sim, *args)

    session = open_session(subject, BASE.seed)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(marker_path, "choose_inputs", spy)
        simulate_trial(session, 0, "walking", "t", BASE)
    return caught[0]


def test_the_choice_is_per_subject_and_leaves_other_draws_alone() -> None:
    half = BASE.model_copy(update={"marker_fraction": 0.5})
    chosen = [marker_path.uses_markers(half, i) for i in range(40)]
    assert 10 < sum(chosen) < 30
    assert not any(marker_path.uses_markers(BASE, i) for i in range(40))
    assert all(marker_path.uses_markers(MARKERS, i) for i in range(40))
    assert not any(draw_subject(i, half) != draw_subject(i, BASE) for i in range(5))
    for index in range(4):
        session = open_session(draw_subject(index, BASE), BASE.seed)
        trial = simulate_trial(session, 0, "walking", "t", half)
        plain = simulate_trial(session, 0, "walking", "t", BASE)
        path = trial.extra["inputs"]["path"]
        assert path == ("markers" if chosen[index] else "sensors")
        for name, stream in trial.streams.items():
            same = np.array_equal(stream.data, plain.streams[name].data, equal_nan=True)
            assert same == (name == "grf" or path == "sensors"), (index, name)


def test_marker_trials_are_deterministic() -> None:
    session = open_session(draw_subject(1, BASE), BASE.seed)
    for trial_index, kind in ((0, "walking"), (1, "static")):
        a = simulate_trial(session, trial_index, kind, "t", MARKERS)
        b = simulate_trial(session, trial_index, kind, "t", MARKERS)
        assert a.extra == b.extra
        for name in a.streams:
            np.testing.assert_array_equal(a.streams[name].data, b.streams[name].data)
    walk = simulate_trial(session, 0, "walking", "t", MARKERS)
    other = MARKERS.model_copy(update={"seed": BASE.seed + 1})
    moved = simulate_trial(
        open_session(draw_subject(1, other), other.seed), 0, "walking", "t", other
    )
    assert not np.array_equal(moved.streams["kin"].data, walk.streams["kin"].data)


MIXED = SynthConfig(
    cohort_id="mixed",
    subjects=8,
    walking_trials=1,
    static_trials=1,
    trial_duration_s=4.0,
    marker_fraction=0.5,
    marker_sets=("plug_in_gait", "opencap"),
)


def test_a_mixed_cohort_generates_and_validates(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    generate_cohort(MIXED, raw / MIXED.cohort_id, workers=2)
    cohort = load_cohort(raw / MIXED.cohort_id, ContractConfig())
    trials = [read_trial(ref) for ref in cohort.trials]
    paths = {t.trial_id: t.extra["inputs"]["path"] for t in trials}
    assert set(paths.values()) == {"markers", "sensors"}
    sets = {t.extra["inputs"].get("marker_set") for t in trials}
    assert sets == {None, mk.PLUG_IN_GAIT, mk.OPENCAP}
    for trial in trials:  # a subject's trials all take the same path
        assert paths[trial.trial_id] == paths[f"{trial.subject_id}_walk01"]
    summary = validate_cohorts(
        raw, tmp_path / "validated", tmp_path / "reports", ContractConfig(), ValidateConfig()
    )
    assert summary.quarantined_trials == {}
    assert summary.passed == len(trials)
