"""Samples per foot: channel naming, mirroring, stance and window layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gaitgrf.core import contract as c
from gaitgrf.core.config import ResampleConfig, SynthConfig
from gaitgrf.core.samples import SampleSet
from gaitgrf.core.sensors import GRAVITY
from gaitgrf.core.signal import common_time_base
from gaitgrf.io.loader import load_cohort, read_trial
from gaitgrf.io.trial_file import Stream, Trial
from gaitgrf.physics import stream as physics
from gaitgrf.pipeline.resample.run import process_trial
from gaitgrf.pipeline.resample.segmentation import (
    SampleBlock,
    TrialBlock,
    body_weight_n,
    build_sample_set,
    input_plan,
    window_starts,
)
from gaitgrf.synth import generate_cohort

MASS = 70.0
ALL_CHANNELS = c.REQUIRED_ACC_CHANNELS + c.OPTIONAL_ACC_CHANNELS + c.REQUIRED_ANGLE_CHANNELS


# --- a perfectly symmetric hand-made trial -------------------------------------------------------
def symmetric_trial(duration: float = 8.0) -> Trial:
    """Right leg = left leg half a stride (0.5 s) later, mirrored in y. Stance 0.6 s of 1 s."""
    hs_left = 0.25

    def phase(t: np.ndarray, side: str) -> np.ndarray:
        return (t - hs_left - (0.5 if side == "r" else 0.0)) % 1.0

    def leg_acc(u: np.ndarray, gain: float) -> np.ndarray:
        return np.stack(
            [
                gain * np.sin(2 * np.pi * u),
                0.5 * gain * np.cos(2 * np.pi * u) + 0.3,
                GRAVITY + gain * np.sin(4 * np.pi * u + 0.4),
            ],
            axis=1,
        )

    t_acc = np.arange(0.0, duration, 1 / 200)
    acc = [
        np.stack(
            [
                np.sin(4 * np.pi * t_acc),
                0.8 * np.sin(2 * np.pi * t_acc),
                GRAVITY + np.cos(4 * np.pi * t_acc),
            ],
            axis=1,
        )
    ]
    acc_names = [c.acc_channel("pelvis", ax) for ax in c.AXES]
    for loc, gain in (("thigh", 2.0), ("shank", 4.0), ("foot", 6.0)):
        for side in c.SIDES:
            x = leg_acc(phase(t_acc, side), gain)
            if side == "r":
                x[:, 1] *= -1.0  # the right leg's lateral is -y
            acc.append(x)
            acc_names += [c.acc_channel(f"{loc}_{side}", ax) for ax in c.AXES]

    t_kin = np.arange(0.0, duration, 1 / 100)
    kin, kin_names = [], []
    for j, joint in enumerate(c.JOINTS):
        for side in c.SIDES:
            for p, plane in enumerate(c.PLANES):
                u = phase(t_kin, side)
                kin.append(10 * (j + 1) * np.sin(2 * np.pi * u + p) + 3 * p)
                kin_names.append(c.angle_channel(joint, side, plane))

    t_grf = np.arange(0.0, duration, 1 / 1000)
    weight = MASS * GRAVITY
    grf, grf_names = [], []
    for side in c.SIDES:
        s = phase(t_grf, side) / 0.6
        on = s < 1.0
        fz = np.where(on, weight * 1.1 * (np.sin(np.pi * s) + 0.2 * np.sin(3 * np.pi * s)), 0.0)
        fx = np.where(on, -0.2 * weight * np.sin(2 * np.pi * s), 0.0)
        lateral = np.where(on, weight * (0.02 - 0.06 * np.sin(np.pi * s)), 0.0)
        fy = lateral if side == "l" else -lateral
        grf += [fx, fy, fz]
        grf_names += [c.grf_channel(side, ax) for ax in c.AXES]

    def make(name, t, cols, names, unit):
        data = (
            np.column_stack(cols)
            if isinstance(cols, list) and cols[0].ndim == 1
            else (np.concatenate(cols, axis=1))
        )
        return Stream(name, 1 / (t[1] - t[0]), t, tuple(names), data, (unit,) * len(names))

    streams = {
        "acc": make("acc", t_acc, acc, acc_names, "m/s^2"),
        "kin": make("kin", t_kin, kin, kin_names, "deg"),
        "grf": make("grf", t_grf, grf, grf_names, "N"),
    }
    return Trial("SYM_walk01", "SYM", "sym", "walking", streams)


@pytest.fixture(scope="module")
def symmetric():
    trial = symmetric_trial()
    plan = input_plan(ch for s in trial.streams.values() for ch in s.channels)
    result = process_trial(trial, body_weight_n(MASS), ResampleConfig(), plan)
    return trial, plan, result


def test_a_left_and_a_right_stance_of_a_symmetric_gait_give_equal_samples(symmetric):
    _, plan, result = symmetric
    block = result.blocks["stance"]
    assert set(block.side) == {"l", "r"}
    left = np.flatnonzero((block.side == "l") & np.isclose(block.start_s, 3.25, atol=0.01))
    right = np.flatnonzero((block.side == "r") & np.isclose(block.start_s, 3.75, atol=0.01))
    assert left.size == right.size == 1
    np.testing.assert_allclose(block.duration_s[left], block.duration_s[right], atol=1e-9)
    # The recorded channels mirror exactly. The physics channels' split follows the wearable
    # event detector, which this drawn (not walked) trial does not drive symmetrically; their
    # mirroring is tested in tests/code/test_physics.py.
    recorded = [j for j, n in enumerate(plan.names) if not n.startswith("physics_")]
    np.testing.assert_allclose(
        block.inputs[left][:, recorded], block.inputs[right][:, recorded], atol=2e-4
    )
    np.testing.assert_allclose(block.targets[left], block.targets[right], atol=1e-6)
    # The lateral target of both feet is mostly medial (negative).
    assert block.targets[left, 2].mean() < 0 and block.targets[right, 2].mean() < 0


def test_mirroring_negates_accelerometer_y_only_for_right_feet(symmetric):
    _, plan, _ = symmetric
    idx = {n: k for k, n in enumerate(plan.names)}
    assert plan.sources["r"][idx["acc_shank_ipsi_y"]] == "acc_shank_r_y"
    assert plan.sources["r"][idx["acc_shank_contra_x"]] == "acc_shank_l_x"
    assert plan.sources["l"][idx["angle_knee_contra_add"]] == "angle_knee_r_add"
    assert plan.signs["r"][idx["acc_shank_ipsi_y"]] == -1.0
    assert plan.signs["r"][idx["acc_pelvis_y"]] == -1.0
    assert plan.signs["r"][idx["acc_shank_ipsi_z"]] == 1.0
    assert plan.signs["r"][idx["angle_knee_ipsi_add"]] == 1.0
    assert np.all(plan.signs["l"] == 1.0)


def test_input_plan_includes_a_location_only_when_every_trial_has_it():
    full = input_plan(ALL_CHANNELS)
    # pelvis, trunk, thigh/shank/foot x2, angles, then the Newton estimate (ipsi + total)
    assert len(full.names) == 3 + 3 + 3 * 6 + 18 + 6
    names = set(c.REQUIRED_ACC_CHANNELS + c.REQUIRED_ANGLE_CHANNELS) | {
        "acc_foot_l_x",
        "acc_foot_l_y",
        "acc_foot_l_z",
    }
    plan = input_plan(names)  # only the left foot: no foot channels at all
    assert len(plan.names) == 3 + 12 + 18 + 6
    assert not any("foot" in n for n in plan.names)
    assert plan.names[:6] == (
        "acc_pelvis_x",
        "acc_pelvis_y",
        "acc_pelvis_z",
        "acc_thigh_ipsi_x",
        "acc_thigh_ipsi_y",
        "acc_thigh_ipsi_z",
    )
    assert plan.names[-7] == "angle_ankle_contra_rot"
    assert plan.names[-6:] == physics.sample_channel_names()
    # Without the thighs' accelerometers there is no Newton estimate.
    no_thigh = input_plan(n for n in names if "thigh" not in n)
    assert not no_thigh.physics and not any(n.startswith("physics_") for n in no_thigh.names)


def test_windows_cover_the_trial_and_targets_are_zero_in_swing(symmetric):
    trial, plan, result = symmetric
    block = result.blocks["window"]
    cfg = ResampleConfig()
    grid = common_time_base(trial, cfg.rate_hz)  # 0 to 7.99 s: the kinematics end first
    n_windows = window_starts(grid.size, 100, 50).size
    assert n_windows == 15
    assert block.inputs.shape == (2 * n_windows, len(plan.names), 100)
    assert block.targets.shape == (2 * n_windows, 3, 100)
    np.testing.assert_allclose(block.duration_s, cfg.window.length_s)
    # Swing is 40 % of the stride: exactly zero force there.
    zero = np.all(block.targets == 0.0, axis=1)
    assert 0.3 < zero.mean() < 0.45
    # Same window, both feet: the pelvis y input is mirrored.
    py = plan.names.index("acc_pelvis_y")
    first_l, first_r = np.flatnonzero(block.side == "l")[0], np.flatnonzero(block.side == "r")[0]
    np.testing.assert_allclose(block.inputs[first_l, py], -block.inputs[first_r, py], atol=1e-6)


def test_window_starts():
    np.testing.assert_array_equal(window_starts(10, 4, 3), [0, 3, 6])
    assert window_starts(3, 4, 1).size == 0


# --- synthetic trials ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Trial, float]]:
    cfg = SynthConfig(
        cohort_id="seg", subjects=3, walking_trials=1, static_trials=0, trial_duration_s=6.0
    )
    root = tmp_path_factory.mktemp("raw") / cfg.cohort_id
    generate_cohort(cfg, root)
    cohort = load_cohort(root, read_trials=False)
    return [(read_trial(r), float(cohort.subject(r.subject_id)["mass_kg"])) for r in cohort.trials]


def test_stance_samples_of_synthetic_trials(synthetic):
    cfg = ResampleConfig()
    blocks = []
    for trial, mass in synthetic:
        plan = input_plan(ch for s in trial.streams.values() for ch in s.channels)
        result = process_trial(trial, body_weight_n(mass), cfg, plan)
        block = result.blocks["stance"]
        assert len(block) >= 2 * int(trial.duration_s / 1.4) - 2
        blocks.append(TrialBlock(trial.cohort_id, trial.subject_id, trial.trial_id, block))
        window = result.blocks["window"]
        assert window.inputs.shape[1:] == (len(plan.names), 100)
        assert np.isfinite(window.inputs).all() and np.isfinite(window.targets).all()
    samples = build_sample_set("stance", 101.0, plan.names, 101, blocks, {"test": True})
    n = len(samples)
    # 39 recorded channels and the 6 of the Newton estimate
    assert samples.inputs.shape == (n, 45, 101) and samples.targets.shape == (n, 3, 101)
    assert samples.static.shape == (n, 0)
    assert np.isfinite(samples.inputs).all() and np.isfinite(samples.targets).all()
    peaks = samples.targets[:, 0].max(axis=1)
    assert np.all((peaks > 0.95) & (peaks < 1.35)) and 1.0 < np.median(peaks) < 1.3
    # Stance starts and ends near the 20 N threshold, i.e. close to zero body weight (the 20 Hz
    # filter spreads the heel-strike transient a little before the raw crossing).
    assert np.abs(samples.targets[:, 0, [0, -1]]).max() < 0.2
    np.testing.assert_allclose(samples.duration_s, samples.duration_s.clip(0.4, 1.2))
    assert set(samples.side) == {"l", "r"}


def test_an_empty_sample_set_is_still_valid(tmp_path: Path):
    empty = SampleBlock.empty(5, 101)
    samples = build_sample_set(
        "stance", 101.0, tuple("abcde"), 101, [TrialBlock("c", "s", "t", empty)]
    )
    assert len(samples) == 0 and samples.inputs.shape == (0, 5, 101)
    loaded = SampleSet.load(samples.save(tmp_path / "stance.npz"))
    assert loaded.channels == tuple("abcde") and len(loaded) == 0
