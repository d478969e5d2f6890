"""Where the error on a recording comes from: the steps, the inputs, or the model.

`gaitgrf predict --diagnose` on a recording with force plates and a known body mass separates
the end-to-end error into its sources, each as r / rRMSE per component on the steps that lie
fully on a plate:

* **steps**: the model on the wearable steps (the real path) and on the plates' own steps
  (oracle events), plus the wearable heel-strike and toe-off errors in ms against the plates;
* **physics**: the Newton baseline (`gaitgrf.physics`, no learning) on the same two step sets,
  so a model that does worse than physics alone is visible at once;
* **timing**: how many per cent of stance the model's vertical force runs late or early
  against the plates on each step set (`timing.py`), and the r it would have in time;
* **inputs**: per input channel, how far the recording's steps lie from the training set the
  model was normalised on: standardised mean difference `(mean - mean_train) / sd_train` and
  SD ratio `sd / sd_train` (both over samples and time), so a channel that never looks like
  training stands out.

The figures on every shared recording are in docs/inference.md ("Diagnosis").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from gaitgrf.core import contract as c
from gaitgrf.core.config import ResampleConfig
from gaitgrf.core.samples import TARGETS
from gaitgrf.core.sensors import GRAVITY
from gaitgrf.core.signal import common_time_base
from gaitgrf.io.trial_file import Trial
from gaitgrf.physics import stream as physics
from gaitgrf.pipeline.evaluate.metrics import component_metrics
from gaitgrf.pipeline.resample.events import (
    KINDS,
    force_plate_events,
    match_times,
)
from gaitgrf.pipeline.resample.wearable import DEFAULT_WEARABLE_MODEL, WearableModel
from gaitgrf.serving.inference import predict_trial
from gaitgrf.serving.inputs import InferenceError, SubjectInfo
from gaitgrf.serving.steps import (
    OUTPUT_POINTS,
    filtered_streams,
    has_plates,
    plausible_stances,
    stance_curves,
    sub_plan,
    wearable_events,
    zero_grf,
)
from gaitgrf.serving.timing import TimingShift, timing_line, vertical_timing

if TYPE_CHECKING:
    from gaitgrf.predictor import GrfPredictor

#: Wearable and plate events further apart than this are not the same event (s).
EVENT_TOLERANCE_S: Final = 0.15
#: Channels listed in the shift summary, largest |standardised mean difference| first.
SHIFT_LINES: Final = 5


@dataclass(frozen=True)
class ErrorRow:
    """One source of forces (model or physics) on one set of steps (wearable or plates)."""

    source: str
    steps: str
    n_steps: int
    metrics: dict[str, float] | None


@dataclass(frozen=True)
class EventError:
    """Wearable events of one kind against the plates', both feet together."""

    kind: str
    matched: int
    missed: int
    extra: int
    mean_abs_ms: float
    bias_ms: float


@dataclass(frozen=True)
class ChannelShift:
    channel: str
    smd: float
    sd_ratio: float


@dataclass(frozen=True)
class Diagnosis:
    trial_id: str
    rows: tuple[ErrorRow, ...]
    events: tuple[EventError, ...]
    shifts: tuple[ChannelShift, ...]
    timing: tuple[TimingShift, ...] = ()

    def lines(self) -> list[str]:
        """The printed report: one line per row, event kind and most shifted channel."""
        out = ["diagnosis (steps fully on a plate; r / rRMSE per component):"]
        for row in self.rows:
            head = f"  {row.source:<7} on {row.steps:<8} steps ({row.n_steps}):"
            if row.metrics is None:
                out.append(f"{head} no step on a plate")
                continue
            m = row.metrics
            parts = [f"{t} r={m[f'{t}_r']:.2f} {m[f'{t}_rrmse']:.1f}%" for t in TARGETS]
            out.append(f"{head} {', '.join(parts)}")
        for ev in self.events:
            out.append(
                f"  wearable {ev.kind.replace('_', ' ')}s: {ev.matched} matched, {ev.missed} "
                f"missed, {ev.extra} extra; error {ev.mean_abs_ms:.0f} ms mean abs, "
                f"{ev.bias_ms:+.0f} ms bias"
            )
        out += [timing_line(shift) for shift in self.timing]
        worst = sorted(self.shifts, key=lambda s: -abs(s.smd))[:SHIFT_LINES]
        out.append(
            "  input shift against training (largest |SMD|): "
            + ", ".join(f"{s.channel} {s.smd:+.1f} SD (sd x{s.sd_ratio:.2f})" for s in worst)
        )
        return out

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def plate_stances(trial: Trial, cfg: ResampleConfig) -> dict[str, np.ndarray]:
    """Per foot, (k, 2) [heel strike, toe off] from the force plates (the oracle steps)."""
    grf = trial.streams[c.STREAM_GRF]
    out = {}
    for side in c.SIDES:
        ev = force_plate_events(grf.time, grf.channel(c.grf_channel(side, "z")), cfg.events)
        out[side] = np.stack([ev.heel_strikes, ev.toe_offs], axis=1).reshape(-1, 2)
    return out


