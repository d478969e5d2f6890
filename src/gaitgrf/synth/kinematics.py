"""Joint angles over the gait cycle and the segment motion they imply.

Normative curves are periodic splines through key points of adult walking (Winter 2009; Perry &
Burnfield 2010), in the contract's conventions (flexion, adduction/varus, internal rotation
positive). Each subject gets its own offsets and amplitudes; varus knees add a static adduction
offset and a stance-phase thrust. A chain of rigid segments (Winter's anthropometric table)
turns angles into positions of segment centres of mass and sensor sites relative to the pelvis.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy.interpolate import CubicSpline

from gaitgrf.core.sensors import SENSOR_SITES, segment_rotation
from gaitgrf.synth.population import SubjectTruth
from gaitgrf.synth.variation import LEG_FRACTION, REFERENCE_STEP_WIDTH_M

#: Gait-cycle percent -> degrees; 0 % is the ipsilateral heel strike, toe off near 62 %.
KEY_POINTS: dict[tuple[str, str], list[tuple[float, float]]] = {
    ("hip", "flex"): [(0, 30), (10, 27), (30, 8), (50, -10), (60, -3), (73, 20), (87, 33)],
    ("knee", "flex"): [(0, 4), (13, 18), (40, 4), (60, 38), (72, 62), (85, 35), (95, 6)],
    ("ankle", "flex"): [(0, 0), (7, -6), (30, 6), (48, 11), (62, -17), (72, -8), (85, 1)],
    ("hip", "add"): [(0, 2), (18, 8), (50, -2), (65, -7), (85, 0)],
    ("knee", "add"): [(0, 0), (15, 1.5), (40, 1), (65, -2), (80, -1)],
    ("ankle", "add"): [(0, 2), (10, -3), (40, -2), (60, 6), (75, 2)],
    ("hip", "rot"): [(0, 3), (20, 5), (50, -4), (70, -6), (90, 2)],
    ("knee", "rot"): [(0, -2), (20, 3), (50, 2), (70, -5), (90, -3)],
    ("ankle", "rot"): [(0, -5), (30, -7), (50, -8), (80, -3)],
}
NORMATIVE_TOE_OFF = 0.62
#: Knee flexion (deg) a stiff knee keeps near; its excursion above it is what stiffness scales.
KNEE_FLEX_FLOOR = 4.0
#: Winter (2009): mass fractions and centre-of-mass position from the proximal joint.
MASS_FRACTION = {"hat": 0.678, "thigh": 0.100, "shank": 0.0465, "foot": 0.0145}
COM_ALONG = {"thigh": 0.433, "shank": 0.433}
LENGTH_FRACTION = {"thigh": 0.245, "shank": 0.246, "foot": 0.152}


@cache
def _spline(joint: str, plane: str) -> CubicSpline:
    pts = KEY_POINTS[(joint, plane)]
    x = np.array([p for p, _ in pts] + [100.0]) / 100.0
    y = np.array([v for _, v in pts] + [pts[0][1]])
    return CubicSpline(x, y, bc_type="periodic")


@cache
def normative_toe_out_deg() -> float:
    """Foot progression angle of the normative curves: mean foot yaw over 20-60 % of stance.

    The curves' hip, knee and ankle rotations already turn the foot a little; a subject's own
    angle is reached by offsets relative to this, so the curves' shapes stay normative.
    """
    phase = np.linspace(0.2, 0.6, 81) * NORMATIVE_TOE_OFF
    rotation = sum(_spline(joint, "rot")(phase) for joint in ("hip", "knee", "ankle"))
    return float(-np.mean(rotation))


def cycle_phase(t: np.ndarray, heel: np.ndarray, toe: np.ndarray) -> np.ndarray:
    """Gait-cycle phase in [0, 1), warped so each toe off lands on the normative 62 %."""
    k = np.clip(np.searchsorted(heel, t, side="right") - 1, 0, heel.size - 2)
    span = heel[k + 1] - heel[k]
    raw = (t - heel[k]) / span
    stance = (toe[k] - heel[k]) / span
    return (
        np.where(
            raw < stance,
            NORMATIVE_TOE_OFF * raw / stance,
            NORMATIVE_TOE_OFF + (1 - NORMATIVE_TOE_OFF) * (raw - stance) / (1 - stance),
        )
        % 1.0
    )


@dataclass(frozen=True)
class AngleStyle:
    """A subject's own way of walking: per-channel offset and amplitude."""

    offset: dict[tuple[str, str], float]
    gain: dict[tuple[str, str], float]


