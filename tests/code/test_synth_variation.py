"""Domain randomisation of the synthetic cohort (docs/synthetic-cohort.md, "Variation").

Each variation must stay inside the data contract and the literature's ranges, obey Newton like
the rest of the generator, and leave every existing draw of a subject where it was.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from pydantic import ValidationError

from gaitgrf.core import contract as c
from gaitgrf.core.config import SynthConfig, VariationConfig
from gaitgrf.core.sensors import GRAVITY, GRAVITY_VECTOR, segment_angles
from gaitgrf.synth import gait, kinematics
from gaitgrf.synth.newton import body_accelerations
from gaitgrf.synth.population import SubjectTruth, draw_subject
from gaitgrf.synth.trials import open_session, simulate_trial
from gaitgrf.synth.variation import WalkPattern

OFF = VariationConfig(
    child_fraction=0.0, older_fraction=0.0, speed_condition_fraction=0.0, antalgic_fraction=0.0
)


def adult(**pattern: object) -> SubjectTruth:
    return SubjectTruth(
        subject_id="S001",
        index=0,
        group="knee_oa",
        sex="male",
        age_years=50.0,
        mass_kg=75.0,
        height_m=1.75,
        hka_deg={"l": -8.0, "r": -2.0},
        affected_side="left",
        alignment_recorded=True,
        speed_mps=1.3,
        accelerometer_hz=148.148,
        pattern=WalkPattern(**pattern),  # type: ignore[arg-type]
    )


@dataclasses.dataclass
class Walk:
    t: np.ndarray
    steps: gait.Steps
    forces: gait.Forces
    legs: dict[str, dict[tuple[str, str], np.ndarray]]
    motion: kinematics.BodyMotion


def walk(subject: SubjectTruth, speed: float = 1.3, seed: int = 0) -> Walk:
    """Forces and body motion of one 10 s walk, as simulate_trial composes them."""
    rng = np.random.default_rng(seed)
    t = np.arange(-1.0, 11.0, 1e-3)
    steps = gait.plan_steps(subject, speed, t[0], t[-1], rng)
    forces = gait.walking_forces(t, steps, subject, speed, rng)
    phases = {
        s: kinematics.cycle_phase(t, steps.heel_strikes[s], steps.toe_offs[s]) for s in c.SIDES
    }
    legs = {s: kinematics.joint_angles(phases[s], s, subject, _STYLE, speed) for s in c.SIDES}
    pelvis = kinematics.pelvis_angles(phases["l"], subject)
    return Walk(t, steps, forces, legs, kinematics.body_motion(pelvis, legs, subject))


_STYLE = kinematics.AngleStyle(
    offset=dict.fromkeys(kinematics.KEY_POINTS, 0.0), gain=dict.fromkeys(kinematics.KEY_POINTS, 1.0)
)
INNER = slice(1500, 10500)  # away from the padding's derivative edges


def test_variation_leaves_the_core_draws_of_every_subject_alone() -> None:
    """New draws come from new stream purposes: alignment, group, sex and devices are those of
    a cohort without variation, and so is the body of everyone left an adult."""
    for i in range(60):
        on, off = draw_subject(i, SynthConfig()), draw_subject(i, SynthConfig(variation=OFF))
        for name in ("group", "sex", "hka_deg", "affected_side", "alignment_recorded"):
            assert getattr(on, name) == getattr(off, name)
        assert on.accelerometer_hz == off.accelerometer_hz
        if on.pattern.stage == "adult":
            assert (on.height_m, on.mass_kg, on.age_years) == (
                off.height_m,
                off.mass_kg,
                off.age_years,
            )
        # One share changes nothing else about a subject.
        other = draw_subject(i, SynthConfig(variation=VariationConfig(stiff_knee_fraction=1.0)))
        assert other.pattern.step_width_m == on.pattern.step_width_m
        assert other.pattern.trunk_sway_deg == on.pattern.trunk_sway_deg
        assert other.speed_mps == on.speed_mps


def test_the_cohort_spans_children_to_older_adults_within_the_contract() -> None:
    people = [draw_subject(i, SynthConfig()) for i in range(400)]
    stages = [p.pattern.stage for p in people]
    children = [p for p in people if p.pattern.stage == "child"]
    older = [p for p in people if p.pattern.stage == "older"]
    assert 0.05 < len(children) / 400 < 0.15 and 0.06 < len(older) / 400 < 0.18
    assert all(p.group == "healthy" for p in children + older)
    (lo_mass, hi_mass), (lo_height, hi_height) = (
        c.SUBJECT_RANGES[k] for k in ("mass_kg", "height_m")
    )
    for p in people:
        assert lo_mass <= p.mass_kg <= hi_mass and lo_height <= p.height_m <= hi_height
        assert 0.5 <= p.speed_mps <= 2.0
    assert min(p.age_years for p in children) >= 6 and max(p.age_years for p in older) <= 85
    assert min(p.height_m for p in children) < 1.35 and min(p.mass_kg for p in children) < 30
    adults = [p.speed_mps for p, s in zip(people, stages, strict=True) if s == "adult"]
    assert np.mean([p.speed_mps for p in older]) < np.mean(adults)
    speeds = np.array([p.speed_mps for p in people])
    assert speeds.min() < 0.7 and speeds.max() > 1.7  # slow and fast conditions


@pytest.mark.parametrize(
    ("speed", "peak", "stance"),
    [(0.5, (0.95, 1.15), (0.95, 1.35)), (2.0, (1.2, 1.55), (0.45, 0.6))],
)
def test_forces_and_timing_stay_physiological_at_the_speed_ends(speed, peak, stance) -> None:
    """Slow walking flattens the double hump; fast walking (2 m/s) peaks near 1.3-1.5 BW with
    stance near 0.5 s (Nilsson & Thorstensson 1989; Perry & Burnfield 2010)."""
    w = walk(adult(), speed)
    bw = 75.0 * GRAVITY
    fz = w.forces.grf["r"][INNER, 2] - w.forces.impact["r"][INNER, 2]
    assert peak[0] < fz.max() / bw < peak[1]
    durations = w.steps.toe_offs["r"] - w.steps.heel_strikes["r"]
    assert stance[0] < np.median(durations) < stance[1]


def test_newton_holds_with_a_swaying_trunk() -> None:
    """Sum of m_i a_i over pelvis-carried HAT and limbs equals GRF + m g, exactly, while the
    pelvis itself no longer moves like the centre of mass."""
    subject = adult(trunk_sway_deg=5.0, trunk_pitch_deg=1.5)
    w = walk(subject)
    pelvis, rel = body_accelerations(w.t, w.motion, w.forces, subject.mass_kg)
    newton = sum(m * (pelvis + rel[name]) for name, m in w.motion.masses.items())
    grf = sum(w.forces.grf[s] - w.forces.impact[s] for s in c.SIDES)
    np.testing.assert_allclose(newton, grf + subject.mass_kg * GRAVITY_VECTOR, atol=1e-6)
    com = grf / subject.mass_kg + GRAVITY_VECTOR
    still = adult()
    still_w = walk(still)
    still_pelvis, _ = body_accelerations(still_w.t, still_w.motion, still_w.forces, 75.0)
    still_com = sum(still_w.forces.grf[s] - still_w.forces.impact[s] for s in c.SIDES) / 75.0
    still_com = still_com + GRAVITY_VECTOR

    def r_ml(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a[INNER, 1], b[INNER, 1])[0, 1])

    assert r_ml(pelvis, com) < r_ml(still_pelvis, still_com) - 0.05


def test_the_trunk_sways_a_few_centimetres_over_the_pelvis() -> None:
    """The HAT centre of mass relative to the sacrum, in the heading frame: a few cm sideways
    over the stance limb; without sway the trunk stays level and above the sacrum."""
    hat = walk(adult(trunk_sway_deg=4.0, trunk_pitch_deg=1.0)).motion.points["hat"][INNER]
    assert 0.02 < np.ptp(hat[:, 1]) < 0.06  # lateral
    assert 0.002 < np.ptp(hat[:, 0]) < 0.04  # fore-aft
    still = walk(adult()).motion.points["hat"][INNER]
    assert np.ptp(still[:, 1]) < 0.02  # what the pelvis rotation carries the HAT


def test_step_width_sets_the_medial_force() -> None:
    """Inverted pendulum: the medial peak grows with step width over leg length."""
    narrow = gait.side_params(adult(step_width_m=0.06), 1.3, np.random.default_rng(1))
    wide = gait.side_params(adult(step_width_m=0.16), 1.3, np.random.default_rng(1))
    # Same random factor (0.9-1.1) on both: the difference is the pendulum term alone.
    pendulum = 0.5 * (0.16 - 0.06) / (0.53 * 1.75)
    assert 0.89 * pendulum < wide["r"].ml_peak_bw - narrow["r"].ml_peak_bw < 1.11 * pendulum
    w = walk(adult(step_width_m=0.16))
    cop_y = w.forces.cop["r"][INNER, 1]
    assert np.nanmedian(cop_y) == pytest.approx(-0.08, abs=0.02)


@pytest.mark.parametrize("fpa", [-8.0, 7.0, 20.0])
def test_the_foot_points_at_its_progression_angle(fpa: float) -> None:
    """Toe-out (positive) turns the left foot to +y and the right foot to -y in mid-stance."""
    w = walk(adult(foot_progression_deg={"l": fpa, "r": fpa}))
    for side, sign in (("l", 1.0), ("r", -1.0)):
        k, s = gait.stance_index(w.t, w.steps.heel_strikes[side], w.steps.toe_offs[side])
        flat = (k >= 0) & (s > 0.2) & (s < 0.6)
        _, _, yaw = segment_angles(w.motion.rotations[f"foot_{side}"][flat])
        assert sign * np.degrees(np.median(yaw)) == pytest.approx(fpa, abs=2.5)


def test_stiff_knee_flexes_less_in_loading_and_swing() -> None:
    w = walk(adult(stiff_knee={"l": 0.35, "r": 0.0}))
    stiff, free = w.legs["l"][("knee", "flex")], w.legs["r"][("knee", "flex")]
    assert stiff.max() < 0.75 * free.max()
    assert 40 < stiff.max() < 50  # post-TKA and knee-OA swing peaks (McClelland 2007)


def test_antalgic_gait_shortens_the_affected_stance_and_step() -> None:
    plain = walk(adult()).steps
    marked = walk(adult(antalgic=0.025)).steps

    def stance_gap(steps: gait.Steps) -> float:
        d = {s: np.median(steps.toe_offs[s] - steps.heel_strikes[s]) for s in c.SIDES}
        return float((d["r"] - d["l"]) / steps.stride_time_s)

    assert stance_gap(marked) - stance_gap(plain) == pytest.approx(0.025, abs=0.005)
    assert marked.params["l"].share == pytest.approx(0.5 - 0.008 - 0.025)


def test_variation_ranges_are_checked() -> None:
    with pytest.raises(ValidationError):
        VariationConfig(speed_range_mps=(2.0, 0.5))
    with pytest.raises(ValidationError):
        VariationConfig(child_fraction=0.7, older_fraction=0.5)
    with pytest.raises(ValidationError):
        VariationConfig(step_width_m=(0.5, 0.02))
    with pytest.raises(ValidationError):
        VariationConfig(trunk_sway_deg=(3.0, 20.0))


def test_children_walk_whole_trials() -> None:
    """A small child (about 20 kg, 1.2 m) still yields a complete, physical trial."""
    cfg = SynthConfig(trial_duration_s=4.0)
    child = next(
        s
        for s in (draw_subject(i, cfg) for i in range(200))
        if s.pattern.stage == "child" and s.mass_kg < 30
    )
    trial = simulate_trial(open_session(child, cfg.seed), 0, "walking", "t", cfg)
    grf = trial.streams["grf"]
    total = grf.channel("grf_l_z") + grf.channel("grf_r_z")
    assert total.mean() / (child.mass_kg * GRAVITY) == pytest.approx(1.0, abs=0.04)
    assert np.isfinite(trial.streams["acc"].data).mean() > 0.9
