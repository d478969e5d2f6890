"""Step timing and ground reaction forces of one synthetic walking trial.

Vertical force per stance follows Alexander & Jayes (1980): `a [sin(pi s) + q sin(3 pi s)]` over
normalised stance time s, whose shape factor q grows with speed (deeper mid-stance dip, higher
peaks). An antisymmetric `k sin(2 pi s)` term tilts load between the first and second peak; pain
on the affected side lowers the first peak. Amplitudes are not free: over every stride the
vertical impulse of both feet equals body weight times stride time (the centre of mass neither
rises nor falls on average), which is what makes peaks grow as stance shortens with speed.
Anterior-posterior force brakes then propels with zero net impulse (steady speed); the
medio-lateral force is mostly medial, larger with varus alignment (Hunt 2006).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d

from gaitgrf.core.sensors import GRAVITY
from gaitgrf.synth.population import SubjectTruth
from gaitgrf.synth.variation import LEG_FRACTION

SIDES = ("l", "r")
#: +1 for the left foot, -1 for the right: lateral is +y on the left, -y on the right.
SIDE_SIGN = {"l": 1.0, "r": -1.0}
IMPACT_DURATION_S = 0.02
#: How much shorter (as a fraction of the stride) the affected leg's step is.
ANTALGIC_STEP_FRACTION = 0.008
_GRID = np.linspace(0.0, 1.0, 2001)


@dataclass(frozen=True)
class SideParams:
    """How one leg loads the ground during this trial."""

    stance_fraction: float
    q: float  # Alexander-Jayes shape factor
    k: float  # first/second peak balance
    warp: float  # >0 slows loading (s -> s**(1+warp))
    share: float  # share of the stride's vertical impulse
    ap_peak_bw: float
    ml_peak_bw: float
    impact_bw: float


@dataclass(frozen=True)
class Steps:
    """Heel strikes and toe offs of both feet (seconds, may extend beyond the trial)."""

    heel_strikes: dict[str, np.ndarray]
    toe_offs: dict[str, np.ndarray]
    stride_time_s: float
    step_length_m: float
    params: dict[str, SideParams]


def side_params(
    subject: SubjectTruth, speed: float, rng: np.random.Generator
) -> dict[str, SideParams]:
    pattern = subject.pattern
    stance = float(np.clip(0.62 - 0.06 * (speed - 1.3) + pattern.stance_shift, 0.57, 0.68))
    q = float(np.clip(0.1 + 0.25 * (speed - 0.8) / 0.6, 0.05, 0.45))
    ap = 0.20 * (speed / 1.3) ** 1.3
    heel = rng.uniform(0.04, 0.14) * (speed / 1.3) ** 2
    antalgic = ANTALGIC_STEP_FRACTION + pattern.antalgic if subject.affected else 0.0
    # Frontal-plane inverted pendulum (MacKinnon & Winter 1993): the foot sits half a step width
    # beside the centre of mass, so the medial force is about m g (w / 2) / leg length.
    pendulum = 0.5 * pattern.step_width_m / (LEG_FRACTION * subject.height_m)
    out = {}
    for side in SIDES:
        hka = subject.hka_deg[side]
        affected = subject.affected == side
        contralateral = subject.affected is not None and not affected
        severity = abs(hka) if affected else 0.0
        varus = max(0.0, -hka)
        valgus = max(0.0, hka)
        out[side] = SideParams(
            stance_fraction=stance
            - (0.008 + 0.001 * severity + pattern.antalgic if affected else 0.0),
            q=q * (0.75 if affected else 1.0) * rng.uniform(0.93, 1.07),
            k=(0.0 - 0.003 * severity) if affected else (0.04 if contralateral else 0.03),
            warp=0.04 + 0.004 * severity if affected else 0.0,
            # Each foot carries the body for its own step: share = step time / stride time. The
            # affected leg's shorter step (antalgic gait) is what unloads it over a stride.
            share=0.5 - antalgic if affected else 0.5 + antalgic if contralateral else 0.5,
            ap_peak_bw=ap * (0.85 if affected else 1.0) * rng.uniform(0.9, 1.1),
            # Varus adds medial load; valgus removes a little (Hunt 2006: small effects).
            ml_peak_bw=float(
                np.clip(
                    pendulum * np.sqrt(speed / 1.3) + 0.0025 * varus - 0.0015 * valgus, 0.02, 0.14
                )
            )
            * rng.uniform(0.9, 1.1),
            impact_bw=heel * (0.7 if affected else 1.0),
        )
    return out


def plan_steps(
    subject: SubjectTruth, speed: float, t0: float, t1: float, rng: np.random.Generator
) -> Steps:
    """Heel strikes and toe offs covering [t0, t1], with 1.5 % stride-time variability."""
    step_length = 0.366 * subject.height_m * np.sqrt(speed) * subject.pattern.step_length_scale
    stride = 2.0 * step_length / speed
    params = side_params(subject, speed, rng)
    first = t0 - rng.uniform(0.0, stride)
    n = int(np.ceil((t1 - first) / (stride * 0.9))) + 2
    durations = stride * (1.0 + 0.015 * rng.standard_normal(n))
    hs_l = first + np.concatenate([[0.0], np.cumsum(durations[:-1])])
    # The left step lasts share_l of the stride (shorter when the left leg is the affected one).
    hs_r = hs_l + durations * (params["l"].share + 0.004 * rng.standard_normal(n))
    heel = {"l": hs_l, "r": hs_r}
    toe = {s: heel[s] + durations * params[s].stance_fraction for s in SIDES}
    return Steps(heel, toe, float(stride), float(step_length), params)


def _basis(s: np.ndarray, warp: float) -> np.ndarray:
    """The three vertical-force harmonics (3 x n) over normalised stance time."""
    sw = s ** (1.0 + warp)
    return np.stack([np.sin(np.pi * sw), np.sin(3 * np.pi * sw), np.sin(2 * np.pi * sw)])


def _ap_shape(s: np.ndarray) -> np.ndarray:
    """Braking (negative) then propulsion; peaks at ~15 % and ~85 % of stance, zero net impulse."""
    return -np.sin(2 * np.pi * s) - 0.35 * np.sin(4 * np.pi * s)


def _ml_shape(s: np.ndarray) -> np.ndarray:
    return np.sin(np.pi * s) + 0.25 * np.sin(3 * np.pi * s)


_AP_NORM = float(np.max(np.abs(_ap_shape(_GRID))))
_ML_NORM = float(np.max(_ml_shape(_GRID)))


def stance_index(t: np.ndarray, heel: np.ndarray, toe: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each sample: which stance it is in (-1 if none) and its normalised stance time s."""
    k = np.searchsorted(heel, t, side="right") - 1
    valid = k >= 0
    kk = np.where(valid, k, 0)
    s = (t - heel[kk]) / (toe[kk] - heel[kk])
    inside = valid & (s >= 0.0) & (s < 1.0)
    return np.where(inside, k, -1), np.where(inside, s, 0.0)


