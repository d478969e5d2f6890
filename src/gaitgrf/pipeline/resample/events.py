"""Gait events: heel strikes and toe offs from force plates and from wearable accelerometers.

* `force_plate_events`: the reference. A stance is a run of vertical force above
  `EventsConfig.force_threshold_n` lasting `min_stance_s` to `max_stance_s`; heel strike and toe
  off are the threshold crossings, interpolated between samples of the native (1 kHz) signal.
* `wearable_events`: accelerometers of one leg only, no force channel (method and calibration in
  docs/resampling.md). Heel strike: the impact peak of the high-passed axial (z) acceleration of
  the shank (plus the foot sensor where there is one), minus a calibrated delay. Toe off: the
  minimum of the low-passed shank axial acceleration in the following swing (the shank swings
  through fastest shortly after toe off), minus a calibrated delay that grows with stride time.
* `event_agreement`: one-to-one matching of detected to reference events and timing errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
from scipy.signal import find_peaks

from gaitgrf.core import contract as c
from gaitgrf.core.config import EventsConfig
from gaitgrf.core.signal import bridge_gaps, highpass, lowpass
from gaitgrf.io.trial_file import Stream

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


# --- wearables ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class WearableModel:
    """Constants of the accelerometer event detector.

    The delays were calibrated on the synthetic default cohort (40 subjects x 4 walking trials,
    both legs, 148 and 200 Hz sensors) against force-plate events with `calibrate_wearable_model`
    (docs/resampling.md); recalibrate on lab data where force plates exist.
    """

    #: High-pass of the axial acceleration that isolates the heel-strike impact (Hz).
    impact_highpass_hz: float = 15.0
    #: Low-pass of the shank axial acceleration used for toe off (Hz).
    swing_lowpass_hz: float = 8.0
    #: Impact peak minus heel strike (s).
    hs_delay_s: float = 0.0087
    #: Swing minimum of the shank axial acceleration minus toe off: a + b * stride time (s).
    to_delay_s: float = 0.0771
    to_delay_per_stride: float = 0.0462
    #: Plausible stride times (s) for the stride-period search.
    stride_range_s: tuple[float, float] = (0.6, 2.5)
    #: An impact peak counts when at least this fraction of the median peak.
    min_peak_fraction: float = 0.3
    #: Heel-strike search window after each swing minimum, as fractions of the stride time.
    landing_window: tuple[float, float] = (0.08, 0.5)


DEFAULT_WEARABLE_MODEL: Final = WearableModel()


def _column(acc: Stream, name: str) -> int | None:
    return acc.channels.index(name) if name in acc.channels else None


def _parabolic(y: np.ndarray, i: np.ndarray) -> np.ndarray:
    """Sub-sample offset (in samples, within +-0.5) of the extremum at integer indices `i`."""
    i = np.clip(i, 1, y.size - 2)
    a, b, d = y[i - 1], y[i], y[i + 1]
    denom = a - 2 * b + d
    off = np.where(denom != 0, 0.5 * (a - d) / np.where(denom != 0, denom, 1.0), 0.0)
    return np.clip(off, -0.5, 0.5)


def stride_period(x: np.ndarray, rate_hz: float, lo_s: float, hi_s: float) -> float | None:
    """Dominant period (s) of `x` within [lo_s, hi_s] from its autocorrelation (FFT)."""
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    n = x.size
    lo, hi = max(1, int(lo_s * rate_hz)), min(int(hi_s * rate_hz), n - 2)
    if hi <= lo + 2:
        return None
    spec = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(np.abs(spec) ** 2)[:n]
    seg = ac[lo - 1 : hi + 2]
    peaks, _ = find_peaks(seg)
    if peaks.size == 0 or seg[peaks].max() <= 0:
        return None
    # The first peak nearly as high as the highest: multiples of the period correlate too.
    k = int(peaks[np.argmax(seg[peaks] >= 0.8 * seg[peaks].max())])
    return (lo - 1 + k + float(_parabolic(seg, np.array([k]))[0])) / rate_hz


def wearable_events(
    acc: Stream, side: str, model: WearableModel = DEFAULT_WEARABLE_MODEL
) -> Events:
    """Heel strikes and toe offs of leg `side` ('l'/'r') from its accelerometers only.

    Needs the shank sensor's axial channel (`acc_shank_<side>_z`); the foot sensor's is used
    too when present. NaN dropouts are bridged. No events when no stride period can be found.
    """
    return wearable_events_by_side(acc, model, (side,))[side]


def wearable_events_by_side(
    acc: Stream, model: WearableModel = DEFAULT_WEARABLE_MODEL, sides: Sequence[str] = c.SIDES
) -> dict[str, Events]:
    """`wearable_events` of several legs, filtering all their channels together."""
    return {side: Events(hs, to) for side, (hs, to, _) in _detect(acc, model, sides).items()}


_NONE: Final = (np.empty(0), np.empty(0), np.empty(0))


def _detect(
    acc: Stream, model: WearableModel, sides: Sequence[str]
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per side: heel strikes, toe offs and the stride time each toe off's delay used."""
    out = dict.fromkeys(sides, _NONE)
    fs = float(acc.rate_hz)
    t = np.asarray(acc.time, dtype=np.float64)
    shank = {s: _column(acc, c.acc_channel(f"shank_{s}", "z")) for s in sides}
    legs = [s for s in sides if shank[s] is not None]
    if not legs or t.size < 10:
        return out
    # Axial (z) channels only: shanks first, then the feet that have a sensor.
    feet = {s: _column(acc, c.acc_channel(f"foot_{s}", "z")) for s in legs}
    cols = [i for i in [*(shank[s] for s in legs), *(feet[s] for s in legs)] if i is not None]
    raw, _ = bridge_gaps(acc.data[:, cols], fs, None)
    swing = lowpass(raw[:, : len(legs)], fs, model.swing_lowpass_hz, 2, max_gap_s=None)
    impact = highpass(raw, fs, model.impact_highpass_hz)
    scale = np.std(impact, axis=0)
    impact /= np.where(scale > 0, scale, 1.0)
    foot_at = len(legs)
    for k, s in enumerate(legs):
        parts = [k]
        if feet[s] is not None:
            parts.append(foot_at)
            foot_at += 1
        if np.isfinite(raw[:, parts]).all():
            out[s] = _detect_leg(t, fs, swing[:, k], impact[:, parts].sum(axis=1), model)
    return out


