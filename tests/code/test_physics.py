"""The Newton prior: segment chain, split rule and the estimate on synthetic walkers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaitgrf.core import contract as c
from gaitgrf.core.config import ResampleConfig, SynthConfig, VariationConfig
from gaitgrf.core.sensors import GRAVITY, segment_rotation
from gaitgrf.ingest.segment_model.frames import Body, joint_angles
from gaitgrf.physics.newton import total_force_bw
from gaitgrf.physics.segments import SENSOR_MASS, gravity_tilt
from gaitgrf.physics.split import contact_stances, left_share
from gaitgrf.physics.stream import baseline_forces
from gaitgrf.pipeline.evaluate.metrics import component_metrics
from gaitgrf.pipeline.resample.run import process_trial
from gaitgrf.pipeline.resample.segmentation import body_weight_n, input_plan
from gaitgrf.synth.population import draw_subject
from gaitgrf.synth.trials import open_session, simulate_trial

UP = np.array([0.0, 0.0, GRAVITY])
angle = st.floats(-0.6, 0.6)


def test_the_mass_fractions_cover_the_whole_body():
    assert sum(SENSOR_MASS.values()) == pytest.approx(1.0, abs=1e-9)


@given(pitch=angle, roll=st.floats(-0.3, 0.3))
def test_gravity_tilt_maps_a_still_sensor_onto_up(pitch, roll):
    rotation = segment_rotation(np.float64(pitch), np.float64(roll), np.float64(0.0))
    reading = rotation.T @ UP
    np.testing.assert_allclose(gravity_tilt(reading) @ reading, UP, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(angle, min_size=20, max_size=20))
def test_a_still_body_in_any_pose_weighs_one_body_weight(values):
    """Segments posed at random, joint angles read off them as the importer reads them: the
    estimate must rebuild every orientation, or gravity leaks into the horizontal components."""
    v = iter(values)
    pelvis = segment_rotation(np.float64(next(v)), np.float64(0.5 * next(v)), np.float64(0.0))
    rotations = {"pelvis": pelvis[None]}
    for side in c.SIDES:
        for seg in ("thigh", "shank", "foot"):
            rotations[f"{seg}_{side}"] = segment_rotation(
                np.float64(next(v)), np.float64(0.3 * next(v)), np.float64(0.3 * next(v))
            )[None]
    body = Body(points={}, rotations=rotations, methods={})
    angles = joint_angles(body)
    readings = {"pelvis": (pelvis.T @ UP)[None]}
    for side in c.SIDES:
        for seg in ("thigh", "shank"):
            readings[f"{seg}_{side}"] = (rotations[f"{seg}_{side}"][0].T @ UP)[None]
    total = total_force_bw(readings, angles)
    np.testing.assert_allclose(total[0], [0.0, 0.0, 1.0], atol=1e-9)


def _gait(stride=1.0, stance=0.62, n_strides=5):
    """Alternating stances: left heel strikes at k * stride, right half a stride later."""
    left = np.array([[k * stride, k * stride + stance * stride] for k in range(n_strides)])
    return {"l": left, "r": left + 0.5 * stride}


def test_single_support_gives_the_standing_foot_everything():
    stances = _gait()
    t = np.array([0.3, 0.8, 1.3])  # left alone, right alone, left alone
    np.testing.assert_allclose(left_share(t, stances), [1.0, 0.0, 1.0])


@given(u=st.floats(0.0, 0.99))
def test_double_support_moves_the_load_smoothly_to_the_leading_foot(u):
    stances = _gait()
    start, end = 1.5, 1.62  # right heel strike ... left toe off: left trails
    share = left_share(np.array([start + u * (end - start)]), stances)[0]
    assert share == pytest.approx(np.exp(-((2 * u) ** 3)), abs=1e-9)
    assert 0.0 <= share <= 1.0


def test_shares_are_continuous_across_the_whole_gait():
    t = np.linspace(0.0, 4.5, 4501)
    share = left_share(t, _gait())
    assert np.abs(np.diff(share)).max() < 0.05


def test_stances_cut_by_the_recording_are_kept():
    rows = contact_stances(np.array([0.5]), np.array([0.2, 1.1]), (0.0, 1.6), (0.25, 1.6))
    np.testing.assert_allclose(rows, [[0.0, 0.2], [0.5, 1.1]])
    rows = contact_stances(np.array([0.5, 1.4]), np.array([1.1]), (0.0, 1.8), (0.25, 1.6))
    np.testing.assert_allclose(rows, [[0.5, 1.1], [1.4, 1.8]])
    # A stance the step rule refuses (too short) is no contact.
    assert contact_stances(np.array([0.5]), np.array([0.6]), (0.0, 2.0), (0.25, 1.6)).size == 0


@pytest.fixture(scope="module")
def synthetic_stances():
    # No stiff-knee walkers: the split runs on wearable events, and the detector still misses
    # some of a stiff knee's heel strikes (docs/synthetic-cohort.md, section 10). This test
    # bounds the physics, not the detector.
    cfg = SynthConfig(variation=VariationConfig(stiff_knee_fraction=0.0))
    blocks = []
    for index in range(3):
        subject = draw_subject(index, cfg)
        trial = simulate_trial(open_session(subject, cfg.seed), 0, "walking", "synth", cfg)
        plan = input_plan(ch for s in trial.streams.values() for ch in s.channels)
        result = process_trial(trial, body_weight_n(subject.mass_kg), ResampleConfig(), plan)
        blocks.append(result.blocks["stance"])
    return plan, blocks


def test_the_baseline_follows_synthetic_walkers(synthetic_stances):
    """The generator obeys Newton, so the estimate (no learning, wearable split) must follow
    the plates: the bound is the split rule's and the pelvis-for-HAT approximation's error."""
    plan, blocks = synthetic_stances
    inputs = np.concatenate([b.inputs for b in blocks])
    targets = np.concatenate([b.targets for b in blocks])
    m = component_metrics(targets, baseline_forces(inputs, plan.names))
    assert m["vertical_r"] > 0.85 and m["vertical_rrmse"] < 20.0
    assert m["anterior_r"] > 0.75


def test_right_feet_see_their_lateral_estimate_mirrored(synthetic_stances):
    """Lateral is positive away from the midline for both feet: the estimate's mean lateral
    force of left and right stances has the same sign, as the targets' does."""
    plan, blocks = synthetic_stances
    inputs = np.concatenate([b.inputs for b in blocks])
    side = np.concatenate([b.side for b in blocks])
    total_y = inputs[:, plan.names.index("physics_total_y")].mean(axis=1)
    ipsi_y = inputs[:, plan.names.index("physics_ipsi_y")].mean(axis=1)
    targets = np.concatenate([b.targets for b in blocks])[:, 2].mean(axis=1)
    assert np.sign(targets[side == "l"].mean()) == np.sign(targets[side == "r"].mean())
    assert np.isfinite(total_y).all() and np.isfinite(ipsi_y).all()


