"""The cluster-only segment model: functional joint centres (SCoRE) between rigid clusters.

For recordings with technical marker clusters and no anatomical landmark (the c3d.org gait
sample): the motion of neighbouring clusters places the joint centres and the knee's axis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from gaitgrf.core import contract as c
from gaitgrf.ingest.segment_model.frames import (
    Body,
    cluster_frame,
    frame_from_x,
    frame_from_z,
    proj,
    unit,
)
from gaitgrf.ingest.segment_model.markers import MarkerMap

#: Winter's (2009) anthropometric table, fractions of stature: foot length.
FOOT_LENGTH_PER_HEIGHT = 0.152
#: Heel and toe-marker positions along the foot's long axis from the ankle centre, fractions of
#: foot length, for cluster-only feet: the ankle lies about a fifth of the foot in front of the
#: back of the heel, the metatarsal heads (the toe marker) about three quarters.
HEEL_FROM_ANKLE = -0.2
TOE_FROM_ANKLE = 0.55
#: Tikhonov weight (m^2 per sample, on the local joint-centre coordinates) of the functional
#: joint-centre fit: it only matters along a hinge's axis, where the motion cannot place the
#: centre, and there pulls it towards the two clusters (the least-norm solution).
SCORE_RIDGE = 1e-4


@dataclass(frozen=True)
class FunctionalJoint:
    """A joint centre fitted from the motion of two clusters (SCoRE, Ehrig et al. 2006)."""

    #: (n, 3) heading frame: the mean of the centre as seen from either cluster.
    centre: np.ndarray
    #: (n, 3) the direction the motion leaves least determined (a hinge's axis), in the
    #: proximal cluster's frame mapped to the heading frame; unsigned.
    axis: np.ndarray
    #: Its direction in the distal cluster's frame, mapped to the heading frame.
    axis_distal: np.ndarray
    #: RMS distance (m) between the centre seen from each cluster: how well one point fits.
    residual_m: float


def functional_joint(
    proximal: tuple[np.ndarray, np.ndarray],
    distal: tuple[np.ndarray, np.ndarray],
    ridge: float = SCORE_RIDGE,
) -> FunctionalJoint:
    """The point fixed in both clusters' frames that best follows their motion.

    Solves `R_p c_p + o_p = R_d c_d + o_d` for the local centres `c_p`, `c_d` by least squares
    over all samples (symmetrical centre of rotation estimation). A ball joint moved in every
    direction fixes the point; a hinge leaves its position along the axis free, and the small
    ridge keeps it near the clusters there.
    """
    (rp, op), (rd, od) = proximal, distal
    n = rp.shape[0]
    a = np.concatenate([rp, -rd], axis=2).reshape(-1, 6)
    b = (od - op).reshape(-1)
    u, sv, vt = np.linalg.svd(a, full_matrices=False)
    x = vt.T @ ((sv / (sv**2 + ridge * n)) * (u.T @ b))
    seen_p = np.einsum("nij,j->ni", rp, x[:3]) + op
    seen_d = np.einsum("nij,j->ni", rd, x[3:]) + od
    residual = float(np.sqrt(np.mean(np.sum((seen_p - seen_d) ** 2, axis=1))))
    axis_p = vt[-1, :3] / np.linalg.norm(vt[-1, :3])
    axis_d = vt[-1, 3:] / np.linalg.norm(vt[-1, 3:])
    return FunctionalJoint(
        0.5 * (seen_p + seen_d),
        np.einsum("nij,j->ni", rp, axis_p),
        np.einsum("nij,j->ni", rd, axis_d),
        residual,
    )


def _leftward(axis: np.ndarray) -> np.ndarray:
    """Sign an unsigned medio-lateral axis so that it points to the subject's left on average
    (heading +y: the subject walks or faces along heading +x)."""
    return axis if float(np.mean(axis[:, 1])) >= 0 else -axis


def _fit_joints(
    frames: Mapping[str, tuple[np.ndarray, np.ndarray]],
) -> tuple[dict[str, FunctionalJoint], dict[str, str]]:
    """Hip, knee and ankle of each side fitted between neighbouring clusters, and how well."""
    methods: dict[str, str] = {}
    joints: dict[str, FunctionalJoint] = {}
    for side in c.SIDES:
        for joint, prox, dist in (
            ("hip", "pelvis", f"thigh_{side}"),
            ("knee", f"thigh_{side}", f"shank_{side}"),
            ("ankle", f"shank_{side}", f"foot_{side}"),
        ):
            fit = functional_joint(frames[prox], frames[dist])
            joints[f"{joint}_{side}"] = fit
            methods[f"{joint}_{side}"] = (
                f"functional centre of the {prox}/{dist} clusters (SCoRE; "
                f"residual {1000 * fit.residual_m:.1f} mm)"
            )
    return joints, methods


def _foot_length(joints: Mapping[str, FunctionalJoint], height_m: float | None) -> float:
    """Foot length from stature: given, else from thigh + shank length (0.491 x stature)."""
    lengths = [
        float(
            np.median(np.linalg.norm(joints[f"{p}_{s}"].centre - joints[f"{d}_{s}"].centre, axis=1))
        )
        for s in c.SIDES
        for p, d in (("hip", "knee"), ("knee", "ankle"))
    ]
    height = height_m if height_m is not None else 0.5 * sum(lengths) / 0.491
    return FOOT_LENGTH_PER_HEIGHT * height


def build_body_from_clusters(
    markers: Mapping[str, np.ndarray],
    mapping: MarkerMap,
    height_m: float | None = None,
    forward: np.ndarray | None = None,
) -> Body:
    """Segment model from technical clusters only (heading frame, n x 3 each, no NaN).

    * Hip, knee and ankle centres are functional (`functional_joint`): pelvis-thigh,
      thigh-shank and shank-foot cluster pairs.
    * Pelvis: y from the right to the left hip centre; x the walking direction as the pelvis
      cluster carries it on average (its mean in the cluster frame), made orthogonal: the
      pelvis' mean tilt and rotation over the trial are 0 by construction. The walking
      direction is `forward` (n, 3) when given (the heading x over time, so a turning subject's
      pelvis turns with it), else the heading x. Sensor site: the pelvis cluster's centroid.
    * Thigh / shank: z from the distal to the proximal joint centre; y the knee's functional
      flexion axis as each cluster carries it, made orthogonal.
    * Foot: x from the proximal to the distal foot marker (the cluster's long axis), z in the
      plane holding the shank's z; heel and toe points on that axis from the ankle centre at
      fractions of a foot length of 0.152 x stature (given, else from thigh + shank lengths).
    """
    frames = {
        key: cluster_frame([markers[n] for n in names]) for key, names in mapping.clusters.items()
    }
    joints, methods = _fit_joints(frames)
    hip_l, hip_r = joints["hip_l"].centre, joints["hip_r"].centre
    y_pelvis = unit(hip_l - hip_r)
    r_cluster = frames["pelvis"][0]
    walking = np.broadcast_to([1.0, 0.0, 0.0] if forward is None else forward, (len(hip_l), 3))
    # The walking direction in the cluster frame, on average; then back in the heading frame.
    forward_local = np.mean(np.einsum("nji,nj->ni", r_cluster, walking), axis=0)
    ahead = np.einsum("nij,j->ni", r_cluster, forward_local)
    x_pelvis = unit(ahead - proj(ahead, y_pelvis))
    r_pelvis = np.stack([x_pelvis, y_pelvis, np.cross(x_pelvis, y_pelvis)], axis=-1)
    sacrum = frames["pelvis"][1]
    points: dict[str, np.ndarray] = {"sacrum": sacrum, "asis_mid": sacrum}
    rotations = {"pelvis": r_pelvis}
    methods["pelvis"] = "pelvis cluster: y between the functional hip centres, x its mean heading"
    foot_length = _foot_length(joints, height_m)
    for side in c.SIDES:
        hjc, kjc, ajc = (joints[f"{j}_{side}"].centre for j in ("hip", "knee", "ankle"))
        knee = joints[f"knee_{side}"]
        r_thigh = frame_from_z(hjc - kjc, _leftward(knee.axis))
        r_shank = frame_from_z(kjc - ajc, _leftward(knee.axis_distal))
        foot = mapping.clusters[f"foot_{side}"]
        r_foot = frame_from_x(markers[foot[0]] - markers[foot[-1]], r_shank[:, :, 2])
        along = r_foot[:, :, 0]
        points |= {
            f"hip_{side}": hjc,
            f"knee_{side}": kjc,
            f"ankle_{side}": ajc,
            f"heel_{side}": ajc + HEEL_FROM_ANKLE * foot_length * along,
            f"toe_{side}": ajc + TOE_FROM_ANKLE * foot_length * along,
        }
        rotations |= {f"thigh_{side}": r_thigh, f"shank_{side}": r_shank, f"foot_{side}": r_foot}
        methods[f"heel_{side}"] = (
            f"on the foot cluster's axis, {abs(HEEL_FROM_ANKLE):g} foot length behind the ankle "
            f"centre (foot length {foot_length:.3f} m)"
        )
    return Body(points, rotations, methods)
