"""Which marker of a recording plays which anatomical landmark or belongs to which cluster.

Marker sets name the same landmark differently (Plug-in Gait `LASI`, OpenSim `L.ASIS`); the
tables here list the names each set uses so that the rest of the segment model works on roles,
never on a lab's labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from gaitgrf.core import contract as c

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
#: Landmarks without which no segment model can be built.
REQUIRED_ROLES = ("asis", "knee_lat", "ankle_lat", "heel", "toe")


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

    def foot_point(self, markers: Mapping[str, np.ndarray], side: str) -> np.ndarray:
        """(n, 3) a point moving with one foot: its heel marker, or its cluster's centroid."""
        if self.clusters:
            return np.mean([markers[n] for n in self.clusters[f"foot_{side}"]], axis=0)
        return markers[self.sided[("heel", side)]]

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
