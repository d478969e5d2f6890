"""Filters and resampling (gaitgrf.core.signal), with property-based checks where it matters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import butter, sosfiltfilt

from gaitgrf.core import contract as c
from gaitgrf.core.config import EventsConfig, ResampleConfig
from gaitgrf.core.sensors import GRAVITY
from gaitgrf.core.signal import (
    bridge_gaps,
    common_time_base,
    filter_stream,
    highpass,
    interp_columns,
    lowpass,
    resample_trial,
    to_time_base,
    uniform_grid,
)
from gaitgrf.io.trial_file import Stream, Trial
from gaitgrf.physics.stream import with_physics
from gaitgrf.pipeline.resample.events import force_plate_events
from gaitgrf.pipeline.resample.segmentation import input_plan, stance_samples

RATES = st.sampled_from([100.0, 148.148, 200.0, 250.0, 1000.0])


def stream(
    name: str,
    rate: float,
    duration: float,
    channels: tuple[str, ...],
    t0: float = 0.0,
    seed: int = 0,
) -> Stream:
    t = t0 + np.arange(0.0, duration, 1.0 / rate)
    rng = np.random.default_rng(seed)
    data = np.sin(2 * np.pi * 1.1 * t)[:, None] * rng.uniform(0.5, 2, len(channels))
    data = data + rng.normal(0, 0.1, data.shape)
    units = tuple(f.unit for ch in channels if (f := c.family_of(ch)) is not None)
    return Stream(name, rate, t, channels, data, units)


def trial(acc_hz: float = 200.0, duration: float = 3.0, offsets=(0.0, 0.0, 0.0)) -> Trial:
    streams = {
        "acc": stream("acc", acc_hz, duration, c.REQUIRED_ACC_CHANNELS, offsets[0], 1),
        "kin": stream("kin", 100.0, duration, c.REQUIRED_ANGLE_CHANNELS, offsets[1], 2),
        "grf": stream("grf", 1000.0, duration, c.REQUIRED_GRF_CHANNELS, offsets[2], 3),
    }
    return Trial("T1", "S1", "t", "walking", streams)


# --- properties ----------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(
    acc_hz=RATES,
    rate=st.sampled_from([50.0, 100.0, 120.0, 200.0]),
    duration=st.floats(1.0, 6.0),
    offsets=st.tuples(st.floats(0, 0.05), st.floats(0, 0.05), st.floats(0, 0.05)),
)
def test_resampled_length_is_duration_times_rate(acc_hz, rate, duration, offsets):
    tr = trial(acc_hz, duration, offsets)
    start = max(s.time[0] for s in tr.streams.values())
    stop = min(s.time[-1] for s in tr.streams.values())
    t = common_time_base(tr, rate)
    assert abs(t.size - (stop - start) * rate) <= 1 + 1e-9
    assert t[0] == pytest.approx(start) and t[-1] <= stop + 1e-9
    np.testing.assert_allclose(np.diff(t), 1.0 / rate, rtol=1e-9)
    out = resample_trial(tr, ResampleConfig(rate_hz=rate))
    assert out.data.shape == (t.size, len(out.channels))
    assert out.channels[:3] == c.REQUIRED_ACC_CHANNELS[:3]  # stream order acc, kin, grf


@settings(max_examples=30, deadline=None)
@given(rate=RATES, duration=st.floats(0.2, 5.0), t0=st.floats(-2, 2))
def test_resampling_at_the_same_rate_is_the_identity(rate, duration, t0):
    s = stream("acc", rate, duration, c.REQUIRED_ACC_CHANNELS[:4], t0)
    np.testing.assert_array_equal(to_time_base(s, s.time), s.data)
    grid = uniform_grid(float(s.time[0]), float(s.time[-1]), rate)
    assert grid.size == s.time.size
    np.testing.assert_allclose(to_time_base(s, grid), s.data, atol=1e-9)
    # ... and applying it twice changes nothing more (idempotence).
    once = Stream("acc", rate, grid, s.channels, to_time_base(s, grid), s.units)
    np.testing.assert_allclose(to_time_base(once, grid), once.data, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    value=st.floats(-1e4, 1e4),
    rate=RATES,
    cutoff=st.floats(0.5, 600.0),
    order=st.integers(1, 8),
    n=st.integers(2, 400),
    columns=st.integers(0, 3),
)
def test_lowpass_of_a_constant_is_the_constant(value, rate, cutoff, order, n, columns):
    x = np.full((n,) if columns == 0 else (n, columns), value)
    y = lowpass(x, rate, cutoff, order)
    assert y.shape == x.shape
    np.testing.assert_allclose(y, value, rtol=1e-9, atol=1e-9 * max(1.0, abs(value)))


@settings(max_examples=30, deadline=None)
@given(
    rate=st.sampled_from([148.148, 200.0, 1000.0]),
    cutoff=st.floats(10.0, 40.0),
    order=st.integers(2, 6),
    freqs=st.lists(st.floats(0.2, 1.0), min_size=1, max_size=3),
    phase=st.floats(0, 6.28),
)
def test_lowpass_twice_is_lowpass_once_well_below_the_cutoff(rate, cutoff, order, freqs, phase):
    t = np.arange(0.0, 4.0, 1.0 / rate)
    # Components at most a fifth of the cut-off: the filter leaves them (almost) alone.
    x = sum(np.sin(2 * np.pi * f * cutoff / 5 * t + phase * k) for k, f in enumerate(freqs))
    once = lowpass(x, rate, cutoff, order)
    twice = lowpass(once, rate, cutoff, order)
    # Away from the ends (where padding extrapolates) a second pass changes next to nothing.
    inner = slice(int(0.5 * rate), -int(0.5 * rate))
    assert np.max(np.abs(twice[inner] - once[inner])) < 2e-3 * len(freqs)
    assert np.max(np.abs(once[inner] - x[inner])) < 2e-3 * len(freqs)
    assert np.max(np.abs(twice - once)) < 0.1 * len(freqs)


def square_force(rng: np.random.Generator, n_stances: int, rate: float = 1000.0):
    """Trapezoid stances (10 ms ramps) separated by noisy swing; returns t, fz, onsets."""
    parts, onsets, now = [], [], 0
    for _ in range(n_stances):
        n_off = int(rng.uniform(0.1, 0.6) * rate)
        n_on = int(rng.uniform(0.3, 1.4) * rate)
        amp = rng.uniform(200, 1200)
        ramp = np.minimum(1.0, np.minimum(np.arange(n_on) + 1, n_on - np.arange(n_on)) / 10.0)
        parts += [np.zeros(n_off), amp * ramp]
        onsets.append((now + n_off) / rate)
        now += n_off + n_on
    parts.append(np.zeros(int(rng.uniform(0.1, 0.5) * rate)))
    fz = np.concatenate(parts)
    fz = fz + rng.normal(0, 1.5, fz.size)
    return np.arange(fz.size) / rate, fz, np.array(onsets)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_stances=st.integers(0, 8))
def test_stance_count_equals_threshold_crossings(seed, n_stances):
    t, fz, onsets = square_force(np.random.default_rng(seed), n_stances)
    cfg = EventsConfig()
    above = fz > cfg.force_threshold_n
    crossings = int(np.sum(~above[:-1] & above[1:]))
    events = force_plate_events(t, fz, cfg)
    assert events.heel_strikes.size == crossings == n_stances
    assert events.toe_offs.size == n_stances
    np.testing.assert_allclose(events.heel_strikes, onsets, atol=0.003)
    assert np.all(events.toe_offs > events.heel_strikes)


@settings(max_examples=25, deadline=None)
@given(mass=st.floats(15.0, 250.0), factor=st.floats(0.2, 5.0))
def test_targets_scale_with_one_over_body_mass_exactly(mass, factor):
    tr = trial(200.0, 3.0)
    plan = input_plan(c.REQUIRED_ACC_CHANNELS + c.REQUIRED_ANGLE_CHANNELS)
    stances = {"l": np.array([[0.5, 1.1], [1.6, 2.2]]), "r": np.array([[1.0, 1.7]])}
    assert plan.physics  # acc + angles allow the Newton estimate: the stream must be added
    streams = with_physics(
        tr.streams, {s: (v[:, 0], v[:, 1]) for s, v in stances.items()}, (0.2, 2.0)
    )
    a = stance_samples(streams, stances, plan, mass * GRAVITY, 101)
    b = stance_samples(streams, stances, plan, mass * factor * GRAVITY, 101)
    assert len(a) == 3 and a.dropped == 0
    np.testing.assert_array_equal(a.inputs, b.inputs)
    np.testing.assert_allclose(
        b.targets.astype(np.float64) * factor, a.targets, rtol=2e-6, atol=1e-30
    )


# --- examples ------------------------------------------------------------------------------
def test_stance_samples_refuse_a_plan_channel_no_stream_holds():
    """A physics plan without its stream once read uninitialised memory (NaN by chance)."""
    tr = trial(200.0, 3.0)
    plan = input_plan(c.REQUIRED_ACC_CHANNELS + c.REQUIRED_ANGLE_CHANNELS)
    stances = {"l": np.array([[0.5, 1.1]]), "r": np.empty((0, 2))}
    with pytest.raises(KeyError, match="physics_"):
        stance_samples(tr.streams, stances, plan, 700.0, 101)


def test_lowpass_matches_scipy_sosfiltfilt():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 3))
    for order in (1, 2, 3, 4, 5):
        ref = sosfiltfilt(butter(order, 12.0, fs=148.148, output="sos"), x, axis=0)
        np.testing.assert_allclose(lowpass(x, 148.148, 12.0, order), ref, atol=1e-12)
    ref = sosfiltfilt(butter(2, 15.0, "high", fs=200.0, output="sos"), x, axis=0)
    np.testing.assert_allclose(highpass(x, 200.0, 15.0), ref, atol=1e-12)


def test_lowpass_is_zero_lag():
    t = np.arange(0.0, 4.0, 0.001)
    x = np.exp(-(((t - 2.0) / 0.05) ** 2))
    y = lowpass(x, 1000.0, 20.0, 4)
    assert t[np.argmax(y)] == pytest.approx(2.0, abs=0.001)


def test_cutoff_at_or_above_nyquist_returns_an_unfiltered_copy():
    x = np.random.default_rng(1).normal(size=(50, 2))
    for cutoff in (50.0, 80.0, np.inf):
        y = lowpass(x, 100.0, cutoff, 4)
        np.testing.assert_array_equal(y, x)
        assert y is not x


def test_short_gaps_stay_bridged_long_gaps_come_back_nan():
    t = np.arange(0.0, 3.0, 0.01)
    x = np.sin(2 * np.pi * t)
    x[50:55] = np.nan  # 0.05 s: bridged for good
    x[150:200] = np.nan  # 0.5 s: bridged for the filter only
    y = lowpass(x, 100.0, 10.0, 4)
    assert np.isfinite(y[:150]).all() and np.isfinite(y[200:]).all()
    assert np.isnan(y[150:200]).all()
    np.testing.assert_allclose(y[50:55], np.sin(2 * np.pi * t[50:55]), atol=0.05)
    bridged, restore = bridge_gaps(x, 100.0, None)
    assert restore is None and np.isfinite(bridged).all()
    edge = np.array([np.nan, np.nan, 1.0, 2.0, np.nan])
    np.testing.assert_array_equal(bridge_gaps(edge, 1.0)[0], [1.0, 1.0, 1.0, 2.0, 2.0])
    assert np.isnan(lowpass(np.full(10, np.nan), 100.0, 10.0, 4)).all()


def test_each_family_is_filtered_with_its_own_cutoff():
    s = stream("grf", 1000.0, 2.0, ("grf_l_x", "grf_l_y", "grf_l_z", "cop_l_x", "cop_l_y"))
    cfg = ResampleConfig().filter
    out = filter_stream(s, cfg)
    np.testing.assert_allclose(out.data[:, :3], lowpass(s.data[:, :3], 1000.0, 20.0, 4))
    np.testing.assert_allclose(out.data[:, 3:], lowpass(s.data[:, 3:], 1000.0, 10.0, 4))
    only = filter_stream(s, cfg, {"grf_l_z"})
    assert only.channels == ("grf_l_z",)
    np.testing.assert_allclose(only.data[:, 0], out.data[:, 2])


def test_interpolation_holds_end_values_and_gathers_all_columns():
    time = np.array([0.0, 1.0, 2.0])
    data = np.array([[0.0, 10.0], [1.0, 20.0], [4.0, np.nan]])
    out = interp_columns(time, data, np.array([-1.0, 0.5, 1.0, 1.5, 3.0]))
    np.testing.assert_allclose(out[:, 0], [0.0, 0.5, 1.0, 2.5, 4.0])
    np.testing.assert_allclose(out[:3, 1], [10.0, 15.0, 20.0])  # exact hit next to NaN: kept
    assert np.isnan(out[3:, 1]).all()
