"""Virtual accelerometers from marker trajectories, through the shared sensor model.

A recording with markers but no wearables still yields the accelerometer channels a model
needs: the sensor site is placed on its segment exactly where `gaitgrf.core.sensors.SENSOR_SITES`
puts it for the synthetic generator, its trajectory is differentiated twice (after the markers
were low-pass filtered, since differentiation amplifies noise by (2 pi f)^2), and
`gaitgrf.core.sensors.specific_force` turns the world acceleration into what a sensor aligned with
the segment frame would read: `R^T (a - g)`, m/s^2, +9.81 on z when upright and still.

What a real sensor would add and a marker cannot give: the heel-strike transient above the
filter cut-off (tens of Hz), soft-tissue wobble, and the mounting misalignment. Models trained
on synthetic data see those; that gap is documented in docs/importing.md.
"""

from __future__ import annotations

import numpy as np

from gaitgrf.core import contract as c
from gaitgrf.core.sensors import REFERENCE_HEIGHT_M, SENSOR_SITES, specific_force
from gaitgrf.ingest.segment_model.frames import Body
from gaitgrf.io.trial_file import Stream

#: Locations written for imported recordings: the contract's required five plus the feet.
LOCATIONS = ("pelvis", "thigh_l", "thigh_r", "shank_l", "shank_r", "foot_l", "foot_r")
#: Segment proximal/distal joint centres, as named in `Body.points`.
_JOINTS = {"thigh": ("hip", "knee"), "shank": ("knee", "ankle"), "foot": ("ankle", "ankle")}


def site_trajectory(body: Body, location: str, height_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Position (n, 3) and orientation (n, 3, 3) of the sensor at `location`."""
    site = SENSOR_SITES[location]
    if site.segment == "pelvis":
        return body.points["sacrum"], body.rotations["pelvis"]
    assert site.side is not None
    proximal, distal = (body.points[f"{j}_{site.side}"] for j in _JOINTS[site.segment])
    rotation = body.rotations[f"{site.segment}_{site.side}"]
    offset = rotation @ site.offset_for(height_m)
    return proximal + site.along * (distal - proximal) + offset, rotation


def scale_height(body: Body, height_m: float | None) -> float:
    """The height that scales the site offsets: the subject's, else one from leg segments.

    Only the few-centimetre offsets of the sites scale with it; it is never written to the
    subjects file. Thigh + shank are 0.491 of stature in Winter's table.
    """
    if height_m is not None:
        return height_m
    legs = [body.segment_length(seg, s) for seg in ("thigh", "shank") for s in c.SIDES]
    estimate = 0.5 * sum(legs) / 0.491
    return float(estimate) if np.isfinite(estimate) and estimate > 0 else REFERENCE_HEIGHT_M


def virtual_accelerometers(
    body: Body, rate_hz: float, height_m: float | None = None
) -> dict[str, np.ndarray]:
    """Specific force (n, 3) in the sensor frame at every location, m/s^2."""
    dt = 1.0 / rate_hz
    height = scale_height(body, height_m)
    out = {}
    for location in LOCATIONS:
        position, rotation = site_trajectory(body, location, height)
        acc = np.gradient(np.gradient(position, dt, axis=0), dt, axis=0)
        out[location] = specific_force(acc, rotation)
    return out


def accelerometer_stream(
    time: np.ndarray, readings: dict[str, np.ndarray], rate_hz: float
) -> Stream:
    channels = tuple(c.acc_channel(loc, ax) for loc in readings for ax in c.AXES)
    data = np.concatenate([readings[loc] for loc in readings], axis=1)
    return Stream(c.STREAM_ACC, rate_hz, time, channels, data, ("m/s^2",) * len(channels))
