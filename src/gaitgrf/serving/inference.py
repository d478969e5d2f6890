"""Inference on a new recording: the champion's per-step 3D GRF from wearable signals alone.

`gaitgrf predict` (docs/inference.md) is a thin layer over this module:

1. `read_input`: a recording in any format the importer reads (C3D, OpenSim `.trc`, CSV/Parquet
   with a column mapping) goes through the importer's own conversion
   (`importing.convert_recording`, with `require_grf=False`): heading frame, joint angles,
   *virtual accelerometers* from the markers. A contract trial file (`.parquet` without a
   mapping) is read as it is. No force plate is needed.
2. `predict_trial`: steps come from the wearable event detector alone
   (`wearable.wearable_events_by_side`); the samples are built exactly as the pipeline builds them
   (`signal.filter_trial`, `segmentation.input_plan` / `stance_samples` / `window_samples`: the
   same filters, the ipsi/contra naming and the right-foot mirroring), with the channels, layout,
   length and static features the model's bundle names (`features.static_features`). Window
   models are predicted over overlapping windows, averaged where they overlap and cut into the
   same detected steps. When the recording has force plates, the measured GRF of the same steps
   is returned too and scored with `metrics.component_metrics`.
3. `write_outputs`: a long table (CSV or Parquet, by suffix) and a PNG of the curves.

Forces are in body weights (BW), and in newtons when the body mass is known. Components follow
the model's convention: vertical up, anterior along the walking direction, lateral positive
away from the body's midline for both feet (a right foot's lab +y force is mirrored).

Nothing here reads the environment or params.yaml: the caller passes the resample settings, the
tracking URI and the subject.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from gaitgrf.core import contract as c
from gaitgrf.core.config import ResampleConfig
from gaitgrf.core.errors import GaitGrfError
from gaitgrf.core.samples import TARGETS, SampleSet
from gaitgrf.core.sensors import GRAVITY
from gaitgrf.io.trial_file import Stream, Trial
from gaitgrf.pipeline.resample.events import Events
from gaitgrf.pipeline.resample.wearable import (
    DEFAULT_WEARABLE_MODEL,
    WearableModel,
    wearable_events_by_side,
)

if TYPE_CHECKING:
    import pandas as pd

    from gaitgrf.ingest.convert import ImportOptions
    from gaitgrf.predictor import GrfPredictor

DEFAULT_MODEL_URI: Final = "models:/gaitgrf@champion"
#: Cohort id given to the recording's subject (the samples need one; nothing is written).
INFERENCE_COHORT: Final = "inference"
#: Points per step in the outputs (0-100 % of stance), whatever the model's layout.
OUTPUT_POINTS: Final = 101
TABLE_SUFFIXES: Final = (".csv", ".parquet")

Report = Callable[[str], None]


class InferenceError(GaitGrfError):
    hint = "see `gaitgrf predict --help` and docs/inference.md"


class ModelNotFoundError(InferenceError):
    hint = (
        "train and promote a model first (`dvc repro`, `gaitgrf registry show`), or pass "
        "--model data/tuned/<study>/model"
    )


# --- the subject ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SubjectInfo:
    """What is known about the recorded subject (None = unknown; never invented)."""

    subject_id: str | None = None
    mass_kg: float | None = None
    height_m: float | None = None
    age_years: float | None = None
    sex: str | None = None
    knee_alignment_left_deg: float | None = None
    knee_alignment_right_deg: float | None = None
    affected_side: str | None = None
    group: str | None = None

    def merged(self, fallback: SubjectInfo) -> SubjectInfo:
        """These values, each unknown one taken from `fallback`."""
        return SubjectInfo(
            **{
                f.name: getattr(self, f.name)
                if getattr(self, f.name) is not None
                else getattr(fallback, f.name)
                for f in fields(self)
            }
        )

    def check(self) -> None:
        if self.affected_side is not None and self.affected_side not in c.AFFECTED_SIDES:
            raise InferenceError(
                f"affected side {self.affected_side!r} is not one of {', '.join(c.AFFECTED_SIDES)}"
            )
        if self.sex is not None and self.sex not in c.SEXES:
            raise InferenceError(f"sex {self.sex!r} is not one of {', '.join(c.SEXES)}")
        for name, (lo, hi) in c.SUBJECT_RANGES.items():
            value = getattr(self, name, None)
            if value is not None and not lo <= float(value) <= hi:
                raise InferenceError(f"{name}={value} is outside the plausible range [{lo}, {hi}]")


def subject_from_file(path: Path, subject_id: str | None = None) -> SubjectInfo:
    """The subject `subject_id` of a subjects CSV (the importer's format), or its only row."""
    from gaitgrf.ingest.convert import read_subjects_file

    rows = read_subjects_file(Path(path))
    if subject_id is None:
        if len(rows) != 1:
            raise InferenceError(
                f"{path}: {len(rows)} subjects listed; say which one with --subject-id "
                f"({', '.join(sorted(rows)[:10])})"
            )
        subject_id = next(iter(rows))
    if subject_id not in rows:
        raise InferenceError(
            f"{path}: no row with subject_id {subject_id!r} "
            f"(listed: {', '.join(sorted(rows)[:10]) or 'none'})"
        )
    known = {f.name for f in fields(SubjectInfo)}
    values = {k: v for k, v in rows[subject_id].items() if k in known}
    return SubjectInfo(subject_id=subject_id, **values)


# --- the model -----------------------------------------------------------------------------------
def load_predictor(model: str, tracking_uri: str | None = None) -> GrfPredictor:
    """A bundle folder (`data/tuned/<study>/model` or the study folder) or an MLflow model URI
    (`models:/gaitgrf@champion`, `models:/gaitgrf/3`, `runs:/<id>/model`) -> `GrfPredictor`."""
    from gaitgrf.predictor import BUNDLE_FILE, GrfPredictor

    path = Path(model)
    if ":/" not in model:
        for folder in (path, path / "model"):
            if (folder / BUNDLE_FILE).is_file():
                return GrfPredictor.load(folder)
        raise ModelNotFoundError(
            f"--model {model}: not a model bundle folder (no {BUNDLE_FILE} in it or in "
            f"{path / 'model'}) and not an MLflow URI such as {DEFAULT_MODEL_URI}"
        )
    import mlflow
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    from gaitgrf.tracking import fluent_uris

    scope = fluent_uris(tracking_uri) if tracking_uri is not None else contextlib.nullcontext()
    try:
        with scope:
            loaded = mlflow.pyfunc.load_model(model)
    except (MlflowException, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelNotFoundError(
            f"model {model} cannot be loaded from {tracking_uri or mlflow.get_tracking_uri()}: "
            f"{first}",
        ) from None
    python_model = loaded.unwrap_python_model()
    predictor = getattr(python_model, "predictor", None)
    if predictor is None:
        raise InferenceError(f"model {model} is not a gaitgrf pyfunc model (no predictor)")
    return predictor


# --- the recording -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadedTrial:
    trial: Trial
    #: The recording's own subject facts (mass, height), for what the caller did not give.
    subject: SubjectInfo
    notes: list[str] = field(default_factory=list)


def read_input(
    path: Path,
    subject: SubjectInfo | None = None,
    options: ImportOptions | None = None,
) -> LoadedTrial:
    """A recording (through the importer) or a contract trial file, as a contract `Trial`."""
    from gaitgrf.ingest.convert import ImportOptions, convert_recording, read_recording
    from gaitgrf.ingest.formats.tabular import find_mapping
    from gaitgrf.io.loader import read_trial

    path = Path(path)
    subject = subject or SubjectInfo()
    if not path.is_file():
        raise InferenceError(f"{path}: no such recording file")
    if path.suffix.lower() == ".parquet" and find_mapping(path, path.parent) is None:
        trial = read_trial(path)  # a contract trial file (e.g. a synthetic cohort's)
        return LoadedTrial(trial, SubjectInfo(subject_id=trial.subject_id), ["contract trial"])
    rec = read_recording(path, path.parent)
    sid = subject.subject_id or path.stem
    opts = replace(options or ImportOptions(), require_grf=False)
    trial, report, _ = convert_recording(
        rec,
        trial_id=_safe(path.stem),
        subject_id=_safe(sid),
        cohort_id=INFERENCE_COHORT,
        mass_kg=subject.mass_kg if subject.mass_kg is not None else rec.mass_kg,
        height_m=subject.height_m,
        options=opts,
    )
    own = SubjectInfo(subject_id=sid, mass_kg=rec.mass_kg, height_m=rec.height_m)
    notes = list(report.notes)
    if rec.mass_kg is not None:
        notes.append(f"recording states a body mass of {rec.mass_kg:.1f} kg")
    return LoadedTrial(trial, own, notes)


def _safe(text: str) -> str:
    from gaitgrf.ingest.convert import _safe_id

    return _safe_id(text)


# --- prediction ----------------------------------------------------------------------------------
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


def wearable_stances(trial: Trial, model: WearableModel, cfg: ResampleConfig) -> dict[str, Any]:
    """Per foot, (k, 2) [heel strike, toe off] from the accelerometers alone.

    Stances shorter or longer than the plate rule allows (`cfg.events`) are left out.
    """
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
    events: Mapping[str, Events] = wearable_events_by_side(acc, model)
    out = {}
    for side, ev in events.items():
        st = ev.stances()
        dur = st[:, 1] - st[:, 0]
        keep = (dur >= cfg.events.min_stance_s) & (dur <= cfg.events.max_stance_s)
        out[side] = st[keep]
    return out


def _sub_plan(trial: Trial, channels: tuple[str, ...]) -> Any:
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


def _zero_grf(trial: Trial, streams: Mapping[str, Stream]) -> dict[str, Stream]:
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

    from gaitgrf.pipeline.fuse.features import STATIC_GROUPS, static_features

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


def _stance_curves(
    filtered: Mapping[str, Stream],
    stances: Mapping[str, np.ndarray],
    plan: Any,
    weight_n: float,
    points: int,
    span: tuple[float, float],
) -> Any:
    from gaitgrf.pipeline.resample.segmentation import stance_samples

    return stance_samples(filtered, stances, plan, weight_n, points, span)


def predict_trial(
    predictor: GrfPredictor,
    trial: Trial,
    subject: SubjectInfo,
    cfg: ResampleConfig | None = None,
    model: WearableModel = DEFAULT_WEARABLE_MODEL,
    report: Report | None = None,
) -> Prediction:
    """Per-step GRF of `trial` from its wearable signals (no force plate used for the steps).

    `cfg` is the resample configuration the model was trained with (filters, rate, events,
    window stride); `subject.mass_kg` gives newtons (BW only when it is None).
    """
    from gaitgrf.core.signal import common_time_base, filter_trial, resample_filtered

    cfg = cfg or ResampleConfig()
    say = report or (lambda line: None)
    subject.check()
    notes: list[str] = []
    if trial.kind != "walking":
        raise InferenceError(
            f"trial {trial.trial_id} is a {trial.kind} trial: there are no steps to predict"
        )
    if predictor.layout not in ("stance", "window"):
        raise InferenceError(f"model layout {predictor.layout!r} is not stance or window")
    stances = wearable_stances(trial, model, cfg)
    counts = {s: int(v.shape[0]) for s, v in stances.items()}
    say(f"steps from the wearables: {counts['l']} left, {counts['r']} right")
    plan = _sub_plan(trial, predictor.channels)
    needed = {ch for s in c.SIDES for ch in plan.sources[s]}
    has_grf = c.STREAM_GRF in trial.streams and bool(
        np.isfinite(trial.streams[c.STREAM_GRF].data).any()
    )
    if has_grf:
        needed |= {c.grf_channel(s, ax) for s in c.SIDES for ax in c.AXES}
    filtered = filter_trial(trial, cfg.filter, needed)
    inputs_only = _zero_grf(trial, filtered)
    grid = common_time_base(trial, cfg.rate_hz)
    if grid.size < 2:
        raise InferenceError(f"trial {trial.trial_id}: the streams share no common time span")
    span = (float(grid[0]), float(grid[-1]))
    steps = _stance_curves(inputs_only, stances, plan, 1.0, OUTPUT_POINTS, span)
    if len(steps) == 0:
        raise InferenceError(
            f"trial {trial.trial_id}: no complete step found by the wearable detector "
            f"({trial.duration_s:.2f} s recorded; a stride needs heel strike, toe off and the "
            "shank's swing inside the recording)"
        )
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
            forces = _renormalise(forces, OUTPUT_POINTS)
    else:
        resampled = resample_filtered(trial, inputs_only, cfg.rate_hz)
        forces = _window_forces(predictor, resampled, stances, plan, subject, steps, cfg, say)
        notes.append("window model: overlapping windows averaged, then cut at the detected steps")
    measured = None
    metrics = None
    n_measured = 0
    if has_grf:
        if subject.mass_kg is None:
            notes.append("force plates present but body mass unknown: no error against them")
        else:
            weight = subject.mass_kg * GRAVITY
            ref = _stance_curves(filtered, stances, plan, weight, OUTPUT_POINTS, span)
            measured = np.full(forces.shape, np.nan, np.float32)
            key = {
                (s, float(t)): i
                for i, (s, t) in enumerate(zip(steps.side, steps.start_s, strict=True))
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


def _renormalise(curves: np.ndarray, points: int) -> np.ndarray:
    from gaitgrf.core.signal import interp_columns

    u_in = np.linspace(0, 1, curves.shape[2])
    u_out = np.linspace(0, 1, points)
    return np.stack([interp_columns(u_in, s.T, u_out).T for s in curves]).astype(np.float32)


def _window_forces(
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


# --- outputs -------------------------------------------------------------------------------------
def write_outputs(prediction: Prediction, out: Path, title: str | None = None) -> list[Path]:
    """The table at `out` (.csv or .parquet) and a PNG of the curves beside it (`<out>.png`)."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InferenceError(
            f"--out {out}: suffix {out.suffix or '(none)'} is not .csv or .parquet"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    table = prediction.table()
    if suffix == ".csv":
        table.to_csv(out, index=False, float_format="%.6g")
    else:
        table.to_parquet(out, index=False)
    png = out.with_suffix(".png")
    plot_prediction(prediction, png, title or prediction.trial_id)
    return [out, png]


def plot_prediction(prediction: Prediction, path: Path, title: str) -> Path:
    """Predicted curves of every step (left blue, right orange), measured ones dashed black."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
    p = prediction.forces_bw.shape[2]
    phase = np.linspace(0, 100, p)
    colours = {"l": "tab:blue", "r": "tab:orange"}
    unit = "BW"
    for k, (ax, name) in enumerate(zip(axes, TARGETS, strict=True)):
        for i, side in enumerate(prediction.side):
            ax.plot(phase, prediction.forces_bw[i, k], color=colours.get(side, "grey"), lw=1.2)
            if prediction.measured_bw is not None and np.isfinite(prediction.measured_bw[i]).all():
                ax.plot(phase, prediction.measured_bw[i, k], color="black", ls="--", lw=1.0)
        ax.set_title(name)
        ax.set_xlabel("% stance")
        ax.set_ylabel(f"GRF ({unit})")
        ax.axhline(0.0, color="grey", lw=0.5)
    handles = [
        matplotlib.lines.Line2D([], [], color=colours["l"], label="left (predicted)"),
        matplotlib.lines.Line2D([], [], color=colours["r"], label="right (predicted)"),
    ]
    if prediction.measured_steps:
        handles.append(matplotlib.lines.Line2D([], [], color="black", ls="--", label="force plate"))
    axes[0].legend(handles=handles, fontsize=8)
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def summary_lines(prediction: Prediction) -> list[str]:
    """What the CLI prints: steps, units, notes, one error line per component."""
    counts = {s: int((prediction.side == s).sum()) for s in c.SIDES}
    lines = [
        f"{len(prediction.side)} steps ({counts['l']} left, {counts['r']} right), "
        f"{prediction.layout} model, forces in BW"
        + ("" if prediction.mass_kg is None else f" and N ({prediction.mass_kg:g} kg)")
    ]
    lines += prediction.notes
    if prediction.metrics is not None:
        lines.append(
            f"error against the force plates ({prediction.measured_steps} step(s) on a plate):"
        )
        lines += [f"  {line}" for line in prediction.error_lines()]
    return lines
