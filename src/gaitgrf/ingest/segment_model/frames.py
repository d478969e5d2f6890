"""Segment frames over time and what is read off them: the `Body`, joint angles, alignment.

Both segment models (`landmarks`, `clusters`) build a `Body`; everything downstream (virtual
accelerometers, kinematics, foot assignment, knee alignment) reads only the `Body`, so it is
the same for every marker set. The heading frame (x forward, y left, z up) is defined here too:
the trial's reference rotation (`heading_rotation`) and the walking direction over time
relative to it (`heading_yaw`), so that a turning subject's forces are read in its own axes.
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


# --- heading over time -----------------------------------------------------------------------
#: Strides outside this range (s) are taken as a failed estimate, not as a walking pace.
STRIDE_RANGE_S = (0.6, 4.0)


def turn(xy: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Horizontal vectors (n, 2) of the reference frame as read in a frame turned by `yaw`.

    `yaw` (n,) rad is the walking direction measured from the reference x towards its y (a left
    turn is positive): a vector along that direction reads (|v|, 0).
    """
    c, s = np.cos(yaw), np.sin(yaw)
    return np.stack([c * xy[:, 0] + s * xy[:, 1], -s * xy[:, 0] + c * xy[:, 1]], axis=1)


def _moving_mean(x: np.ndarray, k: int) -> np.ndarray:
    """Centred running mean over k samples along axis 0, shorter windows at the edges."""
    kernel = np.ones(max(1, min(k, len(x))))  # no longer than x, or "same" outgrows it
    ones = np.convolve(np.ones(len(x)), kernel, mode="same")
    cols = [np.convolve(col, kernel, mode="same") / ones for col in np.atleast_2d(x.T)]
    return np.stack(cols, axis=-1)


def stride_period(
    pelvis_xy: np.ndarray, feet_xy: tuple[np.ndarray, np.ndarray], rate_hz: float
) -> float | None:
    """Stride time (s): twice the median time between the feet passing each other.

    The signed distance of the left foot ahead of the right, along the pelvis' smoothed
    horizontal velocity, changes sign once per step in mid-swing; a 5 cm dead band keeps
    marker noise from counting as a pass while the feet are side by side. None when fewer
    than two passes are seen (a trial shorter than about one stride) or the result is not a
    walking stride (`STRIDE_RANGE_S`).
    """
    velocity = _moving_mean(np.gradient(pelvis_xy, axis=0), max(1, round(0.5 * rate_hz)))
    ahead = np.sum((feet_xy[0] - feet_xy[1]) * unit(velocity), axis=1)
    side = np.where(ahead > 0.05, 1, np.where(ahead < -0.05, -1, 0))
    decided = np.flatnonzero(side)
    passes = decided[1:][np.diff(side[decided]) != 0]
    if passes.size < 2:
        return None
    stride = 2.0 * float(np.median(np.diff(passes))) / rate_hz
    return stride if STRIDE_RANGE_S[0] <= stride <= STRIDE_RANGE_S[1] else None


def heading_yaw(
    pelvis_xy: np.ndarray, rate_hz: float, stride_s: float, min_move_m: float = 0.1
) -> np.ndarray:
    """Walking direction over time (rad from the reference x, towards y), one value a sample.

    The direction of the pelvis' horizontal displacement over one stride centred on each
    sample. A window of exactly one stride is the mean velocity over the gait cycle, whose
    side-to-side sway and forward surges repeat every stride and cancel, so no further
    smoothing is needed; on a straight walk it is the trial's single heading. Windows in which
    the pelvis moves less than `min_move_m` (a pause) say nothing about direction and are
    bridged from their neighbours. The first and last half strides, where no window fits,
    continue the turn rate of the nearest stride of windows (held constant when less than half
    a stride of windows exists). A trial shorter than a stride, or standing still: all 0.
    """
    n = len(pelvis_xy)
    half = round(0.5 * stride_s * rate_hz)
    yaw = np.zeros(n)
    if half < 1 or n < 2 * half + 2:
        return yaw
    d = pelvis_xy[2 * half :] - pelvis_xy[: -2 * half]
    ok = np.linalg.norm(d, axis=1) >= min_move_m
    if not ok.any():
        return yaw
    centres = np.arange(half, n - half)
    angle = np.unwrap(np.arctan2(d[ok, 1], d[ok, 0]))
    inner = np.interp(centres, centres[ok], angle)
    yaw[half : n - half] = inner
    span = min(2 * half, inner.size)
    fits = inner.size >= half
    for sl, at in ((slice(0, span), 0), (slice(inner.size - span, inner.size), -1)):
        rate = float(np.polyfit(centres[sl], inner[sl], 1)[0]) if fits else 0.0
        edge = np.arange(0, half) if at == 0 else np.arange(n - half, n)
        yaw[edge] = inner[at] + rate * (edge - centres[at])
    return yaw


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
