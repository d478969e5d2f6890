"""Samples from trials: stance-normalised and fixed windows, named and mirrored per foot.

Every sample is one foot, its *ipsilateral* side (`gaitgrf.core.samples`). Inputs are named relative
to that foot:

* accelerometers `acc_pelvis_{x,y,z}`, `acc_trunk_{x,y,z}`, `acc_{thigh,shank,foot}_{ipsi,contra}_
  {x,y,z}` (a location only when every trial has it, see `input_plan`);
* joint angles `angle_{hip,knee,ankle}_{ipsi,contra}_{flex,add,rot}`;
* the Newton estimate `physics_ipsi_{x,y,z}` (this foot) and `physics_total_{x,y,z}` (both feet),
  body weights, when the trials carry what it needs (`gaitgrf.physics.stream`).

**Mirroring.** For a right-foot sample the y axis of every accelerometer is negated, so +y points
to the ipsilateral side for both feet; joint angles are already side-signed (adduction and
internal rotation mean the same on both legs) and stay as they are. Targets are the ipsilateral
foot's GRF `(vertical, anterior, lateral)` in body weights: lateral is `+grf_l_y` for a left foot
and `-grf_r_y` for a right foot.

**Layouts.**

* `stance`: every complete force-plate stance, inputs and targets at `stance_points` points from
  heel strike to toe off, interpolated directly from the *filtered native streams* (GRF at 1 kHz,
  accelerometers at their own rate): one interpolation instead of two, and no loss from a 100 Hz
  grid that would sample a 0.6 s stance only 60 times. One vectorised gather per stream and foot
  builds all stances of a trial.
* `window`: fixed windows over the trial's common time base (`signal.resample_trial`), one sample
  per (window, foot); the target is that foot's GRF, exactly zero where the foot is off the ground
  (raw vertical force below the event threshold), so plate offsets and noise in swing do not
  become targets.

Samples with any NaN (a GRF channel without a plate, a gap longer than the bridge limit) are
dropped and counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from gaitgrf.core import contract as c
from gaitgrf.core.samples import TARGETS, SampleSet
from gaitgrf.core.sensors import GRAVITY
from gaitgrf.core.signal import ResampledTrial, interp_columns
from gaitgrf.io.trial_file import Stream
from gaitgrf.physics import stream as physics

LEG_SIDES: Final = ("ipsi", "contra")
OTHER_SIDE: Final = {"l": "r", "r": "l"}
#: Accelerometer locations in output order; True = one per leg.
ACC_LOCATIONS: Final[dict[str, bool]] = {
    "pelvis": False,
    "trunk": False,
    "thigh": True,
    "shank": True,
    "foot": True,
}
#: Target components and the GRF axis each comes from.
TARGET_AXES: Final = {"vertical": "z", "anterior": "x", "lateral": "y"}


def body_weight_n(mass_kg: float) -> float:
    return float(mass_kg) * GRAVITY


@dataclass(frozen=True)
class InputPlan:
    """Output input channels and, per foot, the trial channel and sign behind each."""

    names: tuple[str, ...]
    sources: Mapping[str, tuple[str, ...]]
    signs: Mapping[str, np.ndarray]

    @property
    def physics(self) -> bool:
        """Whether the samples need the physics stream beside the recorded ones."""
        return any(n.startswith("physics_") for n in self.names)

    def recorded_channels(self) -> set[str]:
        """The trial channels behind the inputs of either foot (what must be filtered)."""
        needed = {ch for side in c.SIDES for ch in self.sources[side]}
        needed = {ch for ch in needed if not ch.startswith("physics_")}
        return needed | (set(physics.REQUIRED_CHANNELS) if self.physics else set())


def input_plan(channels: Iterable[str]) -> InputPlan:
    """The inputs that `channels` (present in *every* trial) allow, in the documented order.

    A location enters only when all its axes are there, for a leg location on both legs. Joint
    angles are required by the contract and always enter. The physics channels enter when the
    recorded channels allow the Newton estimate; the caller adds its stream (`with_physics`).
    """
    present = set(channels)
    names: list[str] = []
    sources: dict[str, list[str]] = {"l": [], "r": []}
    signs: dict[str, list[float]] = {"l": [], "r": []}
    for loc, bilateral in ACC_LOCATIONS.items():
        if bilateral:
            if not all(
                c.acc_channel(f"{loc}_{s}", ax) in present for s in c.SIDES for ax in c.AXES
            ):
                continue
            for rel in LEG_SIDES:
                for ax in c.AXES:
                    names.append(c.acc_channel(f"{loc}_{rel}", ax))
                    for side in c.SIDES:
                        leg = side if rel == "ipsi" else OTHER_SIDE[side]
                        sources[side].append(c.acc_channel(f"{loc}_{leg}", ax))
                        signs[side].append(-1.0 if (side == "r" and ax == "y") else 1.0)
        else:
            if not all(c.acc_channel(loc, ax) in present for ax in c.AXES):
                continue
            for ax in c.AXES:
                names.append(c.acc_channel(loc, ax))
                for side in c.SIDES:
                    sources[side].append(c.acc_channel(loc, ax))
                    signs[side].append(-1.0 if (side == "r" and ax == "y") else 1.0)
    for joint in c.JOINTS:
        for rel in LEG_SIDES:
            for plane in c.PLANES:
                names.append(c.angle_channel(joint, rel, plane))
                for side in c.SIDES:
                    leg = side if rel == "ipsi" else OTHER_SIDE[side]
                    sources[side].append(c.angle_channel(joint, leg, plane))
                    signs[side].append(1.0)
    if physics.available(present):
        names += physics.sample_channel_names()
        for side in c.SIDES:
            src, sign = physics.sample_sources(side)
            sources[side] += src
            signs[side] += sign.tolist()
    return InputPlan(
        tuple(names),
        {s: tuple(v) for s, v in sources.items()},
        {s: np.array(v) for s, v in signs.items()},
    )


def target_plan(side: str) -> tuple[tuple[str, ...], np.ndarray]:
    """GRF channels behind (vertical, anterior, lateral) of foot `side` and their signs."""
    names = tuple(c.grf_channel(side, TARGET_AXES[t]) for t in TARGETS)
    lateral_sign = 1.0 if side == "l" else -1.0
    return names, np.array([1.0, 1.0, lateral_sign])


@dataclass(frozen=True)
class SampleBlock:
    """Samples of one trial in one layout, before they join a `SampleSet`."""

    inputs: np.ndarray  # (n, C, T) float32
    targets: np.ndarray  # (n, 3, T) float32, body weights
    side: np.ndarray  # (n,) "l"/"r"
    start_s: np.ndarray  # (n,)
    duration_s: np.ndarray  # (n,)
    #: Samples built but dropped for NaN.
    dropped: int = 0

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    @staticmethod
    def empty(channels: int, points: int) -> SampleBlock:
        return SampleBlock(
            np.empty((0, channels, points), np.float32),
            np.empty((0, len(TARGETS), points), np.float32),
            np.empty(0, dtype="<U1"),
            np.empty(0),
            np.empty(0),
        )


def _finite_only(
    inputs: np.ndarray, targets: np.ndarray, side: np.ndarray, start: np.ndarray, dur: np.ndarray
) -> SampleBlock:
    ok = np.isfinite(inputs).all(axis=(1, 2)) & np.isfinite(targets).all(axis=(1, 2))
    return SampleBlock(
        np.ascontiguousarray(inputs[ok], dtype=np.float32),
        np.ascontiguousarray(targets[ok], dtype=np.float32),
        side[ok],
        start[ok],
        dur[ok],
        int((~ok).sum()),
    )


def _concat(blocks: Sequence[SampleBlock], channels: int, points: int) -> SampleBlock:
    blocks = [b for b in blocks if len(b) or b.dropped]
    if not blocks:
        return SampleBlock.empty(channels, points)
    return SampleBlock(
        np.concatenate([b.inputs for b in blocks]),
        np.concatenate([b.targets for b in blocks]),
        np.concatenate([b.side for b in blocks]),
        np.concatenate([b.start_s for b in blocks]),
        np.concatenate([b.duration_s for b in blocks]),
        sum(b.dropped for b in blocks),
    )


def _gather(streams: Mapping[str, Stream], names: Sequence[str], times: np.ndarray) -> np.ndarray:
    """Channels `names` (from whichever stream holds each) interpolated at `times`: (n x len).

    A name no stream holds is a caller's error (e.g. a physics plan without `with_physics`):
    it is refused, never left as uninitialised memory that may or may not read as NaN.
    """
    held = {ch for stream in streams.values() for ch in stream.channels}
    missing = [n for n in names if n not in held]
    if missing:
        raise KeyError(f"no stream holds channel(s) {', '.join(missing)}")
    out = np.empty((times.size, len(names)))
    for stream in streams.values():
        position = {ch: j for j, ch in enumerate(stream.channels)}
        cols = [(k, position[n]) for k, n in enumerate(names) if n in position]
        if not cols:
            continue
        where, src = (np.array(v) for v in zip(*cols, strict=True))
        out[:, where] = interp_columns(stream.time, stream.data[:, src], times)
    return out


def stance_samples(
    filtered: Mapping[str, Stream],
    stances: Mapping[str, np.ndarray],
    plan: InputPlan,
    weight_n: float,
    points: int,
    span: tuple[float, float] | None = None,
) -> SampleBlock:
    """One sample per stance ([heel strike, toe off] rows of `stances[side]`), `points` long.

    Inputs and targets are interpolated from the filtered native-rate streams, all stances of
    both feet in one gather per stream. Stances outside `span` (the time every stream covers)
    are left out.
    """
    u = np.linspace(0.0, 1.0, points)
    rows: list[np.ndarray] = []
    sides: list[str] = []
    for s in c.SIDES:
        st = np.asarray(stances.get(s, np.empty((0, 2))), dtype=np.float64).reshape(-1, 2)
        if span is not None:
            st = st[(st[:, 0] >= span[0]) & (st[:, 1] <= span[1])]
        rows.append(st)
        sides += [s] * st.shape[0]
    st = np.concatenate(rows)
    k = st.shape[0]
    if k == 0:
        return SampleBlock.empty(len(plan.names), points)
    side_of = np.array(sides)
    dur = st[:, 1] - st[:, 0]
    times = (st[:, :1] + u[None, :] * dur[:, None]).ravel()
    targets = {s: target_plan(s) for s in c.SIDES}
    names = sorted({n for s in c.SIDES for n in (*plan.sources[s], *targets[s][0])})
    values = _gather(filtered, names, times).reshape(k, points, len(names))
    column = {n: j for j, n in enumerate(names)}
    inputs = np.empty((k, len(plan.names), points))
    out = np.empty((k, len(TARGETS), points))
    for s in c.SIDES:
        rows_s = side_of == s
        if not rows_s.any():
            continue
        src = [column[n] for n in plan.sources[s]]
        inputs[rows_s] = (values[rows_s][:, :, src] * plan.signs[s]).transpose(0, 2, 1)
        tnames, tsigns = targets[s]
        tgt = [column[n] for n in tnames]
        out[rows_s] = (values[rows_s][:, :, tgt] * (tsigns / weight_n)).transpose(0, 2, 1)
    return _finite_only(inputs, out, side_of, st[:, 0], dur)


def window_starts(n: int, length: int, step: int) -> np.ndarray:
    """Start indices of every full window of `length` samples, `step` apart, in `n` samples."""
    if length < 1 or n < length:
        return np.empty(0, dtype=np.intp)
    return np.arange(0, n - length + 1, max(1, step), dtype=np.intp)


def window_samples(
    resampled: ResampledTrial,
    contact: Mapping[str, np.ndarray],
    plan: InputPlan,
    weight_n: float,
    length_s: float,
    stride_s: float,
) -> SampleBlock:
    """One sample per (window, foot) over the resampled trial.

    `contact[side]` is a boolean per resampled sample (foot on the ground); the target is zero
    elsewhere. Windows are `round(length_s * rate)` samples, `round(stride_s * rate)` apart;
    duration_s is the window length (points / rate).
    """
    rate = resampled.rate_hz
    length = round(length_s * rate)
    step = max(1, round(stride_s * rate))
    starts = window_starts(resampled.time.size, length, step)
    if starts.size == 0:
        return SampleBlock.empty(len(plan.names), max(length, 1))
    blocks = []
    for side in c.SIDES:
        x = resampled.select(plan.sources[side]) * plan.signs[side]
        tnames, tsigns = target_plan(side)
        on = np.asarray(contact[side], dtype=np.float64)[:, None]
        y = resampled.select(tnames) * (tsigns / weight_n) * on
        # (n - L + 1, C, L) views; only the chosen starts are copied.
        inputs = sliding_window_view(x, length, axis=0)[starts]
        targets = sliding_window_view(y, length, axis=0)[starts]
        n = starts.size
        blocks.append(
            _finite_only(
                inputs,
                targets,
                np.full(n, side),
                resampled.time[starts],
                np.full(n, length / rate),
            )
        )
    return _concat(blocks, len(plan.names), length)


# --- sample sets -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrialBlock:
    """A trial's samples with the ids they carry."""

    cohort_id: str
    subject_id: str
    trial_id: str
    block: SampleBlock


