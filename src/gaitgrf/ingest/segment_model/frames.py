"""Segment frames over time and what is read off them: the `Body`, joint angles, alignment.

Both segment models (`landmarks`, `clusters`) build a `Body`; everything downstream (virtual
accelerometers, kinematics, foot assignment, knee alignment) reads only the `Body`, so it is
the same for every marker set. The heading frame (x forward, y left, z up) is defined here too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaitgrf.core import contract as c
from gaitgrf.core.sensors import segment_angles


def unit(v: np.ndarray) -> np.ndarray:
    """Row-wise unit vectors; a zero-length row becomes NaN rather than dividing by zero."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n > 0, n, np.nan)


def proj(v: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """The component of `v` along the unit vector `direction` (row-wise)."""
    return np.sum(v * direction, axis=-1, keepdims=True) * direction


def frame_from_z(z_axis: np.ndarray, y_hint: np.ndarray) -> np.ndarray:
    """(n, 3, 3) with columns x, y, z: z exact, y as close to `y_hint` as orthogonality allows."""
    z = unit(z_axis)
    x = unit(np.cross(y_hint, z))
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1)


def frame_from_x(x_axis: np.ndarray, z_hint: np.ndarray) -> np.ndarray:
    """(n, 3, 3) with columns x, y, z: x exact, z as close to `z_hint` as orthogonality allows."""
    x = unit(x_axis)
    y = unit(np.cross(z_hint, x))
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=-1)


def cluster_frame(points: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Technical frame of a rigid marker cluster: rotation (n, 3, 3) and origin (n, 3).

    Origin at the centroid, x towards the first marker, z normal to the plane of the first two
    markers about the centroid. Only rigidity matters: anatomical axes are built afterwards.
    """
    stack = np.stack(points, axis=1)
    origin = stack.mean(axis=1)
    first, second = stack[:, 0] - origin, stack[:, 1] - origin
    x = unit(first)
    z = unit(np.cross(first, second))
    return np.stack([x, np.cross(z, x), z], axis=-1), origin


@dataclass(frozen=True)
class Body:
    """Joint centres, landmarks and segment frames over time (heading frame, metres)."""

    points: dict[str, np.ndarray]
    rotations: dict[str, np.ndarray]
    #: How each joint centre was obtained, per side (for the import report).
    methods: dict[str, str]

    def segment_length(self, segment: str, side: str) -> float:
        proximal, distal = {"thigh": ("hip", "knee"), "shank": ("knee", "ankle")}[segment]
        d = self.points[f"{proximal}_{side}"] - self.points[f"{distal}_{side}"]
        return float(np.median(np.linalg.norm(d, axis=1)))


# --- angles ----------------------------------------------------------------------------------
def joint_angles(body: Body) -> dict[tuple[str, str, str], np.ndarray]:
    """Hip, knee and ankle angles (deg) in the contract's convention, from the segment frames.

    The relative rotation of the distal segment in the proximal one is decomposed like the
    generator composes segments (`sensors.segment_rotation`), so flexion, adduction (knee:
    varus) and internal rotation come out positive on both sides.
    """
    out: dict[tuple[str, str, str], np.ndarray] = {}
    for side in c.SIDES:
        sign = 1.0 if side == "l" else -1.0
        pairs = {
            "hip": ("pelvis", f"thigh_{side}", -1.0),
            "knee": (f"thigh_{side}", f"shank_{side}", 1.0),
            "ankle": (f"shank_{side}", f"foot_{side}", -1.0),
        }
        for joint, (prox, dist, flex_sign) in pairs.items():
            rel = np.einsum("nji,njk->nik", body.rotations[prox], body.rotations[dist])
            pitch, roll, yaw = segment_angles(rel)
            out[(joint, side, "flex")] = np.degrees(flex_sign * pitch)
            out[(joint, side, "add")] = np.degrees(-sign * roll)
            out[(joint, side, "rot")] = np.degrees(-sign * yaw)
    return out


# --- heading ---------------------------------------------------------------------------------
def snap_axis(v: np.ndarray, min_cos: float = 0.9) -> np.ndarray | None:
    """The lab axis (+-x, +-y, +-z) closest to direction v, or None when none is close."""
    u = v / np.linalg.norm(v)
    k = int(np.argmax(np.abs(u)))
    if abs(u[k]) < min_cos:
        return None
    axis = np.zeros(3)
    axis[k] = np.sign(u[k])
    return axis


def heading_rotation(up: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """3x3 whose rows are the heading axes (x forward, y left, z up) in lab coordinates."""
    z = up / np.linalg.norm(up)
    x = forward - np.dot(forward, z) * z
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z])


# --- knee alignment --------------------------------------------------------------------------
def knee_alignment_deg(body: Body, side: str) -> float:
    """Frontal-plane hip-knee-ankle angle (deg), varus negative, from mean joint centres.

    Centres are projected onto the heading frame's y-z plane (the frontal plane of a subject
    standing facing x); the angle is the tibial mechanical axis' direction minus the femoral
    one, measured towards lateral, so a knee lateral of the hip-ankle line (varus) is negative.
    """
    lateral = 1.0 if side == "l" else -1.0
    hip, knee, ankle = (
        np.mean(body.points[f"{j}_{side}"], axis=0) for j in ("hip", "knee", "ankle")
    )

    def direction(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.arctan2(lateral * (b[1] - a[1]), -(b[2] - a[2])))

    return float(np.degrees(direction(knee, ankle) - direction(hip, knee)))
