"""Inference on a new recording: the champion's per-step 3D GRF from wearable signals alone.

`gaitgrf predict` (docs/inference.md) is a thin layer over this package:

1. `inputs.read_input`: a recording in any format the importer reads (C3D, OpenSim `.trc`,
   CSV/Parquet with a column mapping) goes through the importer's own conversion
   (`convert.convert_recording`, with `require_grf=False`): heading frame, joint angles,
   *virtual accelerometers* from the markers. A contract trial file (`.parquet` without a
   mapping) is read as it is. No force plate is needed.
2. `predict_trial` (here): steps come from the wearable event detector alone
   (`wearable.wearable_events_by_side`); the samples are built exactly as the pipeline builds
   them (`serving.steps`: `signal.filter_trial`, `segmentation.input_plan` / `stance_samples` /
   `window_samples`: the same filters, the ipsi/contra naming and the right-foot mirroring), with
   the channels, layout, length and static features the model's bundle names
   (`features.static_features`). Window models are predicted over overlapping windows, averaged
   where they overlap and cut into the same detected steps. When the recording has force plates,
   the measured GRF of the same steps is returned too and scored with
   `metrics.component_metrics`.
3. `outputs.write_outputs`: a long table (CSV or Parquet, by suffix) and a PNG of the curves.

Forces are in body weights (BW), and in newtons when the body mass is known. Components follow
the model's convention: vertical up, anterior along the walking direction, lateral positive
away from the body's midline for both feet (a right foot's lab +y force is mirrored).

Nothing here reads the environment or params.yaml: the caller passes the resample settings, the
tracking URI and the subject.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gaitgrf.core.config import ResampleConfig
from gaitgrf.core.samples import TARGETS
from gaitgrf.core.sensors import GRAVITY
from gaitgrf.io.trial_file import Stream, Trial
from gaitgrf.pipeline.resample.wearable import DEFAULT_WEARABLE_MODEL, WearableModel
from gaitgrf.serving.inputs import InferenceError, SubjectInfo
from gaitgrf.serving.steps import (
    OUTPUT_POINTS,
    Report,
    filtered_streams,
    plausible_stances,
    renormalise,
    stance_curves,
    static_inputs,
    sub_plan,
    wearable_events,
    window_forces,
    zero_grf,
)

if TYPE_CHECKING:
    import pandas as pd

    from gaitgrf.predictor import GrfPredictor


@dataclass(frozen=True)
class Prediction:
    """Per-step forces of one trial: `forces_bw[k]` is step k, (3, OUTPUT_POINTS), 0-100 %."""

    trial_id: str
    side: np.ndarray  # (n,) "l"/"r"
    heel_strike_s: np.ndarray  # (n,)
    toe_off_s: np.ndarray  # (n,)
    forces_bw: np.ndarray  # (n, 3, P)
    #: The force plates' GRF of the same steps (BW), NaN where a step is not fully on a plate.
    measured_bw: np.ndarray | None
    mass_kg: float | None
    layout: str
    #: component_metrics of the steps with a measurement, or None.
    metrics: dict[str, float] | None
    measured_steps: int
    notes: list[str] = field(default_factory=list)

    @property
    def forces_n(self) -> np.ndarray | None:
        return None if self.mass_kg is None else self.forces_bw * (self.mass_kg * GRAVITY)

    def error_lines(self) -> list[str]:
        """`vertical: r=0.97 rmse=0.08 BW rrmse=6.1%`, one per component (empty: no plates)."""
        if self.metrics is None:
            return []
        m = self.metrics
        return [
            f"{name}: r={m[f'{name}_r']:.2f} rmse={m[f'{name}_rmse']:.3f} BW "
            f"rrmse={m[f'{name}_rrmse']:.1f}%"
            for name in TARGETS
        ]

    def table(self) -> pd.DataFrame:
        """One row per (step, point): ids, times, forces in BW (and N), measured where known."""
        import pandas as pd

        n, _, p = self.forces_bw.shape
        phase = np.linspace(0.0, 100.0, p)
        dur = self.toe_off_s - self.heel_strike_s
        data: dict[str, Any] = {
            "trial_id": np.repeat(self.trial_id, n * p),
            "step": np.repeat(np.arange(n), p),
            "side": np.repeat(self.side, p),
            "heel_strike_s": np.repeat(self.heel_strike_s, p),
            "toe_off_s": np.repeat(self.toe_off_s, p),
            "stance_pct": np.tile(phase, n),
            "time_s": (self.heel_strike_s[:, None] + dur[:, None] * phase[None, :] / 100).ravel(),
        }
        for k, name in enumerate(TARGETS):
            data[f"{name}_bw"] = self.forces_bw[:, k, :].ravel()
        forces_n = self.forces_n
        if forces_n is not None:
            for k, name in enumerate(TARGETS):
                data[f"{name}_n"] = forces_n[:, k, :].ravel()
        if self.measured_bw is not None:
            for k, name in enumerate(TARGETS):
                data[f"measured_{name}_bw"] = self.measured_bw[:, k, :].ravel()
        return pd.DataFrame(data)


def predict_trial(
    predictor: GrfPredictor,
    trial: Trial,
    subject: SubjectInfo,
    cfg: ResampleConfig | None = None,
    model: WearableModel = DEFAULT_WEARABLE_MODEL,
    report: Report | None = None,
    stances: Mapping[str, np.ndarray] | None = None,
) -> Prediction:
    """Per-step GRF of `trial` from its wearable signals (no force plate used for the steps).

    `cfg` is the resample configuration the model was trained with (filters, rate, events,
    window stride); `subject.mass_kg` gives newtons (BW only when it is None). `stances`
    replaces the wearable steps (per foot, (k, 2) [heel strike, toe off]) for the diagnosis's
    oracle row; the physics split always follows the wearable events.
    """
    from gaitgrf.core.signal import common_time_base

    cfg = cfg or ResampleConfig()
    say = report or (lambda line: None)
    subject.check()
    notes: list[str] = []
    _check_predictable(predictor, trial)
    events = wearable_events(trial, model)
    stances = plausible_stances(events, cfg) if stances is None else stances
    counts = {s: int(v.shape[0]) for s, v in stances.items()}
    say(f"steps from the wearables: {counts['l']} left, {counts['r']} right")
    plan = sub_plan(trial, predictor.channels)
    filtered, has_grf = filtered_streams(trial, plan, cfg, events)
    inputs_only = zero_grf(trial, filtered)
    grid = common_time_base(trial, cfg.rate_hz)
    if grid.size < 2:
        raise InferenceError(f"trial {trial.trial_id}: the streams share no common time span")
    span = (float(grid[0]), float(grid[-1]))
    steps = stance_curves(inputs_only, stances, plan, 1.0, OUTPUT_POINTS, span)
    if len(steps) == 0:
        raise InferenceError(
            f"trial {trial.trial_id}: no complete step found by the wearable detector "
            f"({trial.duration_s:.2f} s recorded; a stride needs heel strike, toe off and the "
            "shank's swing inside the recording)"
        )
    forces = _predicted_forces(
        predictor, trial, inputs_only, stances, plan, subject, steps, cfg, say, notes
    )
    measured, metrics, n_measured = None, None, 0
    if has_grf:
        measured, metrics, n_measured = _measured_forces(
            filtered, stances, plan, subject, steps, forces, span, notes
        )
    if subject.mass_kg is None:
        notes.append("body mass unknown: forces in body weights only (give --mass-kg for N)")
    return Prediction(
        trial_id=trial.trial_id,
        side=np.asarray(steps.side, dtype=str),
        heel_strike_s=steps.start_s,
        toe_off_s=steps.start_s + steps.duration_s,
        forces_bw=np.asarray(forces, dtype=np.float32),
        measured_bw=measured,
        mass_kg=subject.mass_kg,
        layout=predictor.layout,
        metrics=metrics,
        measured_steps=n_measured,
        notes=notes,
    )


def _check_predictable(predictor: GrfPredictor, trial: Trial) -> None:
    """Refuse trials without steps and models of a layout this module cannot cut into steps."""
    if trial.kind != "walking":
        raise InferenceError(
            f"trial {trial.trial_id} is a {trial.kind} trial: there are no steps to predict"
        )
    if predictor.layout not in ("stance", "window"):
        raise InferenceError(f"model layout {predictor.layout!r} is not stance or window")


def _predicted_forces(
    predictor: GrfPredictor,
    trial: Trial,
    inputs_only: Mapping[str, Stream],
    stances: Mapping[str, np.ndarray],
    plan: Any,
    subject: SubjectInfo,
    steps: Any,
    cfg: ResampleConfig,
    say: Report,
    notes: list[str],
) -> np.ndarray:
    """The model's forces of every detected step, (n, 3, OUTPUT_POINTS), BW."""
    from gaitgrf.core.signal import resample_filtered

    if predictor.layout == "stance":
        x = steps.inputs
        if predictor.length != OUTPUT_POINTS:
            from gaitgrf.core.signal import interp_columns

            u_out = np.linspace(0, 1, OUTPUT_POINTS)
            u_in = np.linspace(0, 1, predictor.length)
            x = np.stack([interp_columns(u_out, s.T, u_in).T for s in x]).astype(np.float32)
        static = static_inputs(predictor.static_names, steps.side, subject)
        say(f"predicting {len(steps)} steps ({predictor.architecture}, stance layout)")
        forces = predictor.predict_arrays(x, static)
        if predictor.length != OUTPUT_POINTS:
            forces = renormalise(forces, OUTPUT_POINTS)
    else:
        resampled = resample_filtered(trial, inputs_only, cfg.rate_hz)
        forces = window_forces(predictor, resampled, stances, plan, subject, steps, cfg, say)
        notes.append("window model: overlapping windows averaged, then cut at the detected steps")
    return forces