def build_sample_set(
    layout: str,
    rate_hz: float,
    channels: tuple[str, ...],
    points: int,
    blocks: Sequence[TrialBlock],
    provenance: Mapping[str, Any] | None = None,
) -> SampleSet:
    """Concatenate trial blocks into one `SampleSet` (static features empty: (N, 0))."""
    parts = [b for b in blocks if len(b.block)]
    n_each = [len(b.block) for b in parts]

    def ids(attr: str) -> np.ndarray:
        if not parts:
            return np.empty(0, dtype="<U1")
        return np.repeat(np.array([getattr(b, attr) for b in parts]), n_each)

    if parts:
        inputs = np.concatenate([b.block.inputs for b in parts])
        targets = np.concatenate([b.block.targets for b in parts])
        side = np.concatenate([b.block.side for b in parts]).astype(str)
        start = np.concatenate([b.block.start_s for b in parts])
        duration = np.concatenate([b.block.duration_s for b in parts])
    else:
        inputs = np.empty((0, len(channels), points), np.float32)
        targets = np.empty((0, len(TARGETS), points), np.float32)
        side = np.empty(0, dtype="<U1")
        start = np.empty(0)
        duration = np.empty(0)
    return SampleSet(
        layout=layout,
        rate_hz=float(rate_hz),
        channels=tuple(channels),
        inputs=inputs,
        targets=targets,
        static_names=(),
        static=np.empty((inputs.shape[0], 0), np.float32),
        subject_id=ids("subject_id"),
        cohort_id=ids("cohort_id"),
        trial_id=ids("trial_id"),
        side=side,
        start_s=start.astype(np.float64),
        duration_s=duration.astype(np.float64),
        provenance=dict(provenance or {}),
    )
