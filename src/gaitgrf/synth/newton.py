"""Newton for the synthetic body: the one balance every input path of the generator obeys.

The direct sensor model (`trials`) and the marker path (`marker_path`) both move the pelvis by
what the forces leave once the limbs' and the trunk's own accelerations are accounted for, so
it is written once here.
"""

from __future__ import annotations

import numpy as np

from gaitgrf.core.sensors import GRAVITY_VECTOR
from gaitgrf.synth import gait, kinematics


def second_derivative(x: np.ndarray, dt: float) -> np.ndarray:
    return np.gradient(np.gradient(x, dt, axis=0), dt, axis=0)


def body_accelerations(
    t: np.ndarray, motion: kinematics.BodyMotion, forces: gait.Forces, mass: float
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Pelvis acceleration (world) and every point's acceleration relative to the pelvis.

    Newton for the whole body, sum m_i (a_pelvis + a_rel_i) = GRF_l + GRF_r + m g, solved for
    the pelvis: what the forces leave once the limbs' and the swaying trunk's (the 'hat' point)
    own accelerations are accounted for. The heel-strike transient is left out here: the
    decelerating shank and foot carry it.
    """
    dt = float(t[1] - t[0])
    rel = {k: second_derivative(p, dt) for k, p in motion.points.items()}
    total = forces.grf["l"] + forces.grf["r"] - forces.impact["l"] - forces.impact["r"]
    limbs = sum(m * rel[name] for name, m in motion.masses.items())
    return total / mass + GRAVITY_VECTOR - limbs / mass, rel
