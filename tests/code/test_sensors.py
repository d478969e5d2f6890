"""The shared sensor model: rotations, sites and what an accelerometer reads."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from gaitgrf.core.sensors import (
    GRAVITY,
    SENSOR_SITES,
    segment_rotation,
    specific_force,
)

angles = st.floats(-np.pi, np.pi, allow_nan=False)


@given(angles, angles, angles)
def test_segment_rotation_is_a_proper_rotation(pitch: float, roll: float, yaw: float) -> None:
    r = segment_rotation(np.array(pitch), np.array(roll), np.array(yaw))
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(r), 1.0)


@given(angles, angles, angles)
def test_still_sensor_reads_gravity_magnitude(pitch: float, roll: float, yaw: float) -> None:
    r = segment_rotation(np.array([pitch]), np.array([roll]), np.array([yaw]))
    f = specific_force(np.zeros((1, 3)), r)
    assert np.isclose(np.linalg.norm(f), GRAVITY)


def test_upright_sensor_reads_plus_g_on_z() -> None:
    f = specific_force(np.zeros((1, 3)), np.eye(3))
    np.testing.assert_allclose(f, [[0.0, 0.0, GRAVITY]])


def test_free_fall_reads_zero() -> None:
    fall = np.array([[0.0, 0.0, -GRAVITY]])
    np.testing.assert_allclose(specific_force(fall, np.eye(3)), 0.0, atol=1e-12)


def test_positive_pitch_tips_segment_axis_forward() -> None:
    r = segment_rotation(np.array(np.radians(30)), np.array(0.0), np.array(0.0))
    z_axis = r[:, 2]
    assert z_axis[0] > 0.4  # tipped anteriorly
    # A forward-tipped sensor sees part of gravity on its x axis, with a negative sign.
    f = specific_force(np.zeros((1, 3)), r[None])
    assert f[0, 0] < -4.0


def test_right_side_sites_are_mirrored() -> None:
    left = SENSOR_SITES["thigh_l"].offset_for(1.75)
    right = SENSOR_SITES["thigh_r"].offset_for(1.75)
    assert left[1] > 0 > right[1]
    np.testing.assert_allclose(left * [1, -1, 1], right)


def test_site_offsets_scale_with_height() -> None:
    site = SENSOR_SITES["shank_l"]
    np.testing.assert_allclose(site.offset_for(2 * 1.75), 2 * site.offset_for(1.75))
