"""The Newton estimate as a stream beside the recorded ones, and the baseline that scores it.

`physics_stream` puts the per-foot estimate (`newton.total_force_bw` shared out by
`split.left_share`) on the accelerometers' clock as channels `physics_{l,r,total}_{x,y,z}`, body
weights, heading frame. The sample builders then cut it into stances and windows like any
other channel (`resample.segmentation.input_plan` names it `physics_ipsi_*` and
`physics_total_*`, y mirrored for right feet like every lateral quantity), so:

* the `physics` input group of `fuse` hands it to any architecture, which then learns the
  residual and the split rather than the whole force;
* `baseline_forces` reads it straight out of the samples: the physics baseline, no learning,
  scored on exactly the steps the networks are scored on.

The steps that drive the split are always the **wearable** events, in training as at inference,
so a model never learns from a split it will not get on a new recording.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

import numpy as np

from gaitgrf.core import contract as c
from gaitgrf.core.signal import interp_columns
from gaitgrf.io.trial_file import Stream
from gaitgrf.physics.newton import total_force_bw
from gaitgrf.physics.segments import CHAIN_JOINTS, SENSOR_MASS
from gaitgrf.physics.split import contact_stances, left_share

STREAM_PHYSICS: Final = "physics"
#: Parts of the stream: each foot and their sum.
PARTS: Final = ("l", "r", "total")
#: Recorded channels the estimate needs.
REQUIRED_CHANNELS: Final = tuple(
    [c.acc_channel(loc, ax) for loc in SENSOR_MASS for ax in c.AXES]
    + [c.angle_channel(j, s, p) for j in CHAIN_JOINTS for s in c.SIDES for p in c.PLANES]
)
#: Sample channels (relative to the sample's foot) in output order, and the component each is.
SAMPLE_PARTS: Final = ("ipsi", "total")


def physics_channel(part: str, axis: str) -> str:
    return f"physics_{part}_{axis}"


def sample_channel_names() -> tuple[str, ...]:
    """`physics_ipsi_{x,y,z}`, `physics_total_{x,y,z}`: the names samples carry."""
    return tuple(physics_channel(p, ax) for p in SAMPLE_PARTS for ax in c.AXES)


def available(channels: Iterable[str]) -> bool:
    """Whether recordings with these channels can carry the physics stream."""
    return set(REQUIRED_CHANNELS) <= set(channels)


def physics_stream(acc: Stream, kin: Stream, stances: Mapping[str, np.ndarray]) -> Stream:
    """The per-foot Newton estimate on the accelerometers' clock (BW, heading frame).

    `acc` and `kin` are the (filtered) accelerometer and joint-angle streams, `stances` the
    wearable [heel strike, toe off] of each foot.
    """
    t = acc.time
    readings = {
        loc: np.stack([acc.channel(c.acc_channel(loc, ax)) for ax in c.AXES], axis=1)
        for loc in SENSOR_MASS
    }
    keys = [(j, s, p) for j in CHAIN_JOINTS for s in c.SIDES for p in c.PLANES]
    columns = [kin.channels.index(c.angle_channel(*k)) for k in keys]
    angles = interp_columns(kin.time, kin.data[:, columns], t)
    total = total_force_bw(readings, {k: angles[:, i] for i, k in enumerate(keys)})
    share = left_share(t, stances)[:, None]
    data = np.concatenate([share * total, (1.0 - share) * total, total], axis=1)
    names = tuple(physics_channel(p, ax) for p in PARTS for ax in c.AXES)
    return Stream(STREAM_PHYSICS, acc.rate_hz, t, names, data, ("BW",) * len(names))


def sample_sources(side: str) -> tuple[tuple[str, ...], np.ndarray]:
    """For a sample of foot `side`: the stream channel behind each sample channel, and its sign
    (y mirrored for a right foot, like the accelerometers and the lateral target)."""
    sources, signs = [], []
    for part in SAMPLE_PARTS:
        for ax in c.AXES:
            sources.append(physics_channel(side if part == "ipsi" else part, ax))
            signs.append(-1.0 if (side == "r" and ax == "y") else 1.0)
    return tuple(sources), np.array(signs)


def baseline_forces(inputs: np.ndarray, channels: tuple[str, ...]) -> np.ndarray:
    """The physics baseline's (N, 3, T) forces (vertical, anterior, lateral), BW, read from
    samples that carry the `physics_ipsi_*` channels."""
    index = [channels.index(physics_channel("ipsi", ax)) for ax in ("z", "x", "y")]
    return np.asarray(inputs[:, index, :], dtype=np.float32)


def with_physics(
    filtered: Mapping[str, Stream],
    events: Mapping[str, tuple[np.ndarray, np.ndarray]],
    duration_s: tuple[float, float],
) -> dict[str, Stream]:
    """`filtered` plus the physics stream, the split driven by `events[side]` = (heel strikes,
    toe offs) from the wearables; stances outside `duration_s` (min, max) are not contacts."""
    acc, kin = filtered[c.STREAM_ACC], filtered[c.STREAM_KIN]
    span = (float(acc.time[0]), float(acc.time[-1])) if acc.time.size else (0.0, 0.0)
    stances = {s: contact_stances(*events[s], span, duration_s) for s in c.SIDES}
    return {**filtered, STREAM_PHYSICS: physics_stream(acc, kin, stances)}