def diagnose_trial(
    predictor: GrfPredictor,
    trial: Trial,
    subject: SubjectInfo,
    cfg: ResampleConfig | None = None,
    model: WearableModel = DEFAULT_WEARABLE_MODEL,
) -> Diagnosis:
    """The sources of the error on `trial`: needs force plates and the body mass."""
    cfg = cfg or ResampleConfig()
    has_grf = has_plates(trial)
    if not has_grf or subject.mass_kg is None:
        raise InferenceError(
            f"trial {trial.trial_id}: a diagnosis needs force plates and the body mass "
            f"({'no body mass known' if has_grf else 'no force plate data'}: give the mass "
            "with --mass-kg or in the subjects file)"
        )
    events = wearable_events(trial, model)
    steps = {"wearable": plausible_stances(events, cfg), "plates": plate_stances(trial, cfg)}
    rows, timing = [], []
    for name, stances in steps.items():
        pred = predict_trial(predictor, trial, subject, cfg, model, stances=stances)
        rows.append(ErrorRow("model", name, pred.measured_steps, pred.metrics))
        shift = (
            vertical_timing(pred.measured_bw, pred.forces_bw, name)
            if pred.measured_bw is not None
            else None
        )
        timing += [shift] if shift is not None else []
    for name, stances in steps.items():
        rows.append(_physics_row(trial, events, stances, subject.mass_kg, cfg, name))
    return Diagnosis(
        trial.trial_id,
        tuple(rows),
        _event_errors(events, steps["plates"]),
        _input_shift(predictor, trial, events, steps["wearable"], cfg),
        tuple(timing),
    )


def _span(trial: Trial, cfg: ResampleConfig) -> tuple[float, float]:
    grid = common_time_base(trial, cfg.rate_hz)
    return (float(grid[0]), float(grid[-1])) if grid.size else (0.0, -1.0)


def _physics_row(
    trial: Trial,
    events: Mapping[str, Any],
    stances: Mapping[str, np.ndarray],
    mass_kg: float,
    cfg: ResampleConfig,
    name: str,
) -> ErrorRow:
    """The Newton baseline against the plates on the steps `stances` that lie on a plate."""
    plan = sub_plan(trial, physics.sample_channel_names())
    filtered, _ = filtered_streams(trial, plan, cfg, events)
    block = stance_curves(
        filtered, stances, plan, mass_kg * GRAVITY, OUTPUT_POINTS, _span(trial, cfg)
    )
    if len(block) == 0:
        return ErrorRow("physics", name, 0, None)
    forces = physics.baseline_forces(block.inputs, plan.names)
    return ErrorRow("physics", name, len(block), component_metrics(block.targets, forces))


def _event_errors(
    events: Mapping[str, Any], plates: Mapping[str, np.ndarray]
) -> tuple[EventError, ...]:
    out = []
    for k, kind in enumerate(KINDS):
        errors, missed, extra, matched = [], 0, 0, 0
        for side in c.SIDES:
            ref = plates[side][:, k]
            match = match_times(ref, events[side].of_kind(kind), EVENT_TOLERANCE_S)
            errors += list(match.errors_s)
            missed, extra = missed + match.missed, extra + match.extra
            matched += len(match.errors_s)
        e = np.asarray(errors) * 1000.0
        mean_abs = float(np.abs(e).mean()) if e.size else float("nan")
        bias = float(e.mean()) if e.size else float("nan")
        out.append(EventError(kind, matched, missed, extra, mean_abs, bias))
    return tuple(out)


def _input_shift(
    predictor: GrfPredictor,
    trial: Trial,
    events: Mapping[str, Any],
    stances: Mapping[str, np.ndarray],
    cfg: ResampleConfig,
) -> tuple[ChannelShift, ...]:
    """Per model input channel, the recording's wearable steps against the training set."""
    plan = sub_plan(trial, predictor.channels)
    filtered = zero_grf(trial, filtered_streams(trial, plan, cfg, events)[0])
    block = stance_curves(filtered, stances, plan, 1.0, OUTPUT_POINTS, _span(trial, cfg))
    if len(block) == 0:
        return ()
    norm = predictor.normaliser
    mean = block.inputs.mean(axis=(0, 2))
    sd = block.inputs.std(axis=(0, 2))
    return tuple(
        ChannelShift(
            name,
            float((mean[j] - norm.input_mean[j]) / norm.input_std[j]),
            float(sd[j] / norm.input_std[j]),
        )
        for j, name in enumerate(plan.names)
    )