@dataclass(frozen=True)
class Forces:
    """Ground reaction force on each foot (n x 3, N), its heel-strike impact part, COP (n x 2)."""

    grf: dict[str, np.ndarray]
    impact: dict[str, np.ndarray]
    cop: dict[str, np.ndarray]
    in_stance: dict[str, np.ndarray]


def walking_forces(
    t: np.ndarray, steps: Steps, subject: SubjectTruth, speed: float, rng: np.random.Generator
) -> Forces:
    weight = subject.mass_kg * GRAVITY
    grf, impact, cop, stance = {}, {}, {}, {}
    for side in SIDES:
        p = steps.params[side]
        heel, toe = steps.heel_strikes[side], steps.toe_offs[side]
        k, s = stance_index(t, heel, toe)
        on = k >= 0
        stride_times = np.diff(heel, append=heel[-1] + steps.stride_time_s)
        durations = toe - heel
        # Step-to-step variability changes the shape, never the impulse: a step that pushed
        # harder would make the body rise or sink for the rest of the trial.
        q = p.q * (1.0 + 0.06 * rng.standard_normal(heel.size))
        kk = p.k + 0.01 * rng.standard_normal(heel.size)
        b1, b3, b2 = np.trapezoid(_basis(_GRID, p.warp), _GRID, axis=1)
        impulse = (
            p.share * weight * stride_times - p.impact_bw * weight * IMPACT_DURATION_S * 2 / np.pi
        )
        amp = impulse / (durations * (b1 + q * b3 + kk * b2))
        idx = np.where(on, k, 0)
        basis = _basis(s, p.warp)
        f = np.zeros((t.size, 3))
        f[:, 2] = np.where(on, amp[idx] * (basis[0] + q[idx] * basis[1] + kk[idx] * basis[2]), 0.0)
        ap_amp = p.ap_peak_bw * weight * (1.0 + 0.05 * rng.standard_normal(heel.size))
        f[:, 0] = np.where(on, ap_amp[idx] * _ap_shape(s) / _AP_NORM, 0.0)
        sign = SIDE_SIGN[side]
        lateral_kick = 0.02 * np.exp(-(((s - 0.03) / 0.02) ** 2))
        medial = p.ml_peak_bw * _ml_shape(s) / _ML_NORM
        f[:, 1] = np.where(on, sign * weight * (lateral_kick - medial), 0.0)
        # Heel-strike transient: a 20 ms half-sine, carried by the decelerating shank and foot.
        dt = t - heel[idx]
        pulse = np.where(on & (dt < IMPACT_DURATION_S), np.sin(np.pi * dt / IMPACT_DURATION_S), 0.0)
        imp = np.zeros((t.size, 3))
        imp[:, 2] = p.impact_bw * weight * pulse
        imp[:, 0] = -0.3 * imp[:, 2]
        grf[side] = f + imp
        impact[side] = imp
        # Treadmill COP: the foot rides backwards with the belt while the COP rolls heel to toe.
        foot_length = 0.152 * subject.height_m
        x_hs = 0.5 * steps.step_length_m
        # The COP rolls along the foot's long axis, which points the foot progression angle
        # away from the walking direction (toe-out positive, lateral for both feet).
        along = foot_length * (0.65 * s - 0.1)
        fpa = np.radians(subject.pattern.foot_progression_deg[side])
        cx = x_hs - speed * (s * durations[idx]) + along * np.cos(fpa)
        cy = sign * (
            0.5 * subject.pattern.step_width_m
            + along * np.sin(fpa)
            + 0.012 * (1.0 - 2.0 * s)
            - 0.0008 * subject.hka_deg[side]
        )
        cop[side] = np.where(on[:, None], np.stack([cx, cy], axis=1), np.nan)
        stance[side] = on
    _balance_vertical(t, grf, weight, steps.stride_time_s)
    return Forces(grf, impact, cop, stance)