def test_the_evaluation_row_scores_the_same_samples_as_the_networks(synthetic_stances, tmp_path):
    from dataclasses import replace

    from gaitgrf.pipeline.evaluate.physics_row import physics_baseline, physics_line
    from gaitgrf.pipeline.evaluate.report import fmt
    from gaitgrf.pipeline.fuse.features import select_channels
    from gaitgrf.pipeline.resample.segmentation import TrialBlock, build_sample_set

    plan, blocks = synthetic_stances
    trial_blocks = [TrialBlock("synth", f"S{k}", f"S{k}_walk01", b) for k, b in enumerate(blocks)]
    resampled = build_sample_set("stance", 101.0, plan.names, 101, trial_blocks)
    path = resampled.save(tmp_path / "stance.npz")
    fused = select_channels(resampled, ("pelvis", "thigh", "shank"), ("hip_flex", "knee_flex"))
    index = np.arange(0, len(fused), 2)
    row = physics_baseline(path, fused, index)
    expected = component_metrics(
        resampled.targets[index], baseline_forces(resampled.inputs[index], resampled.channels)
    )
    assert row["available"] and row["samples"] == index.size
    assert row["vertical_r"] == pytest.approx(expected["vertical_r"])
    assert "physics (Newton" in physics_line(row, fmt)[0]
    # Samples in another order are refused, not scored against the wrong targets.
    shuffled = replace(fused, trial_id=fused.trial_id[::-1].copy())
    assert physics_baseline(path, shuffled, index)["available"] is False
    assert (
        "not available" in physics_line(physics_baseline(tmp_path / "no.npz", fused, index), fmt)[1]
    )
