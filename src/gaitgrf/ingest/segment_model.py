"""A simple lower-body segment model from skin markers: frames, joint centres, angles, alignment.

Real recordings come with different marker sets (Plug-in Gait, OpenCap/OpenSim). This module
names the anatomical landmarks it needs (`ROLES`), finds them under the names each set uses,
and builds the same segments the synthetic generator moves (`gaitgrf.core.sensors`): pelvis, thighs,
shanks and feet, each with x anterior, y to the subject's left and z along the segment towards
proximal. docs/importing.md describes the model; in short:

* **Pelvis**: y from the right to the left ASIS, x from the PSIS (or sacrum) towards the ASIS
  midpoint, z = x cross y. Sensor site: the sacrum marker, else the PSIS midpoint.
* **Hip joint centre**: a hip-centre marker where the lab exported one, else Harrington et al.
  (2007) from pelvis width and depth.
* **Knee / ankle joint centre**: the midpoint of lateral and medial markers where both exist,
  else a modelled centre exported by the lab (Plug-in Gait's KJC/AJC), else the lateral marker
  moved medially by half the joint width plus the marker radius.
* **Thigh / shank**: z from the distal to the proximal joint centre, y from the medio-lateral
  direction (medial-lateral markers, else the pelvis' y axis) made orthogonal to z.
* **Foot**: x from heel to toe marker, z normal to it in the plane holding the shank's z.

Recordings with technical clusters only (no anatomical landmark, e.g. the c3d.org gait sample)
get `build_body_from_clusters`: functional joint centres (SCoRE) between neighbouring clusters,
the knee's functional axis for thigh and shank, the foot cluster's long axis for the foot.

Long axes are well defined by joint centres; rotation about the long axis comes from the pelvis
when no medial markers exist, so thigh and shank internal rotation are only approximate. Angles
read off these frames use `sensors.segment_angles`, the inverse of the generator's composition,
so signs are the contract's by construction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.signal import butter, sosfiltfilt

from gaitgrf.core import contract as c
from gaitgrf.core.sensors import segment_angles

#: Landmark -> marker names by set; `{S}` is the side letter (L/R) and `{s}` lower case.
#: Matching ignores case. The first name present with data wins.
ROLES: dict[str, tuple[str, ...]] = {
    "asis": ("{S}ASI", "{S}.ASIS", "{S}_ASIS", "{S}ASIS"),
    "psis": ("{S}PSI", "{S}.PSIS", "{S}_PSIS", "{S}PSIS"),
    "hjc_marker": ("{S}_HJC", "{S}HJC", "{Side}HipCenter"),
    "knee_lat": ("{S}KNE", "{S}_knee", "{S}_lknee", "{S}LFC"),
    "knee_med": ("{S}KNEin", "{S}_mknee", "{S}KNM", "{S}MFC", "{S}KNEM"),
    "kjc_marker": ("{S}KJC", "{S}_KJC"),
    "ankle_lat": ("{S}ANK", "{S}_ankle", "{S}_lankle", "{S}LMAL"),
    "ankle_med": ("{S}ANKin", "{S}_mankle", "{S}MED", "{S}MMAL", "{S}ANKM"),
    "ajc_marker": ("{S}AJC", "{S}_AJC"),
    "heel": ("{S}HEE", "{S}_calc", "{S}HEEL", "{S}_heel"),
    "toe": ("{S}TOE", "{S}_toe", "{S}TOE2"),
}
CENTRAL_ROLES: dict[str, tuple[str, ...]] = {"sacrum": ("SACR", "SACRUM", "S2")}
#: Technical marker clusters (rigid plates or triads on a segment, no anatomical landmark),
#: as in the c3d.org gait sample (`PV1-4`, `{S}TH1-4`, `{S}SK1-4`, `{S}FT1-3`). `{S}` is L/R.
#: A foot cluster lists the distal marker first and the proximal one last: the line between
#: them is the foot's long axis (c3d.org: FT1 "dist/lat foot", FT3 "prox lat foot").
CLUSTERS: dict[str, tuple[str, ...]] = {
    "pelvis": ("PV1", "PV2", "PV3", "PV4"),
    "thigh": ("{S}TH1", "{S}TH2", "{S}TH3", "{S}TH4"),
    "shank": ("{S}SK1", "{S}SK2", "{S}SK3", "{S}SK4"),
    "foot": ("{S}FT1", "{S}FT2", "{S}FT3"),
}
#: Winter's (2009) anthropometric table, fractions of stature: foot length.
FOOT_LENGTH_PER_HEIGHT = 0.152
#: Heel and toe-marker positions along the foot's long axis from the ankle centre, fractions of
#: foot length, for cluster-only feet: the ankle lies about a fifth of the foot in front of the
#: back of the heel, the metatarsal heads (the toe marker) about three quarters.
HEEL_FROM_ANKLE = -0.2
TOE_FROM_ANKLE = 0.55
#: Landmarks without which no segment model can be built.
REQUIRED_ROLES = ("asis", "knee_lat", "ankle_lat", "heel", "toe")
#: Defaults of the lateral-marker offset when the lab did not record joint widths (adult means).
DEFAULT_KNEE_WIDTH_M = 0.100
DEFAULT_ANKLE_WIDTH_M = 0.070
MARKER_RADIUS_M = 0.007


def _names(template: str, side: str) -> list[str]:
    big = side.upper()
    word = "Left" if side == "l" else "Right"
    return [template.format(S=big, s=side, Side=word), template.format(S=side, s=side, Side=word)]


@dataclass(frozen=True)
class MarkerMap:
    """Which marker of a recording plays which landmark, per side.

    A recording with only technical clusters (no anatomical landmarks) has `clusters` instead:
    segment ('pelvis', 'thigh_l', ...) -> its marker names (see `CLUSTERS`).
    """

    sided: dict[tuple[str, str], str]
    central: dict[str, str]
    clusters: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def names(self) -> list[str]:
        in_clusters = {n for names in self.clusters.values() for n in names}
        return sorted(set(self.sided.values()) | set(self.central.values()) | in_clusters)

    def pelvis_centre(self, markers: Mapping[str, np.ndarray]) -> np.ndarray:
        """A point moving with the pelvis: the ASIS midpoint, or the pelvis cluster's centroid."""
        if self.clusters:
            return np.mean([markers[n] for n in self.clusters["pelvis"]], axis=0)
        return 0.5 * (markers[self.sided[("asis", "l")]] + markers[self.sided[("asis", "r")]])

    def foot_points(self, markers: Mapping[str, np.ndarray]) -> np.ndarray:
        """Samples of markers on the feet, stacked (n_points, 3): heels, or foot clusters."""
        if self.clusters:
            names = [n for s in c.SIDES for n in self.clusters[f"foot_{s}"]]
        else:
            names = [self.sided[("heel", s)] for s in c.SIDES]
        return np.concatenate([markers[n] for n in names])

    def facing(self, markers: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """Mean back-to-front pelvis vector (PSIS or sacrum to ASIS); None for clusters, whose
        markers say nothing anatomical about where the subject faces."""
        if self.clusters:
            return None
        back_names = [self.sided.get(("psis", s)) for s in c.SIDES]
        if all(back_names):
            back = 0.5 * sum(markers[str(n)] for n in back_names)
        else:
            back = markers[self.central["sacrum"]]
        return np.asarray(np.mean(self.pelvis_centre(markers) - back, axis=0))


def match_markers(markers: Mapping[str, np.ndarray]) -> tuple[MarkerMap, list[str]]:
    """Map landmarks to marker names; also return the required landmarks that are missing."""
    lower = {name.lower(): name for name in markers}

    def find(candidates: list[str]) -> str | None:
        for cand in candidates:
            name = lower.get(cand.lower())
            if name is not None and np.isfinite(markers[name]).all(axis=1).any():
                return name
        return None

    sided: dict[tuple[str, str], str] = {}
    missing: list[str] = []
    for role, templates in ROLES.items():
        for side in c.SIDES:
            name = find([n for t in templates for n in _names(t, side)])
            if name is not None:
                sided[(role, side)] = name
            elif role in REQUIRED_ROLES:
                missing.append(f"{role}_{side} (one of {', '.join(_names(templates[0], side))}...)")
    central = {}
    for role, cands in CENTRAL_ROLES.items():
        name = find(list(cands))
        if name is not None:
            central[role] = name
    has_back = ("psis", "l") in sided and ("psis", "r") in sided
    if not has_back and "sacrum" not in central:
        missing.append("psis_l/psis_r or sacrum (LPSI/RPSI or SACR)")
    if missing:
        clusters, cluster_missing = match_clusters(markers)
        if not cluster_missing:
            return MarkerMap({}, {}, clusters), []
        if clusters:
            # Mostly a cluster set: say what the cluster model lacks too.
            missing += [f"or, for the cluster model, {m}" for m in cluster_missing]
    return MarkerMap(sided, central), missing


def match_clusters(
    markers: Mapping[str, np.ndarray],
) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """Segment -> cluster marker names (ignoring case, only markers with data); missing ones.

    A cluster needs at least 3 markers with data to define a rigid frame; a foot cluster needs
    its first and last marker (distal and proximal, which give the foot's long axis).
    """
    lower = {name.lower(): name for name in markers}
    found: dict[str, tuple[str, ...]] = {}
    missing: list[str] = []
    for segment, templates in CLUSTERS.items():
        for side in c.SIDES if "{S}" in templates[0] else ("",):
            key = f"{segment}_{side}" if side else segment
            wanted = [t.format(S=side.upper()) for t in templates]
            present = tuple(
                name
                for name in (lower.get(w.lower()) for w in wanted)
                if name is not None and np.isfinite(markers[name]).all(axis=1).any()
            )
            ends = [lower.get(wanted[0].lower()), lower.get(wanted[-1].lower())]
            if present:
                found[key] = present
            if len(present) < 3 or (segment == "foot" and not set(ends) <= set(present)):
                need = f"; {wanted[0]} and {wanted[-1]} required" if segment == "foot" else ""
                missing.append(f"{key} cluster (3 of {', '.join(wanted)} with data{need})")
    return found, missing


# --- gaps ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GapReport:
    """What gap handling did: the span kept and every gap filled (marker, start s, length s)."""

    start: int
    stop: int
    filled: list[tuple[str, float, float]] = field(default_factory=list)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index runs where mask is True."""
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def valid_span(markers: Mapping[str, np.ndarray]) -> tuple[int, int]:
    """[start, stop) frames where every marker has been seen at least once on either side."""
    start, stop = 0, min(len(m) for m in markers.values())
    for xyz in markers.values():
        ok = np.flatnonzero(np.isfinite(xyz).all(axis=1))
        if ok.size == 0:
            return 0, 0
        start, stop = max(start, int(ok[0])), min(stop, int(ok[-1]) + 1)
    return start, stop


def long_gaps(
    markers: Mapping[str, np.ndarray], time: np.ndarray, max_gap_s: float
) -> list[tuple[str, float, float]]:
    """Interior gaps longer than `max_gap_s`: (marker, start s, length s)."""
    found = []
    dt = float(np.median(np.diff(time)))
    for name, xyz in markers.items():
        for a, b in _runs(~np.isfinite(xyz).all(axis=1)):
            if a == 0 or b == len(xyz):
                continue
            if (b - a) * dt > max_gap_s + 1e-9:
                found.append((name, float(time[a]), float((b - a) * dt)))
    return found


def fill_gaps(
    markers: Mapping[str, np.ndarray], time: np.ndarray
) -> tuple[dict[str, np.ndarray], list[tuple[str, float, float]]]:
    """Bridge interior gaps with a cubic spline through the seen samples (per axis).

    Call after `long_gaps` found none too long; the edges must already be cropped.
    """
    out: dict[str, np.ndarray] = {}
    filled: list[tuple[str, float, float]] = []
    dt = float(np.median(np.diff(time)))
    for name, xyz in markers.items():
        seen = np.isfinite(xyz).all(axis=1)
        if seen.all():
            out[name] = xyz
            continue
        spline = CubicSpline(time[seen], xyz[seen], axis=0)
        fixed = xyz.copy()
        fixed[~seen] = spline(time[~seen])
        out[name] = fixed
        for a, b in _runs(~seen):
            filled.append((name, round(float(time[a]), 4), round(float((b - a) * dt), 4)))
    return out, filled


#: A cluster marker whose distance to another marker of its cluster departs from the pair's
#: median distance by more than this, or by more than `CLUSTER_TOLERANCE_FRACTION` of it, is not
#: where the cluster puts it: a mislabelled or ghost sample. Skin-mounted clusters spread over a
#: wide pelvis deform by 2-3 cm while walking (c3d.org sample: PV1-PV3, 0.32 m apart, by 24 mm);
#: the swapped LFT3 of that file is 25-48 mm off.
CLUSTER_TOLERANCE_M = 0.015
CLUSTER_TOLERANCE_FRACTION = 0.1


def drop_cluster_outliers(
    markers: Mapping[str, np.ndarray],
    clusters: Mapping[str, tuple[str, ...]],
    time: np.ndarray,
    tolerance_m: float = CLUSTER_TOLERANCE_M,
) -> tuple[dict[str, np.ndarray], list[tuple[str, float, float]]]:
    """Blank cluster samples that break the cluster's rigidity (set them to NaN).

    A pair breaks it when its distance departs from its median by more than `tolerance_m` and
    `CLUSTER_TOLERANCE_FRACTION` of the median. Per sample, the marker in the most breaking
    pairs is dropped, then the next, until the remaining pairs agree; a tie drops both (two
    markers alone cannot say which one is wrong). Dropped samples become gaps, filled or
    refused like any other. Returns the markers and the spans dropped.
    """
    out = {k: np.asarray(v, dtype=float).copy() for k, v in markers.items()}
    dropped: list[tuple[str, float, float]] = []
    dt = float(np.median(np.diff(time))) if time.size > 1 else 0.0
    for names in clusters.values():
        pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
        dist = np.stack([np.linalg.norm(out[names[i]] - out[names[j]], axis=1) for i, j in pairs])
        median = np.nanmedian(dist, axis=1, keepdims=True)
        limit = np.maximum(tolerance_m, CLUSTER_TOLERANCE_FRACTION * median)
        bad_pair = np.abs(dist - median) > limit
        drop = np.zeros((len(names), dist.shape[1]), dtype=bool)
        for k in np.flatnonzero(bad_pair.any(axis=0)):
            live = [p for p, (i, j) in enumerate(pairs) if bad_pair[p, k]]
            while live:
                counts = np.zeros(len(names), dtype=int)
                for p in live:
                    counts[list(pairs[p])] += 1
                worst = np.flatnonzero(counts == counts.max())
                drop[worst, k] = True
                live = [p for p in live if not set(pairs[p]) & set(worst.tolist())]
        for m, name in enumerate(names):
            out[name][drop[m]] = np.nan
            for a, b in _runs(drop[m]):
                dropped.append((name, round(float(time[a]), 4), round(float((b - a) * dt), 4)))
    return out, dropped


def fill_from_cluster(
    markers: Mapping[str, np.ndarray],
    clusters: Mapping[str, tuple[str, ...]],
    time: np.ndarray,
) -> tuple[dict[str, np.ndarray], list[tuple[str, float, float]]]:
    """Rebuild a cluster marker where it is missing but the cluster's other markers are seen.

    A cluster is rigid, so a missing marker keeps its place in the frame of the others (its
    median local position over the samples where all are seen). Unlike interpolation this
    works at the trial's edges and across long gaps; it needs clusters of 4 or more markers.
    Returns the markers and every span filled (marker, start s, length s), as `fill_gaps`.
    """
    out = {k: np.asarray(v, dtype=float).copy() for k, v in markers.items()}
    filled: list[tuple[str, float, float]] = []
    dt = float(np.median(np.diff(time))) if time.size > 1 else 0.0
    for names in clusters.values():
        if len(names) < 4:
            continue
        for name in names:
            others = [n for n in names if n != name]
            others_seen = np.all([np.isfinite(out[n]).all(axis=1) for n in others], axis=0)
            missing = ~np.isfinite(out[name]).all(axis=1)
            both = others_seen & ~missing
            todo = others_seen & missing
            if not todo.any() or both.sum() < 3:
                continue
            rot, origin = cluster_frame([out[n] for n in others])
            local = np.median(
                np.einsum("nji,nj->ni", rot[both], out[name][both] - origin[both]), axis=0
            )
            out[name][todo] = np.einsum("nij,j->ni", rot[todo], local) + origin[todo]
            for a, b in _runs(todo):
                filled.append((name, round(float(time[a]), 4), round(float((b - a) * dt), 4)))
    return out, filled


def lowpass(x: np.ndarray, rate_hz: float, cutoff_hz: float) -> np.ndarray:
    """Zero-lag 4th-order Butterworth along axis 0; cutoff clamped below Nyquist."""
    cutoff = min(cutoff_hz, 0.4 * rate_hz)
    sos = butter(4, cutoff, fs=rate_hz, output="sos")
    padlen = min(3 * 13, x.shape[0] - 1)
    return np.asarray(sosfiltfilt(sos, x, axis=0, padlen=padlen))


# --- frames ----------------------------------------------------------------------------------
def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n > 0, n, np.nan)


def frame_from_z(z_axis: np.ndarray, y_hint: np.ndarray) -> np.ndarray:
    """(n, 3, 3) with columns x, y, z: z exact, y as close to `y_hint` as orthogonality allows."""
    z = _unit(z_axis)
    x = _unit(np.cross(y_hint, z))
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1)


def frame_from_x(x_axis: np.ndarray, z_hint: np.ndarray) -> np.ndarray:
    """(n, 3, 3) with columns x, y, z: x exact, z as close to `z_hint` as orthogonality allows."""
    x = _unit(x_axis)
    y = _unit(np.cross(z_hint, x))
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=-1)


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


def _joint_centre(
    lateral: np.ndarray,
    medial: np.ndarray | None,
    modelled: np.ndarray | None,
    y_axis: np.ndarray,
    side: str,
    width_m: float | None,
    default_width_m: float,
) -> tuple[np.ndarray, str]:
    if medial is not None:
        return 0.5 * (lateral + medial), "midpoint of lateral and medial markers"
    if modelled is not None:
        return modelled, "joint centre exported by the lab's model"
    width = width_m if width_m is not None else default_width_m
    inward = -y_axis if side == "l" else y_axis
    how = "lateral marker moved medially by half the joint width" + (
        "" if width_m is not None else f" (width unknown: default {default_width_m} m)"
    )
    return lateral + (0.5 * width + MARKER_RADIUS_M) * inward, how


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

    def get(role: str, side: str) -> np.ndarray | None:
        name = mapping.sided.get((role, side))
        return None if name is None else np.asarray(markers[name])

    asis_l, asis_r = get("asis", "l"), get("asis", "r")
    assert asis_l is not None and asis_r is not None
    asis_mid = 0.5 * (asis_l + asis_r)
    psis_l, psis_r = get("psis", "l"), get("psis", "r")
    sacrum_name = mapping.central.get("sacrum")
    if psis_l is not None and psis_r is not None:
        back = 0.5 * (psis_l + psis_r)
    else:
        assert sacrum_name is not None
        back = np.asarray(markers[sacrum_name])
    sacrum = np.asarray(markers[sacrum_name]) if sacrum_name is not None else back
    y_pelvis = _unit(asis_l - asis_r)
    forward = asis_mid - back
    x_pelvis = _unit(forward - _proj(forward, y_pelvis))
    r_pelvis = np.stack([x_pelvis, y_pelvis, np.cross(x_pelvis, y_pelvis)], axis=-1)
    points: dict[str, np.ndarray] = {"sacrum": sacrum, "asis_mid": asis_mid}
    rotations = {"pelvis": r_pelvis}
    methods: dict[str, str] = {}
    width = np.linalg.norm(asis_l - asis_r, axis=1, keepdims=True)
    depth = np.linalg.norm(asis_mid - back, axis=1, keepdims=True)
    for side in c.SIDES:
        sign = 1.0 if side == "l" else -1.0
        hjc = get("hjc_marker", side)
        if hjc is not None:
            methods[f"hip_{side}"] = "hip-centre marker exported by the lab"
        else:
            # Harrington et al. (2007), metres, from the ASIS midpoint in the pelvis frame.
            local = np.concatenate(
                [-0.24 * depth - 0.0099, sign * (0.33 * width + 0.0073), -0.30 * width - 0.0109],
                axis=1,
            )
            hjc = asis_mid + np.einsum("nij,nj->ni", r_pelvis, local)
            methods[f"hip_{side}"] = "Harrington et al. 2007 regression from the pelvis markers"
        knee_lat = get("knee_lat", side)
        ankle_lat = get("ankle_lat", side)
        heel, toe = get("heel", side), get("toe", side)
        assert knee_lat is not None and ankle_lat is not None and heel is not None
        assert toe is not None
        knee_med, ankle_med = get("knee_med", side), get("ankle_med", side)
        y_knee = r_pelvis[:, :, 1] if knee_med is None else sign * _unit(knee_lat - knee_med)
        kjc, how = _joint_centre(
            knee_lat,
            knee_med,
            get("kjc_marker", side),
            y_knee,
            side,
            widths.get(f"knee_{side}"),
            DEFAULT_KNEE_WIDTH_M,
        )
        methods[f"knee_{side}"] = how
        y_ankle = y_knee if ankle_med is None else sign * _unit(ankle_lat - ankle_med)
        ajc, how = _joint_centre(
            ankle_lat,
            ankle_med,
            get("ajc_marker", side),
            y_ankle,
            side,
            widths.get(f"ankle_{side}"),
            DEFAULT_ANKLE_WIDTH_M,
        )
        methods[f"ankle_{side}"] = how
        r_thigh = frame_from_z(hjc - kjc, y_knee)
        r_shank = frame_from_z(kjc - ajc, y_ankle)
        r_foot = frame_from_x(toe - heel, r_shank[:, :, 2])
        points |= {
            f"hip_{side}": hjc,
            f"knee_{side}": kjc,
            f"ankle_{side}": ajc,
            f"heel_{side}": heel,
            f"toe_{side}": toe,
        }
        rotations |= {f"thigh_{side}": r_thigh, f"shank_{side}": r_shank, f"foot_{side}": r_foot}
    return Body(points, rotations, methods)


def _proj(v: np.ndarray, unit: np.ndarray) -> np.ndarray:
    return np.sum(v * unit, axis=-1, keepdims=True) * unit


# --- cluster-only model ---------------------------------------------------------------------
#: Tikhonov weight (m^2 per sample, on the local joint-centre coordinates) of the functional
#: joint-centre fit: it only matters along a hinge's axis, where the motion cannot place the
#: centre, and there pulls it towards the two clusters (the least-norm solution).
SCORE_RIDGE = 1e-4


def cluster_frame(points: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Technical frame of a rigid marker cluster: rotation (n, 3, 3) and origin (n, 3).

    Origin at the centroid, x towards the first marker, z normal to the plane of the first two
    markers about the centroid. Only rigidity matters: anatomical axes are built afterwards.
    """
    stack = np.stack(points, axis=1)
    origin = stack.mean(axis=1)
    first, second = stack[:, 0] - origin, stack[:, 1] - origin
    x = _unit(first)
    z = _unit(np.cross(first, second))
    return np.stack([x, np.cross(z, x), z], axis=-1), origin


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


def build_body_from_clusters(
    markers: Mapping[str, np.ndarray],
    mapping: MarkerMap,
    height_m: float | None = None,
) -> Body:
    """Segment model from technical clusters only (heading frame, n x 3 each, no NaN).

    * Hip, knee and ankle centres are functional (`functional_joint`): pelvis-thigh,
      thigh-shank and shank-foot cluster pairs.
    * Pelvis: y from the right to the left hip centre; x the walking direction as the pelvis
      cluster carries it on average (its mean in the cluster frame), made orthogonal: the
      pelvis' mean tilt and rotation over the trial are 0 by construction. Sensor site: the
      pelvis cluster's centroid.
    * Thigh / shank: z from the distal to the proximal joint centre; y the knee's functional
      flexion axis as each cluster carries it, made orthogonal.
    * Foot: x from the proximal to the distal foot marker (the cluster's long axis), z in the
      plane holding the shank's z; heel and toe points on that axis from the ankle centre at
      fractions of a foot length of 0.152 x stature (given, else from thigh + shank lengths).
    """
    frames = {
        key: cluster_frame([markers[n] for n in names]) for key, names in mapping.clusters.items()
    }
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
    hip_l, hip_r = joints["hip_l"].centre, joints["hip_r"].centre
    y_pelvis = _unit(hip_l - hip_r)
    r_cluster = frames["pelvis"][0]
    forward_local = np.mean(r_cluster[:, 0, :], axis=0)  # heading x in the cluster frame
    forward = np.einsum("nij,j->ni", r_cluster, forward_local)
    x_pelvis = _unit(forward - _proj(forward, y_pelvis))
    r_pelvis = np.stack([x_pelvis, y_pelvis, np.cross(x_pelvis, y_pelvis)], axis=-1)
    sacrum = frames["pelvis"][1]
    points: dict[str, np.ndarray] = {"sacrum": sacrum, "asis_mid": sacrum}
    rotations = {"pelvis": r_pelvis}
    methods["pelvis"] = "pelvis cluster: y between the functional hip centres, x its mean heading"
    lengths = [
        float(
            np.median(np.linalg.norm(joints[f"{p}_{s}"].centre - joints[f"{d}_{s}"].centre, axis=1))
        )
        for s in c.SIDES
        for p, d in (("hip", "knee"), ("knee", "ankle"))
    ]
    height = height_m if height_m is not None else 0.5 * sum(lengths) / 0.491
    foot_length = FOOT_LENGTH_PER_HEIGHT * height
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
