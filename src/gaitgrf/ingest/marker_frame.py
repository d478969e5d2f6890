"""Steps 1 and 2 of a conversion: the landmark markers, cleaned, and the heading frame.

`convert.convert_recording` calls `clean_markers` (landmarks matched, clusters repaired, trial
cropped to where every landmark is seen, short gaps bridged, long ones refused) and then
`heading` (which lab axis is up, which way the subject walks or faces, and so whether the trial
is a standing one). Both only read the recording; what they did goes to the trial report. Once
the markers are in that reference frame, `heading_over_time` follows the walking direction
through turns and curves, which the forces are then read in (step 5).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gaitgrf.core.errors import Violation
from gaitgrf.ingest.formats.recording import ForcePlate, Recording, RecordingError, reject
from gaitgrf.ingest.options import ImportOptions
from gaitgrf.ingest.segment_model.cleaning import (
    drop_cluster_outliers,
    fill_from_cluster,
    fill_gaps,
    long_gaps,
    valid_span,
)
from gaitgrf.ingest.segment_model.frames import (
    heading_rotation,
    heading_yaw,
    snap_axis,
    stride_period,
)
from gaitgrf.ingest.segment_model.markers import MarkerMap, match_markers

#: File names that say "static standing trial".
STATIC_NAME = re.compile(r"static|stand|calib|still|neutral|quiet", re.IGNORECASE)


def is_static_name(path: str) -> bool:
    """Whether the file name says "static standing trial" (`STATIC_NAME`)."""
    return bool(STATIC_NAME.search(Path(path).stem))


def _up_from_plates(plates: Sequence[ForcePlate]) -> np.ndarray | None:
    total = np.zeros(3)
    for plate in plates:
        norm = np.linalg.norm(plate.force, axis=1)
        loaded = np.isfinite(norm) & (norm > 50.0)
        if loaded.any():
            total += np.nansum(plate.force[loaded], axis=0)
    if not np.linalg.norm(total) > 0:
        return None
    return snap_axis(total)


def _up_from_markers(mapping_points: Mapping[str, np.ndarray]) -> np.ndarray | None:
    pelvis = np.nanmean(mapping_points["pelvis"], axis=0)
    feet = np.nanmean(mapping_points["feet"], axis=0)
    return snap_axis(pelvis - feet)


# --- step 1: landmark markers -----------------------------------------------------------------
@dataclass(frozen=True)
class TrialMarkers:
    """The landmark markers of a recording, cleaned and cropped to where all of them are seen."""

    mapping: MarkerMap
    #: Marker name -> (n, 3) m, lab frame, no NaN.
    used: dict[str, np.ndarray]
    #: [start, stop) of the crop in the recording's marker samples.
    start: int
    stop: int
    time: np.ndarray
    filled: list[tuple[str, float, float]]
    notes: list[str]


def _missing_landmarks(file: str, missing: list[str]) -> RecordingError:
    return RecordingError(
        [
            Violation(
                file,
                "marker_missing",
                "landmark needed by the segment model has no marker with data in the whole trial",
                channel=m,
            )
            for m in missing
        ],
        context=f"import of {file}",
    )


def _gaps_too_long(
    file: str, too_long: list[tuple[str, float, float]], opts: ImportOptions
) -> RecordingError:
    return RecordingError(
        [
            Violation(
                file,
                "marker_gap",
                f"gap of {length:.3f} s from {t0:.3f} s, longer than the "
                f"{opts.max_gap_s:g} s that interpolation may bridge",
                channel=name,
            )
            for name, t0, length in too_long
        ],
        context=f"import of {file}",
    )


def clean_markers(rec: Recording, opts: ImportOptions) -> TrialMarkers:
    """Step 1: match landmarks, repair clusters, crop to the common span, bridge short gaps."""
    file = rec.source
    mapping, missing = match_markers(rec.markers)
    if missing:
        raise _missing_landmarks(file, missing)
    used = {name: np.asarray(rec.markers[name], dtype=float) for name in mapping.names()}
    rigid_filled: list[tuple[str, float, float]] = []
    dropped: list[tuple[str, float, float]] = []
    if mapping.clusters:
        used, dropped = drop_cluster_outliers(used, mapping.clusters, rec.marker_time)
        used, rigid_filled = fill_from_cluster(used, mapping.clusters, rec.marker_time)
    start, stop = valid_span(used)
    time_all = rec.marker_time
    if stop - start < max(3, int(0.5 * rec.marker_rate_hz)):
        raise reject(
            file,
            "marker_gap",
            "the landmark markers are seen together for less than 0.5 s",
            channel=",".join(sorted(used)),
        )
    time = time_all[start:stop]
    used = {k: v[start:stop] for k, v in used.items()}
    too_long = long_gaps(used, time, opts.max_gap_s)
    if too_long:
        raise _gaps_too_long(file, too_long, opts)
    used, filled = fill_gaps(used, time)
    t_lo, t_hi = float(time[0]), float(time[-1])
    filled = [g for g in rigid_filled if t_lo - 1e-9 <= g[1] <= t_hi] + filled
    notes: list[str] = []
    if mapping.clusters and dropped:
        notes.append(
            "cluster samples breaking the cluster's rigidity dropped: "
            + ", ".join(f"{m} {t0:.2f} s +{d:.2f} s" for m, t0, d in dropped)
        )
    if rigid_filled:
        notes.append(
            "cluster markers rebuilt from the rest of their rigid cluster: "
            + ", ".join(f"{m} {t0:.2f} s +{d:.2f} s" for m, t0, d in rigid_filled)
        )
    if start > 0 or stop < time_all.size:
        notes.append(
            f"cropped to {time[0]:.3f}-{time[-1]:.3f} s where every landmark marker is seen"
        )
    return TrialMarkers(mapping, used, start, stop, time, filled, notes)


# --- step 2: heading frame ---------------------------------------------------------------------
def heading(
    rec: Recording,
    markers: TrialMarkers,
    plates: Sequence[ForcePlate],
    kind: str | None,
    opts: ImportOptions,
) -> tuple[np.ndarray, str]:
    """Step 2: the trial's reference lab-to-heading rotation (z up, x forward) and its kind.

    x is the horizontal displacement of the ASIS midpoint from the first to the last tenth of
    the trial; the walking direction over time (`heading_over_time`) is measured from it. A
    walk there and back ends where it began, so walking is told from standing by how far the
    pelvis gets from where it started, not by where it ends. `kind` None decides from the file
    name, then from that distance.
    """
    file, mapping, used, time = rec.source, markers.mapping, markers.used, markers.time
    up = rec.lab_up if rec.lab_up is not None else _up_from_plates(plates)
    asis = mapping.pelvis_centre(used)
    if up is None:
        up = _up_from_markers({"pelvis": asis, "feet": mapping.foot_points(used)})
    if up is None:
        raise reject(
            file,
            "vertical_axis",
            "cannot tell which lab axis is vertical: the plates' mean force and the "
            "pelvis-over-feet direction are not along a lab axis",
            channel="POINT",
        )
    k = max(1, len(time) // 10)
    start = np.mean(asis[:k], axis=0)
    horizontal = np.mean(asis[-k:], axis=0) - start
    horizontal -= np.dot(horizontal, up) * up
    moved = float(np.linalg.norm(horizontal))
    away = asis - start - np.outer(asis @ up - start @ up, up)
    farthest = int(np.argmax(np.linalg.norm(away, axis=1)))
    reach = float(np.linalg.norm(away[farthest]))
    if kind is None:
        walked = reach >= opts.static_max_displacement_m
        kind = "static" if is_static_name(file) or not walked else "walking"
    if moved >= opts.static_max_displacement_m:
        forward = horizontal
    elif kind == "walking" and reach >= opts.static_max_displacement_m:
        forward = away[farthest]  # there and back (a U-turn): the way out; standing: facing
    else:
        facing = mapping.facing(used)
        if facing is None:
            raise reject(
                file,
                "marker_missing",
                f"a standing trial (pelvis moved {reach:.2f} m) with only technical marker "
                "clusters: no anatomical marker says which way the subject faces",
                channel="pelvis",
            )
        forward = facing
    return heading_rotation(up, forward), kind


def heading_over_time(
    markers_h: Mapping[str, np.ndarray], mapping: MarkerMap, rate_hz: float, kind: str
) -> tuple[np.ndarray, float | None]:
    """The walking direction at every sample (rad from the reference heading x, towards y) and
    the stride (s) whose window measured it.

    Taken from the pelvis displacement over one stride (`frames.heading_yaw`), not from the
    pelvis' own axes: the displacement is what the trial's single heading always used, so a
    straight walk keeps it; it exists for cluster-only marker sets; and it carries neither a
    marker placement offset nor the pelvis' 5-8 deg rotation either way within each stride.
    A standing trial, or one too short to show a stride, keeps the single heading (all 0).
    `markers_h` are the filtered markers in the reference heading frame (z up).
    """
    n = len(next(iter(markers_h.values())))
    if kind == "static":
        return np.zeros(n), None
    pelvis = mapping.pelvis_centre(markers_h)[:, :2]
    feet = (mapping.foot_point(markers_h, "l")[:, :2], mapping.foot_point(markers_h, "r")[:, :2])
    stride = stride_period(pelvis, feet, rate_hz)
    if stride is None:
        return np.zeros(n), None
    return heading_yaw(pelvis, rate_hz, stride), stride
