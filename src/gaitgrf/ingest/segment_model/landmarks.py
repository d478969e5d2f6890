"""The anatomical-marker segment model: joint centres and frames from named landmarks.

Used for marker sets with anatomical landmarks (Plug-in Gait, OpenSim); `clusters` covers
recordings with technical clusters only. The package docstring lists the rules for each joint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from gaitgrf.core import contract as c
from gaitgrf.ingest.segment_model.frames import Body, frame_from_x, frame_from_z, proj, unit
from gaitgrf.ingest.segment_model.markers import MarkerMap

#: Defaults of the lateral-marker offset when the lab did not record joint widths (adult means).
DEFAULT_KNEE_WIDTH_M = 0.100
DEFAULT_ANKLE_WIDTH_M = 0.070
MARKER_RADIUS_M = 0.007

#: How a knee or ankle centre was found (`Body.methods`), best evidence first. The static knee
#: alignment (`alignment.static_alignment`) reads these: a centre placed with a default width
#: is a guess and gives no alignment.
CENTRE_MEDIAL = "midpoint of lateral and medial markers"
CENTRE_MODELLED = "joint centre exported by the lab's model"
CENTRE_WIDTH = "lateral marker moved medially by half the joint width"


def _joint_centre(
    lateral: np.ndarray,
    medial: np.ndarray | None,
    modelled: np.ndarray | None,
    y_axis: np.ndarray,
    side: str,
    width_m: float | None,
    default_width_m: float,
) -> tuple[np.ndarray, str]:
    """A knee or ankle centre and how it was found: best evidence first (see the package doc)."""
    if medial is not None:
        return 0.5 * (lateral + medial), CENTRE_MEDIAL
    if modelled is not None:
        return modelled, CENTRE_MODELLED
    width = width_m if width_m is not None else default_width_m
    how = CENTRE_WIDTH + (
        "" if width_m is not None else f" (width unknown: default {default_width_m} m)"
    )
    return offset_centre(lateral, y_axis, side, width), how


def offset_centre(lateral: np.ndarray, y_axis: np.ndarray, side: str, width_m: float) -> np.ndarray:
    """Plug-in Gait's rule for a joint centre without a medial marker (Davis et al. 1991).

    The centre lies medial of the lateral marker by half the joint width (the lab's caliper
    measurement, PROCESSING:KneeWidth/AnkleWidth) plus the marker's radius, the marker sitting
    on the skin. `y_axis` (n, 3) is the joint's medio-lateral axis pointing to the subject's
    left, so medial is -y on the left leg and +y on the right.
    """
    inward = -y_axis if side == "l" else y_axis
    return lateral + (0.5 * width_m + MARKER_RADIUS_M) * inward


@dataclass(frozen=True)
class _Landmarks:
    """The heading-frame markers looked up by landmark role, so the model never sees labels."""

    markers: Mapping[str, np.ndarray]
    mapping: MarkerMap

    def get(self, role: str, side: str) -> np.ndarray | None:
        name = self.mapping.sided.get((role, side))
        return None if name is None else np.asarray(self.markers[name])


@dataclass(frozen=True)
class _Pelvis:
    """The pelvis segment and the sizes the hip-centre regression needs."""

    asis_mid: np.ndarray
    sacrum: np.ndarray
    rotation: np.ndarray
    #: (n, 1) distance between the ASIS markers.
    width: np.ndarray
    #: (n, 1) distance from the back (PSIS midpoint or sacrum) to the ASIS midpoint.
    depth: np.ndarray


def _pelvis(marks: _Landmarks) -> _Pelvis:
    """Pelvis frame: y right to left ASIS, x from the back towards the ASIS midpoint."""
    asis_l, asis_r = marks.get("asis", "l"), marks.get("asis", "r")
    assert asis_l is not None and asis_r is not None
    asis_mid = 0.5 * (asis_l + asis_r)
    psis_l, psis_r = marks.get("psis", "l"), marks.get("psis", "r")
    sacrum_name = marks.mapping.central.get("sacrum")
    if psis_l is not None and psis_r is not None:
        back = 0.5 * (psis_l + psis_r)
    else:
        assert sacrum_name is not None
        back = np.asarray(marks.markers[sacrum_name])
    sacrum = np.asarray(marks.markers[sacrum_name]) if sacrum_name is not None else back
    y_pelvis = unit(asis_l - asis_r)
    forward = asis_mid - back
    x_pelvis = unit(forward - proj(forward, y_pelvis))
    r_pelvis = np.stack([x_pelvis, y_pelvis, np.cross(x_pelvis, y_pelvis)], axis=-1)
    width = np.linalg.norm(asis_l - asis_r, axis=1, keepdims=True)
    depth = np.linalg.norm(asis_mid - back, axis=1, keepdims=True)
    return _Pelvis(asis_mid, sacrum, r_pelvis, width, depth)


def _hip_centre(marks: _Landmarks, pelvis: _Pelvis, side: str) -> tuple[np.ndarray, str]:
    """The lab's hip-centre marker, else the Harrington et al. (2007) regression."""
    sign = 1.0 if side == "l" else -1.0
    hjc = marks.get("hjc_marker", side)
    if hjc is not None:
        return hjc, "hip-centre marker exported by the lab"
    # Harrington et al. (2007), metres, from the ASIS midpoint in the pelvis frame.
    local = np.concatenate(
        [
            -0.24 * pelvis.depth - 0.0099,
            sign * (0.33 * pelvis.width + 0.0073),
            -0.30 * pelvis.width - 0.0109,
        ],
        axis=1,
    )
    hjc = pelvis.asis_mid + np.einsum("nij,nj->ni", pelvis.rotation, local)
    return hjc, "Harrington et al. 2007 regression from the pelvis markers"