def _detect_leg(
    t: np.ndarray, fs: float, swing: np.ndarray, impact: np.ndarray, model: WearableModel
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Anchor: the swing minimum of the shank axial acceleration, one per stride.
    period = stride_period(swing, fs, *model.stride_range_s)
    if period is None:
        return _NONE
    minima, props = find_peaks(-swing, distance=max(1, int(0.6 * period * fs)), prominence=0.0)
    if minima.size == 0:
        return _NONE
    prominence = props["prominences"]
    minima = minima[prominence >= model.min_peak_fraction * np.median(prominence)]
    minima = minima[(minima > 0) & (minima < t.size - 1)]
    if minima.size == 0:
        return _NONE
    t_min = t[minima] + _parabolic(swing, minima) / fs
    with np.errstate(invalid="ignore"):
        gap = np.diff(t_min, prepend=np.nan)
        ahead = np.diff(t_min, append=np.nan)
    # The stride a swing belongs to: the gap to the previous swing, else to the next, else the
    # trial's period; gaps more than 30 % off the period (a missed swing) are not trusted.
    stride = np.full(t_min.size, period)
    for cand in (ahead, gap):
        with np.errstate(invalid="ignore"):
            ok = np.abs(cand / period - 1.0) < 0.3
        stride = np.where(ok, cand, stride)

    # Toe off: the swing minimum minus its calibrated delay.
    toe = t_min - (model.to_delay_s + model.to_delay_per_stride * stride)

    # Heel strike: the impact transient along the segments' long axis (z), in the window after
    # the swing minimum where the foot lands (which excludes the toe-off region before it).
    # The swing before the first readable one may lie before the trial: its landing still can.
    anchors = np.concatenate(([t_min[0] - stride[0]], t_min))
    strides = np.concatenate(([stride[0]], stride))
    early, late = model.landing_window
    lo = np.searchsorted(t, anchors + early * strides)
    hi = np.searchsorted(t, anchors + late * strides)
    edge = int(np.ceil(0.02 * fs))  # the high-pass filter's own start-up transient
    peaks: list[int] = []
    for a, b in zip(np.maximum(lo, edge), hi, strict=True):
        if b >= t.size or b - a < 3:
            continue
        i = int(a) + int(np.argmax(impact[a:b]))
        if i not in (a, b - 1):
            peaks.append(i)
    if peaks:
        idx = np.array(peaks)
        idx = idx[impact[idx] >= model.min_peak_fraction * np.median(impact[idx])]
        hs = t[idx] + _parabolic(impact, idx) / fs - model.hs_delay_s
    else:
        hs = np.empty(0)
    keep = (toe >= t[0]) & (toe <= t[-1])
    return hs, toe[keep], stride[keep]


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
    ms = np.abs(errors) * 1e3
    return {
        "reference": int(sum(m.reference for m in items)),
        "matched": int(errors.size),
        "missed": int(sum(m.missed for m in items)),
        "extra": int(sum(m.extra for m in items)),
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


# --- calibration -------------------------------------------------------------------------------
def calibrate_wearable_model(
    recordings: Sequence[tuple[Stream, str, Events]],
    base: WearableModel = DEFAULT_WEARABLE_MODEL,
    tolerance_s: float = 0.15,
) -> WearableModel:
    """Fit the detector's delays to reference events: [(acc stream, side, reference events)].

    Runs the detector with zero delays, matches against the reference, and fits the heel-strike
    delay as the median error and the toe-off delay as a least-squares line in stride time.
    """
    raw = replace(base, hs_delay_s=0.0, to_delay_s=0.0, to_delay_per_stride=0.0)
    hs_err: list[np.ndarray] = []
    to_err: list[np.ndarray] = []
    to_stride: list[np.ndarray] = []
    for acc, side, ref in recordings:
        hs, to, stride = _detect(acc, raw, (side,))[side]
        hs_err.append(match_times(ref.heel_strikes, hs, tolerance_s).errors_s)
        if to.size == 0 or ref.toe_offs.size == 0:
            continue
        # Raw toe offs lag the truth by ~0.1 s; pair each with its nearest reference toe off.
        nearest = ref.toe_offs[np.clip(np.searchsorted(ref.toe_offs, to), 0, ref.toe_offs.size - 1)]
        prev = ref.toe_offs[np.clip(np.searchsorted(ref.toe_offs, to) - 1, 0, None)]
        best = np.where(np.abs(to - prev) < np.abs(to - nearest), prev, nearest)
        ok = np.abs(to - best) <= 2 * tolerance_s
        to_err.append(to[ok] - best[ok])
        to_stride.append(stride[ok])
    hs_all = np.concatenate(hs_err) if hs_err else np.empty(0)
    hs_delay = float(np.median(hs_all)) if hs_all.size else base.hs_delay_s
    err = np.concatenate(to_err) if to_err else np.empty(0)
    if err.size >= 3:
        design = np.stack([np.ones(err.size), np.concatenate(to_stride)], axis=1)
        (a, b), *_ = np.linalg.lstsq(design, err, rcond=None)
    else:
        a, b = base.to_delay_s, base.to_delay_per_stride
    return replace(base, hs_delay_s=hs_delay, to_delay_s=float(a), to_delay_per_stride=float(b))