def draw_style(rng: np.random.Generator) -> AngleStyle:
    keys = sorted(KEY_POINTS)
    return AngleStyle(
        offset={k: float(rng.normal(0, 2.0 if k[1] == "flex" else 1.5)) for k in keys},
        gain={k: float(rng.normal(1.0, 0.06)) for k in keys},
    )


def joint_angles(
    phase: np.ndarray, side: str, subject: SubjectTruth, style: AngleStyle, speed: float
) -> dict[tuple[str, str], np.ndarray]:
    """True joint angles (degrees) of one leg along its gait phase."""
    speed_gain = 0.8 + 0.2 * speed / 1.3
    pattern = subject.pattern
    out = {}
    for key in KEY_POINTS:
        curve = _spline(*key)(phase)
        if key == ("knee", "flex"):
            # Stiff-knee gait: less flexion in loading response and in swing.
            curve = KNEE_FLEX_FLOOR + (1.0 - pattern.stiff_knee[side]) * (curve - KNEE_FLEX_FLOOR)
        mean = float(np.mean(_spline(*key)(np.linspace(0, 1, 101))))
        gain = style.gain[key] * (speed_gain if key[1] == "flex" else 1.0)
        out[key] = mean + gain * (curve - mean) + style.offset[key]
    hka = subject.hka_deg[side]
    # Knee adduction = varus; static alignment plus a varus thrust in early stance.
    thrust = max(0.0, -hka) * 0.25 * np.exp(-(((phase - 0.15) / 0.08) ** 2))
    out[("knee", "add")] = out[("knee", "add")] - hka + thrust
    # Toe-out beyond the curves' own: two thirds external hip rotation, one third at the ankle
    # (tibial torsion and foot rotation), the hip being the larger source of FPA variation.
    toe_out = pattern.foot_progression_deg[side] - normative_toe_out_deg()
    out[("hip", "rot")] = out[("hip", "rot")] - 2.0 / 3.0 * toe_out
    out[("ankle", "rot")] = out[("ankle", "rot")] - 1.0 / 3.0 * toe_out
    # A wider base of support abducts the hips (feet half the extra width further out).
    extra = 0.5 * (pattern.step_width_m - REFERENCE_STEP_WIDTH_M)
    out[("hip", "add")] = out[("hip", "add")] - np.degrees(
        np.arctan2(extra, LEG_FRACTION * subject.height_m)
    )
    return out


def pelvis_angles(
    phase_left: np.ndarray, subject: SubjectTruth | None = None
) -> dict[str, np.ndarray]:
    """Anterior tilt (twice per stride), obliquity and rotation (once per stride), degrees.

    With a subject, also the trunk's sway relative to the pelvis: the trunk stays level against
    the pelvic list and leans `trunk_sway_deg` over the stance limb (once per stride; more in
    knee OA, Hunt 2008), and pitches against the pelvic tilt (once per step), so the head stays
    steadier than the pelvis (Thorstensson 1984). The trunk carries most of the body's mass, so
    this is what keeps a pelvis accelerometer from reading the centre of mass.
    """
    w = 2 * np.pi * phase_left
    out = {
        "tilt": 10.0 + 1.5 * np.cos(2 * w),
        "obliquity": 4.0 * np.sin(w),
        "rotation": 5.0 * np.cos(w),
    }
    if subject is not None:
        # Positive roll leans to the right (-y); the left foot stands around phase 0.25.
        out["trunk_roll"] = -out["obliquity"] - subject.pattern.trunk_sway_deg * np.sin(w)
        out["trunk_pitch"] = -subject.pattern.trunk_pitch_deg * np.cos(2 * w)
    return out


