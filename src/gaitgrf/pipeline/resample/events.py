"""Gait events from force plates, and how well other detectors agree with them.

* `force_plate_events`: the reference. A stance is a run of vertical force above
  `EventsConfig.force_threshold_n` lasting `min_stance_s` to `max_stance_s`; heel strike and toe
  off are the threshold crossings, interpolated between samples of the native (1 kHz) signal.
* `event_agreement`: one-to-one matching of detected to reference events and timing errors.

The detector that needs no force channel, from accelerometers alone, is
`gaitgrf.pipeline.resample.wearable`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from gaitgrf.core.config import EventsConfig

KINDS: Final = ("heel_strike", "toe_off")
#: Sub-threshold dips shorter than this inside a stance are force-plate noise, not a swing.
DEBOUNCE_S: Final = 0.03


@dataclass(frozen=True)
class Events:
    """Event times (seconds, sorted) of one foot.

    From `force_plate_events` the arrays pair up: stance k runs from `heel_strikes[k]` to
    `toe_offs[k]`. From `wearable_events` they are independent lists (a toe off whose heel strike
    lies before the trial is kept).
    """

    heel_strikes: np.ndarray = field(default_factory=lambda: np.empty(0))
    toe_offs: np.ndarray = field(default_factory=lambda: np.empty(0))

    def of_kind(self, kind: str) -> np.ndarray:
        return self.heel_strikes if kind == "heel_strike" else self.toe_offs

    def stances(self) -> np.ndarray:
        """(k, 2) array of [heel strike, toe off]: each heel strike with the first toe off after
        it and before the next heel strike; heel strikes without one are left out."""
        hs, to = np.asarray(self.heel_strikes), np.asarray(self.toe_offs)
        if hs.size == 0 or to.size == 0:
            return np.empty((0, 2))
        j = np.searchsorted(to, hs, side="right")
        ok = j < to.size
        nxt = np.append(hs[1:], np.inf)
        ok &= np.where(ok, to[np.minimum(j, to.size - 1)] < nxt, False)
        return np.stack([hs[ok], to[j[ok]]], axis=1)


def wearable_pairs(events: Mapping[str, Events]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(heel strikes, toe offs) per foot: the form the physics split takes."""
    return {s: (np.asarray(e.heel_strikes), np.asarray(e.toe_offs)) for s, e in events.items()}


def stance_limits(cfg: EventsConfig) -> tuple[float, float]:
    """(shortest, longest) stance the step rule accepts, seconds."""
    return (cfg.min_stance_s, cfg.max_stance_s)


# --- force plates ------------------------------------------------------------------------------
def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop (exclusive) indices of the True runs of a boolean array."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def contact_mask(time: np.ndarray, fz: np.ndarray, cfg: EventsConfig) -> np.ndarray:
    """Samples where the foot is on the ground: force above threshold, dips < DEBOUNCE_S closed.

    NaN counts as "not on the ground"; a dip containing NaN is never closed.
    """
    fz = np.asarray(fz, dtype=np.float64)
    on = fz > cfg.force_threshold_n
    if time.size < 2:
        return on
    dt = float(np.median(np.diff(time)))
    gap_start, gap_stop = _runs(~on)
    nan_cum = np.concatenate(([0], np.cumsum(np.isnan(fz))))
    short = (
        (gap_start > 0)
        & (gap_stop < on.size)
        & ((gap_stop - gap_start) * dt < DEBOUNCE_S)
        & (nan_cum[gap_stop] == nan_cum[gap_start])
    )
    for a, b in zip(gap_start[short], gap_stop[short], strict=True):
        on[a:b] = True
    return on


def force_plate_events(time: np.ndarray, fz: np.ndarray, cfg: EventsConfig) -> Events:
    """Complete stances of one foot from its vertical GRF (native rate, N).

    Heel strike / toe off are where `fz` crosses `cfg.force_threshold_n` upwards / downwards,
    linearly interpolated between the samples around the crossing. Stances touching the start or
    end of the trial, or a NaN sample, are incomplete and dropped, as are stances shorter than
    `min_stance_s` or longer than `max_stance_s`. Vectorised over stances.
    """
    time = np.asarray(time, dtype=np.float64)
    fz = np.asarray(fz, dtype=np.float64)
    if time.size < 3:
        return Events()
    on = contact_mask(time, fz, cfg)
    start, stop = _runs(on)
    nan = np.isnan(fz)
    complete = (start > 0) & (stop < fz.size)
    start, stop = start[complete], stop[complete]
    complete = ~nan[start - 1] & ~nan[stop]
    start, stop = start[complete], stop[complete]
    thr = cfg.force_threshold_n

    def crossing(i0: np.ndarray, i1: np.ndarray) -> np.ndarray:
        f0, f1 = fz[i0], fz[i1]
        w = np.clip((thr - f0) / np.where(f1 != f0, f1 - f0, 1.0), 0.0, 1.0)
        return time[i0] + w * (time[i1] - time[i0])

    hs = crossing(start - 1, start)
    to = crossing(stop - 1, stop)
    duration = to - hs
    keep = (duration >= cfg.min_stance_s) & (duration <= cfg.max_stance_s)
    return Events(hs[keep], to[keep])


