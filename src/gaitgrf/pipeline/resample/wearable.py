"""Gait events from wearable accelerometers alone: heel strikes and toe offs of each leg.

`wearable_events` uses the accelerometers of one leg only, no force channel (method and
calibration in docs/resampling.md). Heel strike: the impact peak of the high-passed axial (z)
acceleration of the shank (plus the foot sensor where there is one), minus a calibrated delay.
Toe off: the minimum of the low-passed shank axial acceleration in the following swing (the
shank swings through fastest shortly after toe off), minus a calibrated delay that grows with
stride time. `calibrate_wearable_model` fits those delays to force-plate events
(`gaitgrf.pipeline.resample.events`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

import numpy as np
from scipy.signal import find_peaks

from gaitgrf.core import contract as c
from gaitgrf.core.signal import bridge_gaps, highpass, lowpass
from gaitgrf.io.trial_file import Stream
from gaitgrf.pipeline.resample.events import Events, match_times


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
    #: Low-pass of the shank anterior-posterior acceleration whose trough anchors each stride (Hz).
    tilt_lowpass_hz: float = 3.0
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
    #: Where the axial swing dip is looked for around each anterior-posterior trough (strides).
    dip_window: tuple[float, float] = (-0.2, 0.05)


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
    # Axial (z) channels: shanks first, then the feet that have a sensor; then the shanks'
    # anterior-posterior (x) channels where there are any.
    feet = {s: _column(acc, c.acc_channel(f"foot_{s}", "z")) for s in legs}
    ap = {s: _column(acc, c.acc_channel(f"shank_{s}", "x")) for s in legs}
    axial = [i for i in [*(shank[s] for s in legs), *(feet[s] for s in legs)] if i is not None]
    ap_legs = [s for s in legs if ap[s] is not None]
    raw, _ = bridge_gaps(acc.data[:, axial + [ap[s] for s in ap_legs]], fs, None)
    swing = lowpass(raw[:, : len(legs)], fs, model.swing_lowpass_hz, 2, max_gap_s=None)
    tilt = lowpass(raw[:, len(axial) :], fs, model.tilt_lowpass_hz, 2, max_gap_s=None)
    impact = highpass(raw[:, : len(axial)], fs, model.impact_highpass_hz)
    scale = np.std(impact, axis=0)
    impact /= np.where(scale > 0, scale, 1.0)
    foot_at = len(legs)
    for k, s in enumerate(legs):
        parts = [k]
        if feet[s] is not None:
            parts.append(foot_at)
            foot_at += 1
        if not np.isfinite(raw[:, parts]).all():
            continue
        leg_tilt = tilt[:, ap_legs.index(s)] if s in ap_legs else None
        if leg_tilt is not None and not np.isfinite(leg_tilt).all():
            leg_tilt = None
        out[s] = _detect_leg(t, fs, swing[:, k], leg_tilt, impact[:, parts].sum(axis=1), model)
    return out


def _troughs(
    x: np.ndarray, t: np.ndarray, fs: float, period: float, model: WearableModel
) -> np.ndarray:
    """Times of the minima of `x`, one per stride (the deepest within 0.6 of a period), less
    those shallower than `min_peak_fraction` of the median, sub-sample refined."""
    minima, props = find_peaks(-x, distance=max(1, int(0.6 * period * fs)), prominence=0.0)
    if minima.size == 0:
        return np.empty(0)
    prominence = props["prominences"]
    minima = minima[prominence >= model.min_peak_fraction * np.median(prominence)]
    minima = minima[(minima > 0) & (minima < t.size - 1)]
    return t[minima] + _parabolic(x, minima) / fs


def _strides(anchors: np.ndarray, period: float) -> np.ndarray:
    """The stride each anchor belongs to: the gap to the previous anchor, else to the next,
    else the trial's period; gaps more than 30 % off the period (a missed swing) are not
    trusted."""
    with np.errstate(invalid="ignore"):
        gap = np.diff(anchors, prepend=np.nan)
        ahead = np.diff(anchors, append=np.nan)
    stride = np.full(anchors.size, period)
    for cand in (ahead, gap):
        with np.errstate(invalid="ignore"):
            ok = np.abs(cand / period - 1.0) < 0.3
        stride = np.where(ok, cand, stride)
    return stride


def _swing_dips(
    t: np.ndarray,
    fs: float,
    swing: np.ndarray,
    anchors: np.ndarray,
    stride: np.ndarray,
    model: WearableModel,
) -> tuple[np.ndarray, np.ndarray]:
    """Per anchor, the deepest local minimum of the axial `swing` signal within `dip_window`
    of it (times, and a mask of the anchors that have one)."""
    minima, _ = find_peaks(-swing)
    lo, hi = model.dip_window
    times = np.full(anchors.size, np.nan)
    for j, (a, s) in enumerate(zip(anchors, stride, strict=True)):
        inside = minima[(t[minima] >= a + lo * s) & (t[minima] <= a + hi * s)]
        if inside.size:
            i = inside[np.argmin(swing[inside])]
            times[j] = t[i] + float(_parabolic(swing, np.array([i]))[0]) / fs
    return times, np.isfinite(times)


def _landings(
    t: np.ndarray,
    fs: float,
    impact: np.ndarray,
    anchors: np.ndarray,
    stride: np.ndarray,
    model: WearableModel,
) -> np.ndarray:
    """Heel strikes: the impact transient along the segments' long axis (z), in the window
    after each swing anchor where the foot lands (which excludes the toe-off region before
    it). The swing before the first readable one may lie before the trial: its landing still
    can."""
    anchors = np.concatenate(([anchors[0] - stride[0]], anchors))
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
    if not peaks:
        return np.empty(0)
    idx = np.array(peaks)
    idx = idx[impact[idx] >= model.min_peak_fraction * np.median(impact[idx])]
    return t[idx] + _parabolic(impact, idx) / fs - model.hs_delay_s


def _agree(
    dips: np.ndarray, troughs: np.ndarray, stride: np.ndarray, model: WearableModel
) -> float:
    """Share of the axial swing dips that lie in the swing an AP trough marks (`dip_window`)."""
    if dips.size == 0 or troughs.size == 0:
        return 0.0
    k = np.clip(np.searchsorted(troughs, dips), 0, troughs.size - 1)
    lo, hi = model.dip_window
    hit = np.zeros(dips.size, dtype=bool)
    for j in (k - 1, k):
        j = np.clip(j, 0, troughs.size - 1)
        d = (dips - troughs[j]) / stride[j]
        hit |= (d >= lo) & (d <= hi)
    return float(hit.mean())


def _detect_leg(
    t: np.ndarray,
    fs: float,
    swing: np.ndarray,
    tilt: np.ndarray | None,
    impact: np.ndarray,
    model: WearableModel,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Anchor, one per stride: the axial swing dip (the shank swings through fastest just after
    # toe off). A stiff knee flattens that dip below a stance one; the trough of the shank's
    # anterior-posterior acceleration (the shank tilted furthest back, which needs no knee
    # flexion) tells: when most axial dips fall outside the swing the AP troughs mark, the
    # strides are anchored on the AP troughs instead.
    period = stride_period(swing, fs, *model.stride_range_s)
    if period is None:
        return _NONE
    dips = _troughs(swing, t, fs, period, model)
    if dips.size == 0:
        return _NONE
    anchors = dips
    if tilt is not None:
        tilt_period = stride_period(tilt, fs, *model.stride_range_s) or period
        troughs = _troughs(tilt, t, fs, tilt_period, model)
        tilt_stride = _strides(troughs, tilt_period)
        if troughs.size and _agree(dips, troughs, tilt_stride, model) < 0.5:
            anchors = troughs
            # The AP trough comes later in the swing than the axial dip and may fall after
            # the recording's end while the dip does not: one stride is extrapolated each end.
            ext = np.concatenate(
                ([anchors[0] - tilt_stride[0]], anchors, [anchors[-1] + tilt_stride[-1]])
            )
            ext_stride = np.concatenate(([tilt_stride[0]], tilt_stride, [tilt_stride[-1]]))
            found, ok = _swing_dips(t, fs, swing, ext, ext_stride, model)
            dips = found[ok]
    stride = _strides(anchors, period)
    dip_stride = _strides(dips, period)
    # Toe off: the axial swing dip minus its calibrated delay.
    toe = dips - (model.to_delay_s + model.to_delay_per_stride * dip_stride)
    hs = _landings(t, fs, impact, anchors, stride, model)
    keep = (toe >= t[0]) & (toe <= t[-1])
    return hs, toe[keep], dip_stride[keep]


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