@dataclass(frozen=True)
class BodyMotion:
    """Positions relative to the pelvis origin (n x 3, m) and orientations (n x 3 x 3).

    `points` holds segment centres of mass, sensor sites and the joint centres (`hip_l`,
    `knee_l`, `ankle_l`, ...); `masses` names the points that carry mass.
    """

    points: dict[str, np.ndarray]
    rotations: dict[str, np.ndarray]
    masses: dict[str, float]


def body_motion(
    pelvis: dict[str, np.ndarray],
    legs: dict[str, dict[tuple[str, str], np.ndarray]],
    subject: SubjectTruth,
) -> BodyMotion:
    """Forward kinematics of pelvis + two legs; segment z axes point proximally."""
    h = subject.height_m
    scale = h / 1.75
    tilt, obl, yaw = (np.radians(pelvis[k]) for k in ("tilt", "obliquity", "rotation"))
    r_pelvis = segment_rotation(tilt, obl, yaw)
    # Head-arms-trunk centre of mass, 25 cm above the sacrum, swaying about it with the trunk.
    still = np.zeros_like(tilt)
    r_trunk = segment_rotation(
        np.radians(pelvis.get("trunk_pitch", still)),
        np.radians(pelvis.get("trunk_roll", still)),
        still,
    )
    points: dict[str, np.ndarray] = {
        "hat": r_pelvis @ r_trunk @ (np.array([0.05, 0.0, 0.25]) * scale)
    }
    rotations = {"pelvis": r_pelvis}
    masses = {"hat": MASS_FRACTION["hat"] * subject.mass_kg}
    for side, angles in legs.items():
        sign = 1.0 if side == "l" else -1.0
        a = {k: np.radians(v) for k, v in angles.items()}
        thigh_flex = a[("hip", "flex")] - tilt
        shank_flex = thigh_flex - a[("knee", "flex")]
        thigh_roll = -sign * a[("hip", "add")] + obl
        shank_roll = thigh_roll - sign * a[("knee", "add")]
        thigh_yaw = yaw - sign * a[("hip", "rot")]
        shank_yaw = thigh_yaw - sign * a[("knee", "rot")]
        foot_yaw = shank_yaw - sign * a[("ankle", "rot")]
        r_thigh = segment_rotation(-thigh_flex, thigh_roll, thigh_yaw)
        r_shank = segment_rotation(-shank_flex, shank_roll, shank_yaw)
        r_foot = segment_rotation(-shank_flex - a[("ankle", "flex")], shank_roll, foot_yaw)
        hip = r_pelvis @ (np.array([0.10, sign * 0.085, -0.08]) * scale)
        down = np.array([0.0, 0.0, -1.0])
        thigh_vec = r_thigh @ (down * LENGTH_FRACTION["thigh"] * h)
        knee = hip + thigh_vec
        shank_vec = r_shank @ (down * LENGTH_FRACTION["shank"] * h)
        ankle = knee + shank_vec
        foot_len = LENGTH_FRACTION["foot"] * h
        points[f"thigh_{side}"] = hip + COM_ALONG["thigh"] * thigh_vec
        points[f"shank_{side}"] = knee + COM_ALONG["shank"] * shank_vec
        points[f"foot_{side}"] = ankle + r_foot @ np.array([0.25 * foot_len, 0.0, -0.04 * scale])
        # Joint centres, for placing skin markers on the segments (synth.markers).
        points |= {f"hip_{side}": hip, f"knee_{side}": knee, f"ankle_{side}": ankle}
        for seg, origin, vec, rot in (
            ("thigh", hip, thigh_vec, r_thigh),
            ("shank", knee, shank_vec, r_shank),
            ("foot", ankle, np.zeros(3), r_foot),
        ):
            site = SENSOR_SITES[f"{seg}_{side}"]
            points[f"sensor_{seg}_{side}"] = origin + site.along * vec + rot @ site.offset_for(h)
            rotations[f"{seg}_{side}"] = rot
            masses[f"{seg}_{side}"] = MASS_FRACTION[seg] * subject.mass_kg
    return BodyMotion(points, rotations, masses)