def _balance_vertical(
    t: np.ndarray, grf: dict[str, np.ndarray], weight: float, stride_s: float
) -> None:
    """Scale vertical force so that every stride-long window averages exactly body weight.

    Per-stance impulses are already right on average, but timing jitter lets small errors add up
    step after step into a centre of mass that drifts by decimetres. A smooth multiplicative
    correction keeps the shapes and the zero swing force while pinning the stride mean to the
    weight, as balance does in real walking.
    """
    window = max(3, round(stride_s / float(t[1] - t[0])))
    for _ in range(3):
        total = grf["l"][:, 2] + grf["r"][:, 2]
        mean = uniform_filter1d(total, window, mode="nearest")
        gain = uniform_filter1d(weight / np.maximum(mean, 0.2 * weight), window, mode="nearest")
        for side in SIDES:
            grf[side][:, 2] *= gain


def standing_forces(t: np.ndarray, subject: SubjectTruth, rng: np.random.Generator) -> Forces:
    """Quiet standing: weight split between the feet with slow postural sway."""
    weight = subject.mass_kg * GRAVITY
    sway_f = rng.uniform(0.15, 0.4)
    phase = rng.uniform(0, 2 * np.pi)
    bias = 0.5 + rng.normal(0, 0.02)
    shift = 0.03 * np.sin(2 * np.pi * sway_f * t + phase)
    grf, cop, stance, impact = {}, {}, {}, {}
    for side in SIDES:
        share = bias + shift if side == "l" else 1.0 - bias - shift
        f = np.zeros((t.size, 3))
        f[:, 2] = share * weight
        f[:, 0] = 0.01 * weight * np.sin(2 * np.pi * sway_f * 1.3 * t + phase)
        f[:, 1] = -SIDE_SIGN[side] * 0.02 * weight
        grf[side] = f
        impact[side] = np.zeros_like(f)
        cx = 0.04 + 0.01 * np.sin(2 * np.pi * sway_f * t)
        cy = np.full_like(t, SIDE_SIGN[side] * 0.1)
        cop[side] = np.stack([cx, cy], axis=1)
        stance[side] = np.ones(t.size, dtype=bool)
    return Forces(grf, impact, cop, stance)
