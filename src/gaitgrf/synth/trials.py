"""Turn a subject and a gait plan into one recorded trial: what the devices would have measured.

Physics first, then the instruments. Forces come from `gait`, segment motion from
`kinematics`; the pelvis acceleration is whatever Newton leaves once the limbs' own accelerations
are accounted for (sum m_i a_i = GRF_l + GRF_r + m g), and the heel-strike transient is carried
by the decelerating shank and foot. Then each device adds what real devices add: accelerometers
see specific force in a slightly misaligned frame with bias, noise, soft-tissue wobble after heel
strike, anti-alias filtering, the odd dropout and saturation; motion capture adds marker-placement
offsets (largest in the frontal and transverse planes) and jitter; force plates add noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfiltfilt

from gaitgrf.core import contract as c
from gaitgrf.core.config import SynthConfig
from gaitgrf.core.sensors import GRAVITY, segment_rotation, specific_force
from gaitgrf.io.trial_file import Stream, Trial
from gaitgrf.synth import gait, kinematics, marker_path
from gaitgrf.synth.newton import body_accelerations
from gaitgrf.synth.population import SubjectTruth, subject_rng

#: Random-stream purposes, so that each property of a subject is stable across trials.
_STYLE, _MOUNT, _MOCAP, _DEVICE = 1, 2, 3, 4
_TRIAL_BASE = 1000
PAD_S = 1.0
SATURATION = 16 * GRAVITY
ACC_LOCATIONS = ("pelvis", "thigh_l", "thigh_r", "shank_l", "shank_r", "foot_l", "foot_r")
_SEGMENT_OF = {
    "pelvis": "pelvis",
    **{f"{s}_{x}": f"{s}_{x}" for s in ("thigh", "shank", "foot") for x in "lr"},
}


@dataclass(frozen=True)
class SubjectSession:
    """What stays fixed across a subject's trials: walking style, sensor mounting, marker set."""

    subject: SubjectTruth
    style: kinematics.AngleStyle
    mounts: dict[str, np.ndarray]
    mocap_offset: dict[tuple[str, str, str], float]
    wobble_hz: dict[str, float]


def open_session(subject: SubjectTruth, seed: int) -> SubjectSession:
    style = kinematics.draw_style(subject_rng(seed, subject.index, _STYLE))
    mrng = subject_rng(seed, subject.index, _MOUNT)
    mounts = {loc: segment_rotation(*np.radians(mrng.normal(0.0, 4.0, 3))) for loc in ACC_LOCATIONS}
    krng = subject_rng(seed, subject.index, _MOCAP)
    sd = {"flex": 2.0, "add": 2.5, "rot": 4.0}
    offsets = {
        (j, s, p): float(krng.normal(0.0, sd[p]))
        for j in c.JOINTS
        for s in c.SIDES
        for p in c.PLANES
    }
    drng = subject_rng(seed, subject.index, _DEVICE)
    wobble = {"thigh": drng.uniform(11, 17), "shank": drng.uniform(17, 25)}
    return SubjectSession(subject, style, mounts, offsets, wobble)


def _wobble(t: np.ndarray, heel: np.ndarray, amp: float, freq: float) -> np.ndarray:
    """Soft-tissue oscillation of a skin-mounted sensor after each heel strike (n x 3)."""
    k = np.searchsorted(heel, t, side="right") - 1
    dt = np.where(k >= 0, t - heel[np.clip(k, 0, None)], 1e3)
    envelope = amp * np.exp(-dt / 0.04) * np.sin(2 * np.pi * freq * dt)
    direction = np.array([0.8, 0.5, 0.3]) / np.linalg.norm([0.8, 0.5, 0.3])
    return envelope[:, None] * direction


