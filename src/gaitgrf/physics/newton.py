"""The whole body's ground reaction force from its accelerometers: Newton, in body weights.

`GRF_l + GRF_r = sum_i m_i (a_i - g)`. Each accelerometer reads `f_i = R_i^T (a_i - g)`, so
`a_i - g = R_i f_i` and, with the mass fractions `w_i` of `segments.SENSOR_MASS` (summing to
one), the total force in body weights is `sum_i w_i R_i f_i / |g|`: the body mass cancels, which
is why the estimate needs no subject value at all.

What it cannot see: the trunk, head and arms moving relative to the pelvis (the pelvis sensor
stands for all of the HAT; Liang & Chou 2024 found a pelvis sensor a weak stand-in for the
centre of mass, r 0.58), the feet (carried by the shank sensors) and sensor misalignment.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from gaitgrf.core.sensors import GRAVITY
from gaitgrf.physics.segments import SENSOR_MASS, gravity_tilt, leg_rotations


def total_force_bw(
    readings: Mapping[str, np.ndarray], angles_deg: Mapping[tuple[str, str, str], np.ndarray]
) -> np.ndarray:
    """(n, 3) summed GRF of both feet in the heading frame (x forward, y left, z up), BW.

    `readings[location]` is the specific force (n, 3) of `pelvis`, `thigh_l`, `thigh_r`,
    `shank_l`, `shank_r` on one time base; `angles_deg` the hip and knee angles on the same one.
    """
    pelvis_f = np.asarray(readings["pelvis"], dtype=float)
    finite = np.isfinite(pelvis_f).all(axis=1)
    tilt = gravity_tilt(pelvis_f[finite].mean(axis=0) if finite.any() else np.zeros(3))
    pelvis = np.broadcast_to(tilt, (pelvis_f.shape[0], 3, 3))
    total = SENSOR_MASS["pelvis"] * pelvis_f @ tilt.T
    for side in ("l", "r"):
        thigh, shank = leg_rotations(pelvis, angles_deg, side)
        for location, rotation in ((f"thigh_{side}", thigh), (f"shank_{side}", shank)):
            world = np.einsum("nij,nj->ni", rotation, np.asarray(readings[location], dtype=float))
            total = total + SENSOR_MASS[location] * world
    return total / GRAVITY