def _measured_forces(
    filtered: Mapping[str, Stream],
    stances: Mapping[str, np.ndarray],
    plan: Any,
    subject: SubjectInfo,
    steps: Any,
    forces: np.ndarray,
    span: tuple[float, float],
    notes: list[str],
) -> tuple[np.ndarray | None, dict[str, float] | None, int]:
    """The force plates' GRF of the detected steps (NaN where a step is not fully on a plate),
    the error of `forces` against them, and how many steps were measured."""
    measured = None
    metrics = None
    n_measured = 0
    if subject.mass_kg is None:
        notes.append("force plates present but body mass unknown: no error against them")
    else:
        weight = subject.mass_kg * GRAVITY
        ref = stance_curves(filtered, stances, plan, weight, OUTPUT_POINTS, span)
        measured = np.full(forces.shape, np.nan, np.float32)
        key = {
            (s, float(t)): i for i, (s, t) in enumerate(zip(steps.side, steps.start_s, strict=True))
        }
        for j in range(len(ref)):
            i = key.get((str(ref.side[j]), float(ref.start_s[j])))
            if i is not None:
                measured[i] = ref.targets[j]
        on_plate = np.isfinite(measured).all(axis=(1, 2))
        n_measured = int(on_plate.sum())
        if n_measured:
            from gaitgrf.pipeline.evaluate.metrics import component_metrics

            metrics = component_metrics(measured[on_plate], forces[on_plate])
        else:
            notes.append("no detected step lies fully on a force plate: no error reported")
    return measured, metrics, n_measured
