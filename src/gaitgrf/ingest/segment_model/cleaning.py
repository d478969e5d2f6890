"""Clean marker trajectories before the model is built: crop, bridge gaps, check rigidity, filter.

Every step reports what it changed (marker, start s, length s) so the import report can say
which samples were interpolated, rebuilt from a rigid cluster or dropped as breaking it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.signal import butter, sosfiltfilt

from gaitgrf.ingest.segment_model.frames import cluster_frame


@dataclass(frozen=True)
class GapReport:
    """What gap handling did: the span kept and every gap filled (marker, start s, length s)."""

    start: int
    stop: int
    filled: list[tuple[str, float, float]] = field(default_factory=list)


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
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
        for a, b in true_runs(~np.isfinite(xyz).all(axis=1)):
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
        for a, b in true_runs(~seen):
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
            for a, b in true_runs(drop[m]):
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
            for a, b in true_runs(todo):
                filled.append((name, round(float(time[a]), 4), round(float((b - a) * dt), 4)))
    return out, filled


def lowpass(x: np.ndarray, rate_hz: float, cutoff_hz: float) -> np.ndarray:
    """Zero-lag 4th-order Butterworth along axis 0; cutoff clamped below Nyquist."""
    cutoff = min(cutoff_hz, 0.4 * rate_hz)
    sos = butter(4, cutoff, fs=rate_hz, output="sos")
    padlen = min(3 * 13, x.shape[0] - 1)
    return np.asarray(sosfiltfilt(sos, x, axis=0, padlen=padlen))
