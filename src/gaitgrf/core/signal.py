"""Filters and resampling: every stream of a trial onto one uniform time base.

Policies (docs/resampling.md):

* **Zero lag.** Low-pass filters are Butterworth, run forwards and backwards (`sosfiltfilt`), so
  no event is shifted in time. The effective order is twice `order` (the magnitude response is
  squared, -6 dB at the cut-off).
* **Short gaps are bridged and stay bridged.** The loader already refused runs of NaN longer than
  `contract.max_nan_run_s` in accelerometers and joint angles, so what reaches this module is a
  short dropout: it is bridged linearly (edges: held at the nearest value) before filtering and
  kept bridged, so one dropout never removes a stance or a window. Gaps longer than `max_gap_s`
  (only in channels that may be NaN anywhere: GRF without a plate, COP in swing) are bridged for
  the filter's sake and put back to NaN afterwards.
* **Cut-off at or above Nyquist** means "nothing to remove": the (gap-bridged) signal comes back
  unfiltered, without error, so a config written for 1 kHz data still runs on 100 Hz data.
* **Each family at its own rate.** `resample_trial` filters every channel with its family's
  cut-off at the stream's native rate, then interpolates linearly onto the common grid, one
  vectorised gather for all channels of a stream.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from gaitgrf.core import contract as c
from gaitgrf.core.config import FilterConfig, ResampleConfig
from gaitgrf.io.trial_file import Stream, Trial

#: Default longest gap (s) that stays bridged; matches the contract's `max_nan_run_s`.
DEFAULT_MAX_GAP_S = 0.1


# --- gaps and filters --------------------------------------------------------------------------
def bridge_gaps(
    x: np.ndarray, rate_hz: float, max_gap_s: float | None = DEFAULT_MAX_GAP_S
) -> tuple[np.ndarray, np.ndarray | None]:
    """Linearly bridge NaN runs along axis 0; returns (bridged copy, mask of gaps to restore).

    Leading and trailing NaN are held at the nearest valid value. The mask (same shape as `x`,
    or None when nothing needs restoring) marks samples of runs longer than `max_gap_s`
    (`None`: every run stays bridged). An all-NaN column stays NaN.
    """
    out = np.array(x, dtype=np.float64, copy=True)
    nan = np.isnan(out)
    if not nan.any():
        return out, None
    flat = out.reshape(out.shape[0], -1)
    nan2 = nan.reshape(out.shape[0], -1)
    restore = np.zeros_like(nan2) if max_gap_s is not None else None
    limit = None if max_gap_s is None else max_gap_s * rate_hz + 1e-9
    idx = np.arange(flat.shape[0])
    for j in np.flatnonzero(nan2.any(axis=0)):
        missing = nan2[:, j]
        if missing.all():
            continue
        flat[missing, j] = np.interp(idx[missing], idx[~missing], flat[~missing, j])
        if restore is not None and limit is not None:
            padded = np.concatenate(([False], missing, [False])).astype(np.int8)
            edges = np.diff(padded)
            starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
            for a, b in zip(
                starts[stops - starts > limit], stops[stops - starts > limit], strict=True
            ):
                restore[a:b, j] = True
    if restore is None or not restore.any():
        return out, None
    return out, restore.reshape(out.shape)


@lru_cache(maxsize=128)
def _butter(
    order: int, cutoff_hz: float, rate_hz: float, btype: str
) -> tuple[np.ndarray, np.ndarray]:
    """Second-order sections of a Butterworth filter and their unit-step initial state."""
    # scipy.signal is imported here, not with the module: it costs ~0.5-1.5 s and every process
    # that only reads samples (a tune stage, through the normaliser's feature names) would pay
    # it without filtering anything (benchmarks/orchestration.py).
    from scipy.signal import butter, sosfilt_zi

    sos = np.asarray(butter(order, cutoff_hz, btype=btype, fs=rate_hz, output="sos"))
    return sos, np.asarray(sosfilt_zi(sos))


def _filtfilt(sos: np.ndarray, zi: np.ndarray, x: np.ndarray) -> np.ndarray:
    """`scipy.signal.sosfiltfilt(sos, x, axis=0)` (odd padding) with a cached initial state.

    Works on the transposed, C-contiguous copy so each channel is filtered along memory, and
    pads with at most n - 1 samples so short signals are filtered too.
    """
    from scipy.signal import sosfilt

    n = x.shape[0]
    # scipy's default padding: 3 x the taps, not counting the zero taps of an odd order.
    ntaps = 2 * sos.shape[0] + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    padlen = min(3 * ntaps, n - 1)
    xt = np.ascontiguousarray(x.reshape(n, -1).T)
    if padlen > 0:
        left = 2.0 * xt[:, :1] - xt[:, padlen:0:-1]
        right = 2.0 * xt[:, -1:] - xt[:, -2 : -padlen - 2 : -1]
        ext = np.concatenate([left, xt, right], axis=1)
    else:
        ext = xt
    state = zi[:, None, :] * ext[None, :, :1]
    y, _ = sosfilt(sos, ext, axis=-1, zi=state)
    y = y[:, ::-1]
    state = zi[:, None, :] * y[None, :, :1]
    y, _ = sosfilt(sos, y, axis=-1, zi=state)
    y = y[:, ::-1]
    if padlen > 0:
        y = y[:, padlen:-padlen]
    return np.ascontiguousarray(y.T).reshape(x.shape)


def lowpass(
    x: np.ndarray,
    rate_hz: float,
    cutoff_hz: float,
    order: int,
    *,
    max_gap_s: float | None = DEFAULT_MAX_GAP_S,
) -> np.ndarray:
    """Zero-lag Butterworth low-pass along axis 0 of an (n,) or (n, c) array.

    Same result as `scipy.signal.sosfiltfilt(butter(order, cutoff, fs=rate, output="sos"), x,
    axis=0)`. NaN gaps are bridged first (see `bridge_gaps`); runs up to `max_gap_s` stay
    bridged, longer ones come back NaN. A cut-off at or above Nyquist returns the bridged signal
    unfiltered. Signals shorter than the filter's padding are padded with what they have.
    """
    data, restore = bridge_gaps(np.asarray(x, dtype=np.float64), rate_hz, max_gap_s)
    if data.shape[0] >= 2 and 0.0 < cutoff_hz < 0.5 * rate_hz:
        sos, zi = _butter(int(order), float(cutoff_hz), float(rate_hz), "lowpass")
        finite = np.isfinite(data).all(axis=0)
        if np.all(finite):
            data = _filtfilt(sos, zi, data)
        elif np.any(finite):  # an all-NaN column is left alone, the others are filtered
            data[:, finite] = _filtfilt(sos, zi, data[:, finite])
    if restore is not None:
        data[restore] = np.nan
    return data


def highpass(x: np.ndarray, rate_hz: float, cutoff_hz: float, order: int = 2) -> np.ndarray:
    """Zero-lag Butterworth high-pass along axis 0 (input must be free of NaN)."""
    data = np.array(x, dtype=np.float64, copy=True)
    if data.shape[0] < 2 or not 0.0 < cutoff_hz < 0.5 * rate_hz:
        return data
    sos, zi = _butter(int(order), float(cutoff_hz), float(rate_hz), "highpass")
    return _filtfilt(sos, zi, data)


# --- time bases --------------------------------------------------------------------------------
def uniform_grid(start: float, stop: float, rate_hz: float) -> np.ndarray:
    """`start, start + 1/rate, ...` up to and including `stop` (within 1e-9 of a step)."""
    if stop < start:
        return np.empty(0)
    n = int(np.floor((stop - start) * rate_hz + 1e-6)) + 1
    return start + np.arange(n) / rate_hz


def common_time_base(trial: Trial, rate_hz: float) -> np.ndarray:
    """The time span every stream covers (latest start to earliest end), on a uniform grid."""
    streams = [s for s in trial.streams.values() if s.time.size]
    if not streams:
        return np.empty(0)
    start = max(float(s.time[0]) for s in streams)
    stop = min(float(s.time[-1]) for s in streams)
    return uniform_grid(start, stop, rate_hz)


def interp_columns(time: np.ndarray, data: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Linear interpolation of every column of `data` (n x c, at `time`) at `t`: (len(t) x c).

    One searchsorted and one gather for all columns. Points outside `time` are held at the end
    values (as `np.interp`); a point that falls exactly on a sample returns that sample, even
    next to a NaN; otherwise NaN neighbours give NaN.
    """
    time = np.asarray(time, dtype=np.float64)
    data = np.asarray(data, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    squeeze = data.ndim == 1
    values = data[:, None] if squeeze else data
    n = time.shape[0]
    if n == 1:
        out = np.repeat(values, t.shape[0], axis=0)
        return out[:, 0] if squeeze else out
    tc = np.clip(t, time[0], time[-1])
    i0 = np.clip(np.searchsorted(time, tc, side="right") - 1, 0, n - 2)
    w = ((tc - time[i0]) / (time[i0 + 1] - time[i0]))[:, None]
    lo, hi = values[i0], values[i0 + 1]
    out = lo + w * (hi - lo)
    exact_lo = (w == 0.0)[:, 0]
    exact_hi = (w == 1.0)[:, 0]
    if exact_lo.any():
        out[exact_lo] = lo[exact_lo]
    if exact_hi.any():
        out[exact_hi] = hi[exact_hi]
    return out[:, 0] if squeeze else out


def to_time_base(stream: Stream, t: np.ndarray) -> np.ndarray:
    """The stream's channels linearly interpolated at times `t`: (len(t) x channels)."""
    return interp_columns(stream.time, stream.data, t)


# --- whole trials ------------------------------------------------------------------------------
def family_cutoffs(channels: tuple[str, ...], cfg: FilterConfig) -> np.ndarray:
    """Cut-off (Hz) per channel from its family; +inf (no filtering) when the family has none."""
    out = np.full(len(channels), np.inf)
    for j, ch in enumerate(channels):
        family = c.family_of(ch)
        if family is not None and family.name in cfg.cutoff_hz:
            out[j] = float(cfg.cutoff_hz[family.name])
    return out


def filter_stream(
    stream: Stream, cfg: FilterConfig, channels: Collection[str] | None = None
) -> Stream:
    """The stream with every channel low-passed at its family's cut-off, at the native rate.

    Channels sharing a cut-off are filtered in one call; long gaps (NaN-allowed families only)
    come back NaN. With `channels`, only those of the stream are kept (and filtered).
    """
    if channels is not None:
        keep = [j for j, ch in enumerate(stream.channels) if ch in channels]
        if len(keep) != len(stream.channels):
            stream = Stream(
                stream.name,
                stream.rate_hz,
                stream.time,
                tuple(stream.channels[j] for j in keep),
                stream.data[:, keep],
                tuple(stream.units[j] for j in keep),
            )
    cutoffs = family_cutoffs(stream.channels, cfg)
    data = np.empty(stream.data.shape, dtype=np.float64)
    for cutoff in np.unique(cutoffs):
        cols = np.flatnonzero(cutoffs == cutoff)
        data[:, cols] = lowpass(stream.data[:, cols], stream.rate_hz, float(cutoff), cfg.order)
    return Stream(stream.name, stream.rate_hz, stream.time, stream.channels, data, stream.units)


def filter_trial(
    trial: Trial, cfg: FilterConfig, channels: Collection[str] | None = None
) -> dict[str, Stream]:
    """Every stream of the trial filtered at its native rate (see `filter_stream`).

    `channels` limits the work to the channels a caller needs (the stage skips COP).
    """
    return {name: filter_stream(s, cfg, channels) for name, s in trial.streams.items()}


@dataclass(frozen=True, eq=False)
class ResampledTrial:
    """A trial with every channel filtered and on one uniform time base (`data`: T x C)."""

    trial_id: str
    subject_id: str
    cohort_id: str
    kind: str
    rate_hz: float
    time: np.ndarray
    channels: tuple[str, ...]
    data: np.ndarray
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.data.shape != (self.time.shape[0], len(self.channels)):
            raise ValueError(
                f"{self.trial_id}: data {self.data.shape} does not match "
                f"{self.time.shape[0]} samples x {len(self.channels)} channels"
            )

    def index(self, names: tuple[str, ...] | list[str]) -> np.ndarray:
        position = {ch: i for i, ch in enumerate(self.channels)}
        return np.array([position[n] for n in names], dtype=np.intp)

    def channel(self, name: str) -> np.ndarray:
        return self.data[:, self.channels.index(name)]

    def select(self, names: tuple[str, ...] | list[str]) -> np.ndarray:
        return self.data[:, self.index(names)]


def _ordered_streams(streams: Mapping[str, Stream]) -> list[Stream]:
    known = [streams[n] for n in c.STREAMS if n in streams]
    return known + [s for n, s in streams.items() if n not in c.STREAMS]


def resample_filtered(
    trial: Trial, filtered: Mapping[str, Stream], rate_hz: float
) -> ResampledTrial:
    """Put already filtered streams on the trial's common time base (streams in contract order)."""
    t = common_time_base(trial, rate_hz)
    streams = _ordered_streams(filtered)
    parts = [to_time_base(s, t) for s in streams]
    channels = tuple(ch for s in streams for ch in s.channels)
    data = np.concatenate(parts, axis=1) if parts else np.empty((t.size, 0))
    return ResampledTrial(
        trial.trial_id,
        trial.subject_id,
        trial.cohort_id,
        trial.kind,
        float(rate_hz),
        t,
        channels,
        data,
        trial.extra,
    )


def resample_trial(trial: Trial, cfg: ResampleConfig) -> ResampledTrial:
    """Filter every channel at its native rate with its family's cut-off, then resample.

    The common time base runs from the latest stream start to the earliest stream end at
    `cfg.rate_hz`; channels come in stream order acc, kin, grf.
    """
    return resample_filtered(trial, filter_trial(trial, cfg.filter), cfg.rate_hz)