# --- agreement ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class EventMatch:
    """Reference vs detected events of one kind: signed errors (detected - reference, s)."""

    errors_s: np.ndarray
    reference: int
    missed: int
    extra: int


def match_times(
    reference: np.ndarray, detected: np.ndarray, tolerance_s: float, *, clip: bool = True
) -> EventMatch:
    """One-to-one matching, closest pairs first, pairs further apart than `tolerance_s` never.

    With `clip`, detected events outside the reference's span (plus the tolerance) are ignored:
    the reference cannot have seen them (incomplete stances at the trial edges).
    """
    ref = np.sort(np.asarray(reference, dtype=np.float64))
    det = np.sort(np.asarray(detected, dtype=np.float64))
    if clip:
        det = (
            det[(det >= ref[0] - tolerance_s) & (det <= ref[-1] + tolerance_s)]
            if ref.size
            else det[:0]
        )
    if ref.size == 0 or det.size == 0:
        return EventMatch(np.empty(0), int(ref.size), int(ref.size), int(det.size))
    diff = det[None, :] - ref[:, None]
    ri, di = np.nonzero(np.abs(diff) <= tolerance_s)
    order = np.argsort(np.abs(diff[ri, di]), kind="stable")
    used_r = np.zeros(ref.size, dtype=bool)
    used_d = np.zeros(det.size, dtype=bool)
    errors: list[float] = []
    for k in order:
        r, d = ri[k], di[k]
        if used_r[r] or used_d[d]:
            continue
        used_r[r] = used_d[d] = True
        errors.append(float(diff[r, d]))
    return EventMatch(np.array(errors), int(ref.size), int((~used_r).sum()), int((~used_d).sum()))


@dataclass
class AgreementTally:
    """Accumulates matches of many trials and feet; `summary()` is the JSON-ready result."""

    matches: dict[str, list[EventMatch]] = field(
        default_factory=lambda: {kind: [] for kind in KINDS}
    )

    def add(self, reference: Events, detected: Events, tolerance_s: float = 0.15) -> None:
        for kind in KINDS:
            self.matches[kind].append(
                match_times(reference.of_kind(kind), detected.of_kind(kind), tolerance_s)
            )

    def extend(self, other: AgreementTally) -> None:
        for kind in KINDS:
            self.matches[kind] += other.matches[kind]

    def summary(self) -> dict[str, Any]:
        return {kind: summarize_matches(self.matches[kind]) for kind in KINDS}


def summarize_matches(matches: Iterable[EventMatch]) -> dict[str, Any]:
    items = list(matches)
    errors = np.concatenate([m.errors_s for m in items]) if items else np.empty(0)
    return summarize_errors(
        errors,
        reference=sum(m.reference for m in items),
        missed=sum(m.missed for m in items),
        extra=sum(m.extra for m in items),
    )


def summarize_errors(
    errors: np.ndarray, *, reference: int, missed: int, extra: int
) -> dict[str, Any]:
    """The JSON-ready agreement of matches given as their counts and every matched error (s),
    in the order matched: what a stage that does not keep `EventMatch` objects can give."""
    ms = np.abs(errors) * 1e3
    return {
        "reference": int(reference),
        "matched": int(errors.size),
        "missed": int(missed),
        "extra": int(extra),
        "mean_abs_ms": round(float(ms.mean()), 2) if ms.size else None,
        "p95_abs_ms": round(float(np.percentile(ms, 95)), 2) if ms.size else None,
        "bias_ms": round(float(errors.mean() * 1e3), 2) if ms.size else None,
    }


def event_agreement(
    reference: Events, detected: Events, tolerance_s: float = 0.15
) -> dict[str, Any]:
    """Matched / missed / extra counts and timing errors (ms), per kind of event.

    `{"heel_strike": {...}, "toe_off": {...}}`, each with reference, matched, missed, extra,
    mean_abs_ms, p95_abs_ms and bias_ms (mean signed error, detected - reference; None when
    nothing matched). Detected events outside the reference's span are not counted.
    """
    tally = AgreementTally()
    tally.add(reference, detected, tolerance_s)
    return tally.summary()
