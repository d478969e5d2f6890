"""The vertical timing shift of the diagnosis (gaitgrf.serving.timing): a known shift is found."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaitgrf.serving.timing import MAX_SHIFT_POINTS, timing_line, vertical_timing

POINTS = 101


def stance_forces(n: int, seed: int) -> np.ndarray:
    """(n, 3, POINTS + 2 * MAX) smooth double-hump curves with a random second harmonic."""
    rng = np.random.default_rng(seed)
    s = np.linspace(-0.1, 1.1, POINTS + 2 * MAX_SHIFT_POINTS)
    q = rng.uniform(0.1, 0.3, size=(n, 1))
    k = rng.uniform(-0.1, 0.1, size=(n, 1))
    vertical = np.sin(np.pi * s) + q * np.sin(3 * np.pi * s) + k * np.sin(2 * np.pi * s)
    out = np.zeros((n, 3, s.size))
    out[:, 0] = vertical
    out[:, 1] = 0.2 * np.sin(2 * np.pi * s)
    return out


@settings(max_examples=40, deadline=None)
@given(late=st.integers(-6, 6), seed=st.integers(0, 10_000), n=st.integers(1, 5))
def test_a_prediction_shifted_by_k_points_is_found_k_points_late(late: int, seed: int, n: int):
    wide = stance_forces(n, seed)
    m = MAX_SHIFT_POINTS
    measured = wide[:, :, m : m + POINTS]
    # predicted[i + late] == measured[i]: the prediction runs `late` points late.
    predicted = wide[:, :, m - late : m - late + POINTS]
    shift = vertical_timing(measured, predicted, "plates")
    assert shift is not None
    assert shift.late_points == late
    assert shift.r_shifted == pytest.approx(1.0, abs=1e-9)
    assert shift.r_shifted >= shift.r
    assert shift.late_percent == pytest.approx(late)  # 101 points: one point is 1 %


def test_in_time_reports_zero_and_says_so():
    wide = stance_forces(3, 0)
    curves = wide[:, :, MAX_SHIFT_POINTS : MAX_SHIFT_POINTS + POINTS]
    shift = vertical_timing(curves, curves.copy(), "wearable")
    assert shift is not None and shift.late_points == 0
    assert "in time" in timing_line(shift)
    late = vertical_timing(curves[:, :, 3:], curves[:, :, :-3], "plates")
    assert late is not None and late.late_points == 3 and "late" in timing_line(late)


def test_steps_off_the_plates_are_left_out_and_none_without_any():
    wide = stance_forces(4, 1)
    curves = wide[:, :, MAX_SHIFT_POINTS : MAX_SHIFT_POINTS + POINTS]
    measured = curves.copy()
    measured[1] = np.nan
    shift = vertical_timing(measured, curves, "plates")
    assert shift is not None and shift.n_steps == 3
    measured[:] = np.nan
    assert vertical_timing(measured, curves, "plates") is None
