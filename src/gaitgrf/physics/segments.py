"""Segment masses and orientations: what turns accelerometer readings into a body's force.

An accelerometer reads specific force in its own frame, `f = R^T (a - g)`
(`gaitgrf.core.sensors`). Newton needs `a - g` in the heading frame, so each reading is rotated
back with the orientation of its segment. Wearables carry no orientation of their own here (no
gyroscope in the contract), so the orientations come from what the model inputs already hold:

* the **pelvis** from gravity: averaged over a walking trial the centre of mass does not
  accelerate, so the mean pelvis reading points along the pelvis frame's image of "up"; its
  pitch (anterior tilt) and roll (obliquity) follow. Yaw is the heading frame's: zero.
* the **thighs** and **shanks** from the joint angles down the chain pelvis -> thigh -> shank,
  composed exactly as `ingest.segment_model.frames.joint_angles` decomposes them (the
  generator's additive chain agrees to first order).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np

from gaitgrf.core.sensors import segment_rotation

#: Winter (2009), Biomechanics and Motor Control of Human Movement, table 4.1: fraction of body
#: mass per segment (HAT = head, arms and trunk, with the pelvis).
MASS_FRACTION: Final = {"hat": 0.678, "thigh": 0.100, "shank": 0.0465, "foot": 0.0145}
#: Which accelerometer stands for which mass: the pelvis sensor for the HAT, each thigh sensor
#: for its thigh, each shank sensor for its shank and foot (no foot sensor is required).
SENSOR_MASS: Final = {
    "pelvis": MASS_FRACTION["hat"],
    "thigh_l": MASS_FRACTION["thigh"],
    "thigh_r": MASS_FRACTION["thigh"],
    "shank_l": MASS_FRACTION["shank"] + MASS_FRACTION["foot"],
    "shank_r": MASS_FRACTION["shank"] + MASS_FRACTION["foot"],
}
#: Joint angles the leg chain needs, per side.
CHAIN_JOINTS: Final = ("hip", "knee")


def gravity_tilt(mean_reading: np.ndarray) -> np.ndarray:
    """The static pelvis orientation (3x3, zero yaw) that maps the mean reading onto +z.

    With `R = Rx(roll) Ry(pitch)`, `R^T z = (-sin p cos r, sin r, cos p cos r)`; a reading with
    no length (a dead sensor) leaves the pelvis upright.
    """
    norm = float(np.linalg.norm(mean_reading))
    if not np.isfinite(norm) or norm == 0.0:
        return np.eye(3)
    u = np.asarray(mean_reading, dtype=float) / norm
    roll = np.arcsin(np.clip(u[1], -1.0, 1.0))
    pitch = np.arctan2(-u[0], u[2])
    return segment_rotation(np.array(pitch), np.array(roll), np.array(0.0))


def leg_rotations(
    pelvis: np.ndarray, angles_deg: Mapping[tuple[str, str, str], np.ndarray], side: str
) -> tuple[np.ndarray, np.ndarray]:
    """Thigh and shank orientations (n, 3, 3) of leg `side` from the pelvis and joint angles.

    `angles_deg[(joint, side, plane)]` holds the contract's angles (flexion, adduction,
    internal rotation positive on both legs). The relative rotations are the inverse of
    `frames.joint_angles`: hip pitch = -flexion, knee pitch = +flexion, roll = -s * adduction,
    yaw = -s * rotation with s = +1 left, -1 right.
    """
    sign = 1.0 if side == "l" else -1.0

    def relative(joint: str, flex_sign: float) -> np.ndarray:
        flex, add, rot = (np.radians(angles_deg[(joint, side, p)]) for p in ("flex", "add", "rot"))
        return segment_rotation(flex_sign * flex, -sign * add, -sign * rot)

    thigh = pelvis @ relative("hip", -1.0)
    shank = thigh @ relative("knee", 1.0)
    return thigh, shank
