"""Steps and samples of a recording for inference, built exactly as the pipeline builds them.

Steps come from the wearable event detector alone (`wearable.wearable_events_by_side`); the
samples use the pipeline's own filters and sample builders (`segmentation.input_plan`,
`stance_samples`, `window_samples`: the ipsi/contra naming and the right-foot mirroring) with
the channels, length and static features (`features.static_features`) the model's bundle names.
Window models are predicted over overlapping windows, averaged where they overlap and cut into
the same detected steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from gaitgrf.core import contract as c
from gaitgrf.core.config import ResampleConfig
from gaitgrf.core.samples import TARGETS, SampleSet
from gaitgrf.io.trial_file import Stream, Trial
from gaitgrf.pipeline.resample.events import Events
from gaitgrf.pipeline.resample.wearable import WearableModel, wearable_events_by_side
from gaitgrf.serving.inputs import INFERENCE_COHORT, InferenceError, SubjectInfo

if TYPE_CHECKING:
    from gaitgrf.predictor import GrfPredictor

#: Points per step in the outputs (0-100 % of stance), whatever the model's layout.
OUTPUT_POINTS: Final = 101

Report = Callable[[str], None]


def has_plates(trial: Trial) -> bool:
    """Whether the recording carries force-plate data (any known GRF sample)."""
    return c.STREAM_GRF in trial.streams and bool(
        np.isfinite(trial.streams[c.STREAM_GRF].data).any()
    )


def wearable_events(trial: Trial, model: WearableModel) -> Mapping[str, Events]:
    """Heel strikes and toe offs of each foot from the accelerometers alone."""
    if c.STREAM_ACC not in trial.streams:
        raise InferenceError(f"trial {trial.trial_id}: no accelerometer stream (acc)")
    acc = trial.streams[c.STREAM_ACC]
    missing = [
        c.acc_channel(f"shank_{s}", "z")
        for s in c.SIDES
        if c.acc_channel(f"shank_{s}", "z") not in acc.channels
    ]
    if missing:
        raise InferenceError(
            f"trial {trial.trial_id}: channel(s) {missing} missing: the wearable step detector "
            "needs each shank's axial acceleration"
        )
    return wearable_events_by_side(acc, model)


def plausible_stances(events: Mapping[str, Events], cfg: ResampleConfig) -> dict[str, Any]:
    """Per foot, (k, 2) [heel strike, toe off]; stances shorter or longer than the plate rule
    allows (`cfg.events`) are left out."""
    out = {}
    for side, ev in events.items():
        st = ev.stances()
        dur = st[:, 1] - st[:, 0]
        keep = (dur >= cfg.events.min_stance_s) & (dur <= cfg.events.max_stance_s)
        out[side] = st[keep]
    return out


def wearable_stances(trial: Trial, model: WearableModel, cfg: ResampleConfig) -> dict[str, Any]:
    """Per foot, (k, 2) [heel strike, toe off] from the accelerometers alone."""
    return plausible_stances(wearable_events(trial, model), cfg)


def filtered_streams(
    trial: Trial, plan: Any, cfg: ResampleConfig, events: Mapping[str, Events]
) -> tuple[dict[str, Stream], bool]:
    """The trial's streams filtered as the pipeline filters them, reduced to the plan's inputs
    (and the GRF when the recording has force plates), plus the physics stream when the plan
    uses it (split by the wearable `events`); and whether the recording has plates."""
    from gaitgrf.core.signal import filter_trial
    from gaitgrf.physics.stream import with_physics
    from gaitgrf.pipeline.resample.events import stance_limits, wearable_pairs

    needed = plan.recorded_channels()
    plates = has_plates(trial)
    if plates:
        needed |= {c.grf_channel(s, ax) for s in c.SIDES for ax in c.AXES}
    filtered = filter_trial(trial, cfg.filter, needed)
    if plan.physics:
        filtered = with_physics(filtered, wearable_pairs(events), stance_limits(cfg.events))
    return filtered, plates


def sub_plan(trial: Trial, channels: tuple[str, ...]) -> Any:
    """The pipeline's input plan for this trial, reduced to the model's channels in its order."""
    from gaitgrf.pipeline.resample.segmentation import InputPlan, input_plan

    present = {ch for s in trial.streams.values() for ch in s.channels}
    plan = input_plan(present)
    position = {name: j for j, name in enumerate(plan.names)}
    missing = [name for name in channels if name not in position]
    if missing:
        raise InferenceError(
            f"trial {trial.trial_id}: the model needs channel(s) {missing} that this recording "
            f"cannot give (it gives {list(plan.names)})"
        )
    index = [position[name] for name in channels]
    return InputPlan(
        tuple(channels),
        {s: tuple(plan.sources[s][j] for j in index) for s in c.SIDES},
        {s: plan.signs[s][index] for s in c.SIDES},
    )


def zero_grf(trial: Trial, streams: Mapping[str, Stream]) -> dict[str, Stream]:
    """`streams` with a GRF stream of zeros: the sample builders need finite targets, and the
    inputs must not depend on whether the recording has plates."""
    acc = trial.streams[c.STREAM_ACC]
    names = tuple(c.grf_channel(s, ax) for s in c.SIDES for ax in c.AXES)
    zero = Stream(
        c.STREAM_GRF,
        acc.rate_hz,
        acc.time,
        names,
        np.zeros((acc.time.size, len(names))),
        ("N",) * len(names),
    )
    return {**{k: v for k, v in streams.items() if k != c.STREAM_GRF}, c.STREAM_GRF: zero}


def static_inputs(
    static_names: tuple[str, ...], side: np.ndarray, subject: SubjectInfo
) -> np.ndarray:
    """The model's static features for samples of feet `side`, as `fuse` computes them."""
    import pandas as pd

    from gaitgrf.core.samples import STATIC_GROUPS
    from gaitgrf.pipeline.fuse.features import static_features

    n = side.size
    if not static_names:
        return np.zeros((n, 0), np.float32)
    known = {name for names in STATIC_GROUPS.values() for name in names}
    unknown = [name for name in static_names if name not in known]
    if unknown:
        raise InferenceError(f"the model uses static feature(s) {unknown} this version lacks")
    groups = [g for g, names in STATIC_GROUPS.items() if set(names) & set(static_names)]
    uses_side = {"affected_side", "stance_side"} & set(groups)
    affected = subject.affected_side
    if affected is None:
        if uses_side:
            raise InferenceError(
                f"the model uses the subject's affected side (static features of "
                f"{sorted(uses_side)}): give --affected-side left|right|none or a subjects file"
            )
        affected = "none"  # not used by this model; the subjects table needs a valid value
    row: dict[str, Any] = dict.fromkeys(c.SUBJECT_COLUMNS)
    row.update(
        {f.name: getattr(subject, f.name) for f in fields(subject) if f.name in c.SUBJECT_COLUMNS}
    )
    row.update(subject_id="subject", cohort_id=INFERENCE_COHORT, affected_side=affected)
    table = pd.DataFrame([row], dtype=object)
    ids = np.full(n, "subject")
    samples = SampleSet(
        layout="stance",
        rate_hz=1.0,
        channels=(),
        inputs=np.zeros((n, 0, 1), np.float32),
        targets=np.zeros((n, len(TARGETS), 1), np.float32),
        static_names=(),
        static=np.zeros((n, 0), np.float32),
        subject_id=ids,
        cohort_id=np.full(n, INFERENCE_COHORT),
        trial_id=ids,
        side=np.asarray(side, dtype=str),
        start_s=np.zeros(n),
        duration_s=np.zeros(n),
    )
    names, static = static_features(samples, table, groups)
    return static[:, [names.index(name) for name in static_names]]


