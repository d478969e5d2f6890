"""Per-trial plausibility numbers for the `validate` stage: one flat row per trial.

The loader (`gaitgrf.io.loader`) decides whether a file *follows the contract*; these numbers say
whether what it holds is *physically plausible*: forces in body weights, stance durations,
accelerometer magnitudes in g, joint-angle extremes. `gaitgrf.pipeline.validate.run` turns the rows
into a
table and checks it with one Great Expectations suite, so every threshold lives there (and in
`params.yaml`, section `validate`), not here. Everything is vectorised over samples.

Metrics that do not apply to a trial's kind are None (stance metrics of a static trial, the
static weight ratio of a walking trial); metrics that apply are never None: a walking trial
without any vertical force gets a peak of 0 BW and 0 stances, so a check fails instead of
silently skipping a missing value. The one exception is said out loud: a static trial whose
GRF is unknown throughout (recorded off the force plates, which a calibration trial may be)
has no weight to compare, so its ratio is None and `static_weight_skipped` gives the reason;
the checks skip such a row and the report lists the skip.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

import numpy as np

from gaitgrf.core import contract as c
from gaitgrf.core.config import ValidateConfig
from gaitgrf.core.sensors import GRAVITY
from gaitgrf.io.trial_file import Stream, Trial

#: Vertical force above which a foot is on the plate (N); a stance is a run above it.
CONTACT_THRESHOLD_N: Final = 20.0
#: Why a static trial without any known force has no weight ratio (`static_weight_skipped`).
STATIC_OFF_PLATES: Final = (
    "GRF unknown at every sample (static trial recorded off the force plates): no weight to check"
)
#: Full-scale range of the accelerometers we expect (+-16 g is the common IMU setting).
ACC_RANGE_G: Final = 16.0
#: A sample at or beyond this |a| on any axis counts as clipped (saturated sensor).
CLIP_LEVEL_G: Final = 15.5

_ACC_LOCATIONS: Final = c.REQUIRED_ACC_LOCATIONS + c.OPTIONAL_ACC_LOCATIONS
#: Families whose missing samples matter (the loader's nan-run rule covers the same ones).
_STRICT_FAMILIES: Final = frozenset(f.name for f in c.CHANNEL_FAMILIES if not f.nan_allowed)

#: Column order of the metrics table; also the keys `trial_metrics` returns.
METRIC_COLUMNS: Final = (
    "trial_key",
    "cohort_id",
    "subject_id",
    "trial_id",
    "kind",
    "mass_kg",
    "duration_s",
    "time_monotonic",
    "rate_error_max",
    "rate_error_stream",
    "nan_fraction_max",
    "nan_fraction_channel",
    "acc_abs_max_g",
    "acc_clipped_fraction",
    "acc_clipped_sensor",
    "acc_median_g_min",
    "acc_median_g_min_sensor",
    "acc_median_g_max",
    "acc_median_g_max_sensor",
    "acc_std_min",
    "acc_std_min_sensor",
    "dead_sensors",
    "angle_abs_max_deg",
    "angle_abs_max_channel",
    "grf_z_min_n",
    "grf_peak_bw",
    "stance_median_s",
    "stance_count_l",
    "stance_count_r",
    "stance_count_min",
    "static_weight_ratio",
    "static_weight_skipped",
)


def trial_key(cohort_id: str, trial_id: str) -> str:
    """The row id of a trial in the metrics table (trial ids are unique within a cohort)."""
    return f"{cohort_id}/{trial_id}"


def trial_metrics(
    trial: Trial, subject: Mapping[str, Any], rules: ValidateConfig
) -> dict[str, Any]:
    """One row of numbers and flags for `trial` (canonical units, as `read_trial` returns).

    `subject` is the trial's row of subjects.csv (`Cohort.subject`); its `mass_kg` turns forces
    into body weights. `rules` only names things (`dead_sensors` lists the sensors flatter than
    `rules.acc_min_std`); pass/fail is decided by the validation suite.
    """
    mass = _float(subject.get("mass_kg"))
    row: dict[str, Any] = dict.fromkeys(METRIC_COLUMNS)
    row.update(
        trial_key=trial_key(trial.cohort_id, trial.trial_id),
        cohort_id=trial.cohort_id,
        subject_id=trial.subject_id,
        trial_id=trial.trial_id,
        kind=trial.kind,
        mass_kg=mass,
        duration_s=float(trial.duration_s),
    )
    row.update(_time_metrics(trial.streams.values()))
    row.update(_nan_metrics(trial.streams.values()))
    if c.STREAM_ACC in trial.streams:
        row.update(_acc_metrics(trial.streams[c.STREAM_ACC], rules))
    if c.STREAM_KIN in trial.streams:
        row.update(_angle_metrics(trial.streams[c.STREAM_KIN]))
    if c.STREAM_GRF in trial.streams:
        row.update(_grf_metrics(trial.streams[c.STREAM_GRF], trial.kind, mass))
    return row


# --- time bases ------------------------------------------------------------------------------
def _time_metrics(streams: Iterable[Stream]) -> dict[str, Any]:
    """Whether every time base strictly increases, and the stream whose rate is furthest off."""
    monotonic = True
    worst, worst_stream = 0.0, ""
    for s in streams:
        t = np.asarray(s.time, dtype=np.float64)
        if t.size < 2:
            monotonic = False
            continue
        dt = np.diff(t)
        finite = bool(np.isfinite(t).all())
        monotonic &= finite and bool((dt > 0).all())
        median = float(np.median(dt)) if finite else math.nan
        err = abs(1.0 / median - s.rate_hz) / s.rate_hz if median > 0 else math.inf
        if not err <= worst:  # NaN or larger
            worst, worst_stream = err, s.name
    return {
        "time_monotonic": monotonic,
        "rate_error_max": worst,
        "rate_error_stream": worst_stream or None,
    }


def _nan_metrics(streams: Iterable[Stream]) -> dict[str, Any]:
    """The largest share of missing samples over the channels that may not have gaps."""
    worst, channel = 0.0, None
    for s in streams:
        idx = [j for j, ch in enumerate(s.channels) if _family(ch) in _STRICT_FAMILIES]
        if not idx or s.data.shape[0] == 0:
            continue
        fractions = np.isnan(s.data[:, idx]).mean(axis=0)
        k = int(np.argmax(fractions))
        if fractions[k] > worst:
            worst, channel = float(fractions[k]), s.channels[idx[k]]
    return {"nan_fraction_max": worst, "nan_fraction_channel": channel}


# --- accelerometers --------------------------------------------------------------------------
def _acc_metrics(acc: Stream, rules: ValidateConfig) -> dict[str, Any]:
    """Range, clipping, median |a| and liveliness per sensor, each with the worst sensor named."""
    names = set(acc.channels)
    locations = [
        loc for loc in _ACC_LOCATIONS if all(c.acc_channel(loc, ax) in names for ax in c.AXES)
    ]
    if not locations or acc.data.shape[0] == 0:
        return {}
    idx = np.array(
        [[acc.channels.index(c.acc_channel(loc, ax)) for ax in c.AXES] for loc in locations]
    )
    xyz = acc.data[:, idx] / GRAVITY  # samples x sensors x axes, in g
    magnitude = np.sqrt(np.sum(xyz * xyz, axis=2))  # samples x sensors, NaN where missing
    with _quiet():
        median_g = np.nanmedian(magnitude, axis=0)
        std = np.nanstd(magnitude * GRAVITY, axis=0)  # m/s^2, like rules.acc_min_std
        abs_max_g = float(np.nanmax(np.abs(xyz)))
    clipped = (np.abs(xyz) >= CLIP_LEVEL_G).any(axis=2).mean(axis=0)  # NaN compares False
    # The median band is physiological for the required sites; a foot in swing legitimately
    # reads a median of ~1.1-1.6 g, so optional sensors are left out of it.
    banded = np.array([loc in c.REQUIRED_ACC_LOCATIONS for loc in locations])
    band = np.where(banded, median_g, np.nan) if banded.any() else median_g
    k_clip, k_lo, k_hi, k_std = (
        int(np.argmax(clipped)),
        _nanargmin(band),
        _nanargmax(band),
        _nanargmin(std),
    )
    dead = [loc for loc, s in zip(locations, std, strict=True) if not s >= rules.acc_min_std]
    return {
        "acc_abs_max_g": abs_max_g,
        "acc_clipped_fraction": float(clipped[k_clip]),
        "acc_clipped_sensor": locations[k_clip] if clipped[k_clip] > 0 else None,
        "acc_median_g_min": float(median_g[k_lo]),
        "acc_median_g_min_sensor": locations[k_lo],
        "acc_median_g_max": float(median_g[k_hi]),
        "acc_median_g_max_sensor": locations[k_hi],
        "acc_std_min": float(std[k_std]),
        "acc_std_min_sensor": locations[k_std],
        "dead_sensors": ",".join(dead) or None,
    }


# --- joint angles ----------------------------------------------------------------------------
def _angle_metrics(kin: Stream) -> dict[str, Any]:
    """The largest absolute joint angle and its channel (radians or wrapping show up here)."""
    idx = [j for j, ch in enumerate(kin.channels) if _family(ch) == "joint_angle"]
    if not idx or kin.data.shape[0] == 0:
        return {}
    with _quiet():
        per_channel = np.nanmax(np.abs(kin.data[:, idx]), axis=0)
    k = _nanargmax(per_channel)
    return {
        "angle_abs_max_deg": float(per_channel[k]),
        "angle_abs_max_channel": kin.channels[idx[k]],
    }


# --- force plates ----------------------------------------------------------------------------
def _grf_metrics(grf: Stream, kind: str, mass: float) -> dict[str, Any]:
    """Vertical GRF in body weights: peak and stances while walking, the mean while standing."""
    names = set(grf.channels)
    sides = [s for s in c.SIDES if c.grf_channel(s, "z") in names]
    if not sides:
        return {}
    fz = grf.select([c.grf_channel(s, "z") for s in sides])  # samples x sides, N
    weight = mass * GRAVITY if mass > 0 else math.nan
    with _quiet():
        fz_min = float(np.nanmin(fz)) if fz.size else math.nan
    out: dict[str, Any] = {"grf_z_min_n": None if math.isnan(fz_min) else fz_min}
    if kind == "walking":
        # No force at all (all NaN) is a peak of 0 BW, not a missing value.
        peak = float(np.max(np.nan_to_num(fz, nan=0.0), initial=0.0))
        counts, durations = {}, []
        for j, side in enumerate(sides):
            d = _stance_durations(grf.time, fz[:, j] > CONTACT_THRESHOLD_N)
            counts[side] = int(d.size)
            durations.append(d)
        all_d = np.concatenate(durations)
        out.update(
            grf_peak_bw=peak / weight,
            stance_median_s=float(np.median(all_d)) if all_d.size else None,
            stance_count_l=counts.get("l", 0),
            stance_count_r=counts.get("r", 0),
            stance_count_min=min(counts.get("l", 0), counts.get("r", 0)),
        )
    elif kind == "static":
        # NaN force is "foot off the plate": no load. A trial whose force is unknown at every
        # sample was recorded off the plates: there is no weight to check, which is said.
        loaded = ~np.isnan(fz).all(axis=1)
        if not loaded.any():
            out["static_weight_skipped"] = STATIC_OFF_PLATES
            return out
        total = np.nan_to_num(fz, nan=0.0).sum(axis=1)[loaded]
        out["static_weight_ratio"] = float(total.mean()) / weight
    return out


def _stance_durations(time: np.ndarray, contact: np.ndarray) -> np.ndarray:
    """Durations (s) of complete stances: runs of contact that start and end inside the trial."""
    padded = np.zeros(contact.size + 2, dtype=np.int8)
    padded[1:-1] = contact
    edges = np.diff(padded)
    start = np.flatnonzero(edges == 1)
    stop = np.flatnonzero(edges == -1)  # first sample after the run
    complete = (start > 0) & (stop < contact.size)
    return np.asarray(time[stop[complete]] - time[start[complete]], dtype=np.float64)


# --- helpers ---------------------------------------------------------------------------------
def _family(channel: str) -> str | None:
    """The channel family's name, or None for a name outside the contract."""
    family = c.family_of(channel)
    return family.name if family is not None else None


def _float(value: Any) -> float:
    """A subject cell as a number; empty or text becomes NaN, so the checks see it missing."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _nanargmin(x: np.ndarray) -> int:
    """Index of the smallest value ignoring NaN (0 when all are NaN, without a warning)."""
    return int(np.argmin(np.where(np.isnan(x), np.inf, x)))


def _nanargmax(x: np.ndarray) -> int:
    """Index of the largest value ignoring NaN (0 when all are NaN, without a warning)."""
    return int(np.argmax(np.where(np.isnan(x), -np.inf, x)))


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence numpy's 'All-NaN slice' / 'Degrees of freedom' warnings: NaN is the answer."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