def _accelerometers(
    t: np.ndarray,
    motion: kinematics.BodyMotion,
    forces: gait.Forces,
    heel: dict[str, np.ndarray],
    session: SubjectSession,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Specific force at every site (n x 3, sensor frame), before device effects."""
    pelvis, rel = body_accelerations(t, motion, forces, session.subject.mass_kg)
    world = {"pelvis": pelvis}
    for side in c.SIDES:
        shank_foot = motion.masses[f"shank_{side}"] + motion.masses[f"foot_{side}"]
        jolt = forces.impact[side] / shank_foot
        world[f"thigh_{side}"] = pelvis + rel[f"sensor_thigh_{side}"]
        world[f"shank_{side}"] = pelvis + rel[f"sensor_shank_{side}"] + jolt
        world[f"foot_{side}"] = pelvis + rel[f"sensor_foot_{side}"] + jolt
    out = {}
    for loc in ACC_LOCATIONS:
        rot = motion.rotations[_SEGMENT_OF[loc]] @ session.mounts[loc]
        out[loc] = specific_force(world[loc], rot)
    for side in c.SIDES:
        peak_jolt = float(np.max(np.abs(forces.impact[side][:, 2]))) / (
            motion.masses[f"shank_{side}"] + motion.masses[f"foot_{side}"]
        )
        for seg, share in (("thigh", 0.15), ("shank", 0.2)):
            out[f"{seg}_{side}"] += _wobble(
                t, heel[side], share * peak_jolt * rng.uniform(0.8, 1.2), session.wobble_hz[seg]
            )
    return out


def _sample(t_src: np.ndarray, x: np.ndarray, t_dst: np.ndarray) -> np.ndarray:
    return np.stack([np.interp(t_dst, t_src, x[:, j]) for j in range(x.shape[1])], axis=1)


def _device_acc(
    t: np.ndarray,
    true: dict[str, np.ndarray],
    rate: float,
    duration: float,
    cfg: SynthConfig,
    rng: np.random.Generator,
) -> Stream:
    fs = 1.0 / float(t[1] - t[0])
    sos = butter(4, 0.4 * rate, fs=fs, output="sos")
    t_out = np.arange(0.0, duration, 1.0 / rate)
    stacked = np.concatenate([true[loc] for loc in ACC_LOCATIONS], axis=1)
    data = _sample(t, sosfiltfilt(sos, stacked, axis=0), t_out)
    data += rng.normal(0.0, 0.15, data.shape[1])  # per-axis bias
    data += rng.normal(0.0, 0.06, data.shape)  # white noise
    for i in range(len(ACC_LOCATIONS)):
        if rng.random() < cfg.dropout_probability:
            n = int(rng.uniform(0.02, 0.06) * rate)
            start = int(rng.integers(0, max(1, t_out.size - n)))
            data[start : start + n, 3 * i : 3 * i + 3] = np.nan
    data = np.clip(data, -SATURATION, SATURATION)
    channels = tuple(c.acc_channel(loc, ax) for loc in ACC_LOCATIONS for ax in c.AXES)
    return Stream(c.STREAM_ACC, rate, t_out, channels, data, ("m/s^2",) * len(channels))


def _device_kin(
    t: np.ndarray,
    legs: dict[str, dict[tuple[str, str], np.ndarray]],
    session: SubjectSession,
    rate: float,
    duration: float,
    rng: np.random.Generator,
) -> Stream:
    t_out = np.arange(0.0, duration, 1.0 / rate)
    keys = [(j, s, p) for j in c.JOINTS for s in c.SIDES for p in c.PLANES]
    true = np.stack([legs[s][(j, p)] for j, s, p in keys], axis=1)
    data = _sample(t, true, t_out)
    data += np.array([session.mocap_offset[k] for k in keys])
    data += rng.normal(0.0, 0.3, data.shape)
    channels = tuple(c.angle_channel(*k) for k in keys)
    return Stream(c.STREAM_KIN, rate, t_out, channels, data, ("deg",) * len(channels))


def _device_grf(
    t: np.ndarray, forces: gait.Forces, rate: float, duration: float, rng: np.random.Generator
) -> Stream:
    t_out = np.arange(0.0, duration, 1.0 / rate)
    cols, units, names = [], [], []
    for side in c.SIDES:
        f = _sample(t, forces.grf[side], t_out)
        f += rng.normal(0.0, 1.0, 3) + rng.normal(0.0, [0.8, 0.8, 1.5], f.shape)
        cop = _sample(t, np.nan_to_num(forces.cop[side]), t_out)
        cop += rng.normal(0.0, 0.002, cop.shape)
        cop[f[:, 2] < 20.0] = np.nan  # COP is undefined without load
        cols += [f, cop]
        names += [c.grf_channel(side, ax) for ax in c.AXES]
        names += [c.cop_channel(side, ax) for ax in ("x", "y")]
        units += ["N"] * 3 + ["m"] * 2
    return Stream(
        c.STREAM_GRF, rate, t_out, tuple(names), np.concatenate(cols, axis=1), tuple(units)
    )


def _events(steps: gait.Steps, duration: float) -> dict[str, list[float]]:
    def inside(x: np.ndarray) -> list[float]:
        return [round(float(v), 4) for v in x if 0.0 <= v < duration]

    out = {}
    for side in c.SIDES:
        out[f"heel_strikes_{side}"] = inside(steps.heel_strikes[side])
        out[f"toe_offs_{side}"] = inside(steps.toe_offs[side])
    return out


def simulate_trial(
    session: SubjectSession, trial_index: int, kind: str, cohort_id: str, cfg: SynthConfig
) -> Trial:
    """One trial of a subject; deterministic for (seed, subject, trial index)."""
    subject = session.subject
    rng = subject_rng(cfg.seed, subject.index, _TRIAL_BASE + trial_index)
    walking = kind == "walking"
    duration = cfg.trial_duration_s if walking else cfg.static_duration_s
    fs = max(cfg.rates.force_hz, 1000.0)
    t = np.arange(-PAD_S, duration + PAD_S, 1.0 / fs)
    if walking:
        speed = subject.speed_mps * (1.0 + 0.04 * rng.standard_normal())
        steps = gait.plan_steps(subject, speed, t[0], t[-1], rng)
        forces = gait.walking_forces(t, steps, subject, speed, rng)
        phases = {
            s: kinematics.cycle_phase(t, steps.heel_strikes[s], steps.toe_offs[s]) for s in c.SIDES
        }
        legs = {
            s: kinematics.joint_angles(phases[s], s, subject, session.style, speed) for s in c.SIDES
        }
        pelvis = kinematics.pelvis_angles(phases["l"], subject)
        heel = steps.heel_strikes
        extra = {"speed_mps": round(speed, 4), "synthetic": _events(steps, duration)}
    else:
        forces = gait.standing_forces(t, subject, rng)
        sway = 0.5 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6.3))
        legs = {s: _standing_angles(t, s, subject, sway) for s in c.SIDES}
        pelvis = {"tilt": 10.0 + sway, "obliquity": 0.0 * t, "rotation": 0.0 * t}
        heel = {s: np.array([t[0] - 10.0]) for s in c.SIDES}
        extra = {"speed_mps": 0.0}
    motion = kinematics.body_motion(pelvis, legs, subject)
    acc_true = _accelerometers(t, motion, forces, heel, session, rng)
    streams = {
        c.STREAM_ACC: _device_acc(t, acc_true, subject.accelerometer_hz, duration, cfg, rng),
        c.STREAM_KIN: _device_kin(t, legs, session, cfg.rates.kinematics_hz, duration, rng),
        c.STREAM_GRF: _device_grf(t, forces, cfg.rates.force_hz, duration, rng),
    }
    number = trial_index + 1 if walking else trial_index - cfg.walking_trials + 1
    trial_id = f"{subject.subject_id}_{'walk' if walking else 'static'}{number:02d}"
    trial = Trial(trial_id, subject.subject_id, cohort_id, kind, streams, extra)
    sim = marker_path.TrialMotion(t, motion, forces, legs, speed if walking else 0.0)
    return marker_path.choose_inputs(trial, sim, subject, cfg, trial_index)


def _standing_angles(
    t: np.ndarray, side: str, subject: SubjectTruth, sway: np.ndarray
) -> dict[tuple[str, str], np.ndarray]:
    base = {("hip", "flex"): 8.0, ("knee", "flex"): 3.0, ("ankle", "flex"): 2.0}
    out = {
        k: np.full_like(t, base.get(k, 0.0)) + (sway if k[1] == "flex" else 0.0)
        for k in kinematics.KEY_POINTS
    }
    out[("knee", "add")] = out[("knee", "add")] - subject.hka_deg[side]
    return out