def stance_curves(
    filtered: Mapping[str, Stream],
    stances: Mapping[str, np.ndarray],
    plan: Any,
    weight_n: float,
    points: int,
    span: tuple[float, float],
) -> Any:
    from gaitgrf.pipeline.resample.segmentation import stance_samples

    return stance_samples(filtered, stances, plan, weight_n, points, span)


def renormalise(curves: np.ndarray, points: int) -> np.ndarray:
    from gaitgrf.core.signal import interp_columns

    u_in = np.linspace(0, 1, curves.shape[2])
    u_out = np.linspace(0, 1, points)
    return np.stack([interp_columns(u_in, s.T, u_out).T for s in curves]).astype(np.float32)


def window_forces(
    predictor: GrfPredictor,
    resampled: Any,
    stances: Mapping[str, np.ndarray],
    plan: Any,
    subject: SubjectInfo,
    steps: Any,
    cfg: ResampleConfig,
    say: Report,
) -> np.ndarray:
    """Window model: predict every window of each foot, average the overlaps into one series
    per foot, then cut it at the detected steps (OUTPUT_POINTS per step)."""
    from gaitgrf.core.signal import interp_columns
    from gaitgrf.pipeline.resample.segmentation import window_samples

    rate = resampled.rate_hz
    length = predictor.length
    if resampled.time.size < length:
        raise InferenceError(
            f"trial {resampled.trial_id}: {resampled.time.size / rate:.2f} s recorded, shorter "
            f"than one window of the model ({length / rate:.2f} s)"
        )
    # A window starting at every sample: each sample is covered (the pipeline's stride could
    # leave the last fraction of a second out) and averaged over many windows.
    stride_s = 1.0 / rate
    contact = {s: np.zeros(resampled.time.size, bool) for s in c.SIDES}
    windows = window_samples(resampled, contact, plan, 1.0, length / rate, stride_s)
    static = static_inputs(predictor.static_names, windows.side, subject)
    say(f"predicting {len(windows)} windows ({predictor.architecture}, window layout)")
    pred = predictor.predict_arrays(windows.inputs, static)
    out = np.empty((len(steps), len(TARGETS), OUTPUT_POINTS), np.float32)
    u = np.linspace(0, 1, OUTPUT_POINTS)
    for side in c.SIDES:
        total = np.zeros((resampled.time.size, len(TARGETS)))
        count = np.zeros(resampled.time.size)
        for k in np.flatnonzero(windows.side == side):
            i0 = round(float(windows.start_s[k] - resampled.time[0]) * rate)
            total[i0 : i0 + length] += pred[k].T
            count[i0 : i0 + length] += 1
        covered = count > 0
        rows = np.flatnonzero(steps.side == side)
        if not covered.any():
            out[rows] = np.nan
            continue
        series = total[covered] / count[covered, None]
        for i in rows:
            t = steps.start_s[i] + u * steps.duration_s[i]
            out[i] = interp_columns(resampled.time[covered], series, t).T
    return out
