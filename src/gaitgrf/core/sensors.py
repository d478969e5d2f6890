"""The one sensor model shared by the synthetic generator and the virtual accelerometers.

A model trained on synthetic cohorts can only be applied to real recordings if both describe a
sensor the same way, so this module fixes:

* **Segment frames.** Every segment has x anterior, y to the subject's left and z along the
  segment towards proximal (the foot: z normal to the sole, x towards the toes). Standing upright
  in the neutral pose, every segment frame equals the heading frame.
* **Sites.** Where each accelerometer sits on its segment (`SENSOR_SITES`), scaled with height.
* **Measurement.** An accelerometer measures *specific force*, `R^T (a - g)`, in m/s^2, where
  `a` is the world acceleration of the site, `g = (0, 0, -9.80665)` and the columns of `R` are
  the sensor axes in the heading frame. A still, upright sensor reads about +9.81 on z.
* **Rotations.** Orientation of a segment from its angles: `R = Rz(yaw) @ Rx(roll) @ Ry(pitch)`,
  right-handed about the heading axes. Positive pitch tips the segment's z axis forward;
  positive roll tips it to the right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

GRAVITY: Final = 9.80665
GRAVITY_VECTOR: Final = np.array([0.0, 0.0, -GRAVITY])
#: Heights the site offsets below were written for; offsets scale linearly with height.
REFERENCE_HEIGHT_M: Final = 1.75


@dataclass(frozen=True)
class SensorSite:
    """Where a sensor sits: on `segment`, `along` the long axis, then `offset_m` in its frame."""

    location: str
    segment: str
    side: str | None
    #: Fraction of the segment length from the proximal joint (pelvis: from the sacrum origin).
    along: float
    #: (x, y, z) in the segment frame for a 1.75 m subject; y is mirrored for the right side.
    offset_m: tuple[float, float, float]

    def offset_for(self, height_m: float) -> np.ndarray:
        """Offset in metres in the segment frame, mirrored to the subject's side."""
        mirror = -1.0 if self.side == "r" else 1.0
        x, y, z = self.offset_m
        return np.array([x, mirror * y, z]) * (height_m / REFERENCE_HEIGHT_M)


#: Sacrum at the level of S2 (the pelvis origin); lateral mid-thigh; lateral shank a third of
#: the way down (clear of the muscle belly); dorsum of the foot over the midfoot.
SENSOR_SITES: Final = {
    "pelvis": SensorSite("pelvis", "pelvis", None, 0.0, (0.0, 0.0, 0.0)),
    "thigh_l": SensorSite("thigh_l", "thigh", "l", 0.5, (0.0, 0.08, 0.0)),
    "thigh_r": SensorSite("thigh_r", "thigh", "r", 0.5, (0.0, 0.08, 0.0)),
    "shank_l": SensorSite("shank_l", "shank", "l", 0.35, (0.01, 0.05, 0.0)),
    "shank_r": SensorSite("shank_r", "shank", "r", 0.35, (0.01, 0.05, 0.0)),
    "foot_l": SensorSite("foot_l", "foot", "l", 0.0, (0.06, 0.0, 0.05)),
    "foot_r": SensorSite("foot_r", "foot", "r", 0.0, (0.06, 0.0, 0.05)),
}


def rot_x(angle: np.ndarray) -> np.ndarray:
    """Rotations about x for an array of angles (radians): shape (..., 3, 3)."""
    ca, sa = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    return np.stack(
        [
            np.stack([one, zero, zero], -1),
            np.stack([zero, ca, -sa], -1),
            np.stack([zero, sa, ca], -1),
        ],
        -2,
    )


def rot_y(angle: np.ndarray) -> np.ndarray:
    ca, sa = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    return np.stack(
        [
            np.stack([ca, zero, sa], -1),
            np.stack([zero, one, zero], -1),
            np.stack([-sa, zero, ca], -1),
        ],
        -2,
    )


def rot_z(angle: np.ndarray) -> np.ndarray:
    ca, sa = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    return np.stack(
        [
            np.stack([ca, -sa, zero], -1),
            np.stack([sa, ca, zero], -1),
            np.stack([zero, zero, one], -1),
        ],
        -2,
    )


def segment_rotation(pitch: np.ndarray, roll: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Segment orientation from heading-frame angles in radians (see the module docstring)."""
    return rot_z(yaw) @ rot_x(roll) @ rot_y(pitch)


def specific_force(acc_world: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """What an accelerometer reads: `R^T (a - g)` for each sample.

    acc_world: (n, 3) acceleration of the site in the heading frame; rotation: (n, 3, 3) or (3, 3)
    with the sensor axes as columns.
    """
    f = acc_world - GRAVITY_VECTOR
    if rotation.ndim == 2:
        return f @ rotation
    return np.einsum("nji,nj->ni", rotation, f)


def segment_angles(rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of `segment_rotation`: (pitch, roll, yaw) in radians from (..., 3, 3) matrices.

    Used to read joint angles off measured segment frames with the same convention the
    synthetic generator composes them with, so both paths agree on signs.
    """
    r = np.asarray(rotation)
    roll = np.arcsin(np.clip(r[..., 2, 1], -1.0, 1.0))
    pitch = np.arctan2(-r[..., 2, 0], r[..., 2, 2])
    yaw = np.arctan2(-r[..., 0, 1], r[..., 1, 1])
    return pitch, roll, yaw