def _leg(
    marks: _Landmarks,
    r_pelvis: np.ndarray,
    side: str,
    hjc: np.ndarray,
    widths: Mapping[str, float],
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, str]]:
    """Knee and ankle centres, thigh, shank and foot frames of one side.

    Returns the side's points, segment rotations and joint-centre methods (knee, then ankle).
    """
    sign = 1.0 if side == "l" else -1.0
    methods: dict[str, str] = {}
    knee_lat = marks.get("knee_lat", side)
    ankle_lat = marks.get("ankle_lat", side)
    heel, toe = marks.get("heel", side), marks.get("toe", side)
    assert knee_lat is not None and ankle_lat is not None and heel is not None
    assert toe is not None
    knee_med, ankle_med = marks.get("knee_med", side), marks.get("ankle_med", side)
    y_knee = r_pelvis[:, :, 1] if knee_med is None else sign * unit(knee_lat - knee_med)
    kjc, how = _joint_centre(
        knee_lat,
        knee_med,
        marks.get("kjc_marker", side),
        y_knee,
        side,
        widths.get(f"knee_{side}"),
        DEFAULT_KNEE_WIDTH_M,
    )
    methods[f"knee_{side}"] = how
    y_ankle = y_knee if ankle_med is None else sign * unit(ankle_lat - ankle_med)
    ajc, how = _joint_centre(
        ankle_lat,
        ankle_med,
        marks.get("ajc_marker", side),
        y_ankle,
        side,
        widths.get(f"ankle_{side}"),
        DEFAULT_ANKLE_WIDTH_M,
    )
    methods[f"ankle_{side}"] = how
    r_thigh = frame_from_z(hjc - kjc, y_knee)
    r_shank = frame_from_z(kjc - ajc, y_ankle)
    r_foot = frame_from_x(toe - heel, r_shank[:, :, 2])
    points = {
        f"hip_{side}": hjc,
        f"knee_{side}": kjc,
        f"ankle_{side}": ajc,
        f"heel_{side}": heel,
        f"toe_{side}": toe,
    }
    rotations = {f"thigh_{side}": r_thigh, f"shank_{side}": r_shank, f"foot_{side}": r_foot}
    return points, rotations, methods


def build_body(
    markers: Mapping[str, np.ndarray],
    mapping: MarkerMap,
    widths: Mapping[str, float] | None = None,
) -> Body:
    """Segment model from markers already in the heading frame (n, 3 each, no NaN).

    `widths` may give 'knee_l', 'knee_r', 'ankle_l', 'ankle_r' in metres (Plug-in Gait's
    KneeWidth/AnkleWidth) for the lateral-marker offsets.
    """
    widths = dict(widths or {})
    marks = _Landmarks(markers, mapping)
    pelvis = _pelvis(marks)
    points: dict[str, np.ndarray] = {"sacrum": pelvis.sacrum, "asis_mid": pelvis.asis_mid}
    rotations = {"pelvis": pelvis.rotation}
    methods: dict[str, str] = {}
    for side in c.SIDES:
        hjc, methods[f"hip_{side}"] = _hip_centre(marks, pelvis, side)
        leg_points, leg_rotations, leg_methods = _leg(marks, pelvis.rotation, side, hjc, widths)
        methods |= leg_methods
        points |= leg_points
        rotations |= leg_rotations
    return Body(points, rotations, methods)
