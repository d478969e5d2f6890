"""Gait timing and force model of the synthetic generator (property-based where it matters)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaitgrf.core.config import SynthConfig
from gaitgrf.core.sensors import GRAVITY
from gaitgrf.synth import gait
from gaitgrf.synth.population import GROUPS, SubjectTruth, draw_subject


def subject(
    mass: float = 70.0, height: float = 1.75, hka: float = -1.0, side: str = "none"
) -> SubjectTruth:
    return SubjectTruth(
        subject_id="S001",
        index=0,
        group="healthy" if side == "none" else "knee_oa",
        sex="female",
        age_years=40.0,
        mass_kg=mass,
        height_m=height,
        hka_deg={"l": hka, "r": -1.0},
        affected_side=side,
        alignment_recorded=True,
        speed_mps=1.3,
        accelerometer_hz=148.148,
    )


def simulate(subj: SubjectTruth, speed: float, seed: int = 0, duration: float = 12.0):
    rng = np.random.default_rng(seed)
    t = np.arange(-1.0, duration + 1.0, 1e-3)
    steps = gait.plan_steps(subj, speed, t[0], t[-1], rng)
    return t, steps, gait.walking_forces(t, steps, subj, speed, rng)


@settings(max_examples=25, deadline=None)
@given(
    mass=st.floats(40, 130),
    height=st.floats(1.5, 2.0),
    speed=st.floats(0.7, 1.7),
    hka=st.floats(-15, 10),
    side=st.sampled_from(["none", "left"]),
)
def test_stride_mean_vertical_force_is_body_weight(mass, height, speed, hka, side) -> None:
    """Balance: over whole strides the feet carry exactly the body's weight."""
    subj = subject(mass, height, hka, side)
    t, steps, forces = simulate(subj, speed)
    total = forces.grf["l"][:, 2] + forces.grf["r"][:, 2]
    hs = steps.heel_strikes["l"]
    first, last = hs[hs > 0.5][0], hs[hs < 10.5][-1]
    window = (t >= first) & (t < last)
    assert total[window].mean() / (mass * GRAVITY) == pytest.approx(1.0, abs=0.01)


@settings(max_examples=25, deadline=None)
@given(speed=st.floats(0.7, 1.7), seed=st.integers(0, 1000))
def test_forces_vanish_in_swing_and_stay_physical(speed: float, seed: int) -> None:
    _t, _steps, forces = simulate(subject(), speed, seed)
    for side in ("l", "r"):
        f = forces.grf[side]
        swing = ~forces.in_stance[side]
        assert np.all(f[swing] == 0.0)
        assert np.all(f[:, 2] >= 0.0)  # the ground pushes, never pulls
        assert np.all(np.isnan(forces.cop[side][swing]))


@settings(max_examples=20, deadline=None)
@given(speed=st.floats(0.7, 1.7))
def test_every_stance_has_zero_net_anterior_posterior_impulse(speed: float) -> None:
    """Steady walking: braking and propulsion cancel (the heel-strike transient aside)."""
    subj = subject()
    t, steps, forces = simulate(subj, speed)
    fx = forces.grf["l"][:, 0] - forces.impact["l"][:, 0]
    k, _ = gait.stance_index(t, steps.heel_strikes["l"], steps.toe_offs["l"])
    weight = subj.mass_kg * GRAVITY
    for stance in np.unique(k[(k >= 0) & (t > 0.5) & (t < 10.5)]):
        sel = k == stance
        braking = -fx[sel][fx[sel] < 0].sum() * 1e-3
        assert abs(fx[sel].sum() * 1e-3) < 0.02 * braking + 1e-3 * weight


def test_peaks_grow_and_stance_shortens_with_speed() -> None:
    subj = subject()
    peaks, stances = [], []
    for speed in (0.9, 1.3, 1.7):
        _, steps, forces = simulate(subj, speed)
        peaks.append(forces.grf["l"][:, 2].max() / (subj.mass_kg * GRAVITY))
        stances.append(np.median(steps.toe_offs["l"] - steps.heel_strikes["l"]))
    assert peaks[0] < peaks[1] < peaks[2]
    assert stances[0] > stances[1] > stances[2]


def test_varus_alignment_raises_medial_force() -> None:
    neutral = simulate(subject(hka=0.0), 1.2, seed=3)[2].grf["l"][:, 1]
    varus = simulate(subject(hka=-12.0), 1.2, seed=3)[2].grf["l"][:, 1]
    # Left foot: medial is -y.
    assert varus.min() < neutral.min() * 1.2


def test_affected_side_has_lower_first_peak() -> None:
    subj = subject(hka=-12.0, side="left")
    t, steps, forces = simulate(subj, 1.1)
    first = {}
    for side in ("l", "r"):
        k, s = gait.stance_index(t, steps.heel_strikes[side], steps.toe_offs[side])
        fz = forces.grf[side][:, 2]
        first[side] = np.median(
            [fz[(k == j) & (s < 0.5)].max() for j in np.unique(k[(k >= 0) & (t > 1) & (t < 10)])]
        )
    assert first["l"] < first["r"]


def test_subjects_are_deterministic_and_independent_of_cohort_size() -> None:
    small = [draw_subject(i, SynthConfig(subjects=5)) for i in range(5)]
    large = [draw_subject(i, SynthConfig(subjects=50)) for i in range(5)]
    assert small == large
    other_seed = [draw_subject(i, SynthConfig(subjects=5, seed=1)) for i in range(5)]
    assert small != other_seed


def test_population_mix_follows_config() -> None:
    cfg = SynthConfig(subjects=400)
    people = [draw_subject(i, cfg) for i in range(400)]
    groups = {g: sum(p.group == g for p in people) / 400 for g in GROUPS}
    assert groups["healthy"] == pytest.approx(0.45, abs=0.07)
    oa = [p for p in people if p.group == "knee_oa"]
    varus = [p.hka_deg[p.affected] for p in oa if p.hka_deg[p.affected] < 0]
    valgus = [p.hka_deg[p.affected] for p in oa if p.hka_deg[p.affected] > 0]
    assert min(varus) >= -15.0 and len(valgus) > 0.1 * len(oa)
    assert all(p.affected_side == "none" for p in people if p.group == "healthy")
    assert all(p.affected_side in ("left", "right") for p in people if p.group != "healthy")
    healthy_speed = np.mean([p.speed_mps for p in people if p.group == "healthy"])
    oa_speed = np.mean([p.speed_mps for p in oa])
    assert healthy_speed - oa_speed > 0.15
