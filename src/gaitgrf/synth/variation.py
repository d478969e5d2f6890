"""Domain randomisation: ages, speeds, step width, toe-out, trunk sway and gait patterns.

A model trained only on adults walking at their own pace meets, in real labs, children, older
adults, instructed slow and fast trials, wide and narrow bases of support, toe-in and toe-out,
a trunk that sways over the pelvis, and stiff-kneed or antalgic patients. This module draws
those per-subject properties. Each family of draws has its own random-stream purpose and a
fixed number of draws, so adding it shifted none of a subject's existing draws
(population.draw_subject uses purpose 0, trials 1-4 and 1000+), and changing one share in the
config changes no other property of any subject. Sizes and sources: docs/synthetic-cohort.md,
"Variation".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gaitgrf.core.config import VariationConfig

#: Random-stream purposes of this module (never reuse one: subjects would change).
BODY_STREAM, PATTERN_STREAM = 20, 21
#: Step width (m) the core force model was tuned on, and leg length as a share of height
#: (thigh + shank + ankle height, Winter 2009).
REFERENCE_STEP_WIDTH_M = 0.10
LEG_FRACTION = 0.53
#: CDC 2000 growth charts, 50th percentile: age (years) -> stature (m) and BMI, girls / boys.
_GROWTH_AGE = np.array([6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0])
_GROWTH = {
    "female": (
        np.array([1.15, 1.27, 1.38, 1.51, 1.60, 1.63, 1.63]),
        np.array([15.2, 15.8, 16.9, 18.0, 19.4, 20.4, 21.0]),
    ),
    "male": (
        np.array([1.16, 1.28, 1.39, 1.49, 1.64, 1.74, 1.76]),
        np.array([15.3, 15.7, 16.6, 17.8, 19.4, 20.5, 21.5]),
    ),
}
PATIENT_GROUPS = ("knee_oa", "post_surgery")


def _sides(value: float) -> dict[str, float]:
    return {"l": value, "r": value}


@dataclass(frozen=True)
class WalkPattern:
    """How a subject walks beyond the core model; the defaults reproduce the core model."""

    stage: str = "adult"  # "child", "adult" or "older"
    #: Step length relative to the core rule 0.366 H sqrt(v) (older adults take shorter steps).
    step_length_scale: float = 1.0
    #: Added to the stance fraction of the stride (older adults: longer double support).
    stance_shift: float = 0.0
    step_width_m: float = REFERENCE_STEP_WIDTH_M
    #: Foot progression angle per side, degrees, toe-out positive.
    foot_progression_deg: dict[str, float] = field(default_factory=lambda: _sides(7.0))
    #: Trunk sway relative to the pelvis: lateral (once per stride) and fore-aft (per step), deg.
    trunk_sway_deg: float = 0.0
    trunk_pitch_deg: float = 0.0
    #: Share of knee flexion excursion lost per side (stiff-knee gait), 0 = none.
    stiff_knee: dict[str, float] = field(default_factory=lambda: _sides(0.0))
    #: Extra share of the stride the affected leg's step and stance lose (antalgic gait).
    antalgic: float = 0.0


@dataclass(frozen=True)
class Body:
    """Age, size and own walking speed of a subject."""

    stage: str
    age_years: float
    height_m: float
    mass_kg: float
    speed_mps: float


def _stream(seed: int, index: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, index, purpose]))


def growth_norm(age: float, sex: str) -> tuple[float, float]:
    """Median stature (m) and BMI of a child of this age and sex (CDC 2000 growth charts)."""
    stature, bmi = _GROWTH[sex]
    return float(np.interp(age, _GROWTH_AGE, stature)), float(np.interp(age, _GROWTH_AGE, bmi))


def draw_body(
    seed: int, index: int, group: str, sex: str, adult: Body, cfg: VariationConfig
) -> Body:
    """Turn a share of healthy adults into children or older adults, and set speed conditions.

    Children: stature and BMI from growth norms (SD 4.5 % and 12 %), own speed Froude-scaled
    from adults (v ~ sqrt(leg length), Hof 1996). Older adults (65-85): speed falls about
    0.015 m/s per year after 65 (Bohannon & Andrews 2011). A share of subjects is asked to walk
    slowly (45-70 % of their own speed) or fast (120-145 %), as labs do.
    """
    rng = _stream(seed, index, BODY_STREAM)
    u = rng.random(5)  # fixed counts, drawn before any branch: a share never shifts other draws
    z = rng.standard_normal(3)
    stage = "adult"
    if group == "healthy" and u[0] < cfg.child_fraction:
        stage = "child"
    elif group == "healthy" and u[0] < cfg.child_fraction + cfg.older_fraction:
        stage = "older"
    body = adult
    if stage == "child":
        age = 6.0 + 11.0 * u[1]
        stature, bmi = growth_norm(age, sex)
        height = stature * (1.0 + 0.045 * z[0])
        mass = max(16.0, bmi * (1.0 + 0.12 * z[1]) * height**2)
        speed = (1.30 + 0.12 * z[2]) * np.sqrt(height / 1.72)
        body = Body(stage, age, height, mass, speed)
    elif stage == "older":
        age = 65.0 + 20.0 * u[1]
        speed = 1.30 - 0.015 * (age - 65.0) + 0.12 * z[2]
        body = Body(stage, age, adult.height_m, adult.mass_kg, speed)
    speed = body.speed_mps
    if u[2] < cfg.speed_condition_fraction:
        speed *= 0.45 + 0.25 * u[4] if u[3] < 0.5 else 1.20 + 0.25 * u[4]
    low, high = cfg.speed_range_mps
    return Body(
        body.stage, body.age_years, body.height_m, body.mass_kg, float(np.clip(speed, low, high))
    )


def draw_pattern(
    seed: int,
    index: int,
    group: str,
    body: Body,
    affected: str | None,
    cfg: VariationConfig,
) -> WalkPattern:
    """Step width, toe-out, trunk sway and the patients' stiff-knee and antalgic patterns.

    Sizes: step width ~0.10 m (SD 0.025) in adults, scaled by height for children (Owings &
    Grabiner 2004); foot progression ~7 deg toe-out, SD 5, some toe-in (Perry & Burnfield
    2010), +-1.5 deg between sides; lateral trunk sway of a few degrees over the pelvis
    (Thorstensson 1984), 1-3 deg more in knee OA (ipsilateral trunk lean, Hunt 2008);
    stiff knee: 25-45 % of knee flexion excursion lost on the affected side (Childs 2004,
    McClelland 2007); marked antalgic gait: the affected step and stance a further 1-3 % of the
    stride shorter (Perry & Burnfield 2010).
    """
    rng = _stream(seed, index, PATTERN_STREAM)
    normal = rng.standard_normal(4)
    u = rng.random(7)  # fixed count, drawn before any branch
    width_mean, width_sd = cfg.step_width_m
    size = body.height_m / 1.70 if body.stage == "child" else 1.0
    width = float(np.clip(width_mean + width_sd * normal[0], 0.03, 0.25)) * size
    fpa_mean, fpa_sd = cfg.foot_progression_deg
    fpa = fpa_mean + fpa_sd * normal[1]
    fpa_sides = {"l": float(fpa + 1.5 * normal[2]), "r": float(fpa - 1.5 * normal[2])}
    sway = cfg.trunk_sway_deg[0] + (cfg.trunk_sway_deg[1] - cfg.trunk_sway_deg[0]) * u[0]
    if group == "knee_oa":
        sway += 1.0 + 2.0 * u[1]
    pitch = cfg.trunk_pitch_deg[0] + (cfg.trunk_pitch_deg[1] - cfg.trunk_pitch_deg[0]) * u[2]
    patient = group in PATIENT_GROUPS and affected is not None
    stiff = _sides(0.0)
    if patient and u[3] < cfg.stiff_knee_fraction:
        stiff[str(affected)] = float(0.25 + 0.20 * u[4])
    antalgic = 0.01 + 0.02 * u[6] if patient and u[5] < cfg.antalgic_fraction else 0.0
    older = body.stage == "older"
    return WalkPattern(
        stage=body.stage,
        # Winter 1990: fit older adults walk with shorter strides and longer double support.
        step_length_scale=0.92 if older else 1.0,
        stance_shift=0.01 if older else 0.0,
        step_width_m=width,
        foot_progression_deg=fpa_sides,
        trunk_sway_deg=float(sway),
        trunk_pitch_deg=float(pitch),
        stiff_knee=stiff,
        antalgic=float(antalgic),
    )
