"""What a prediction starts from: the model, the recording and what is known of the subject.

* `load_predictor`: a model bundle folder or an MLflow model URI (the champion by default);
* `read_input`: a recording in any format the importer reads (C3D, OpenSim `.trc`, CSV/Parquet
  with a column mapping), converted by the importer with `require_grf=False`, or a contract
  trial file (`.parquet` without a mapping) as it is;
* `SubjectInfo` / `subject_from_file`: the subject's facts, never invented (None = unknown).

Nothing here reads the environment or params.yaml: the caller passes the tracking URI and the
subject.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

from gaitgrf.core import contract as c
from gaitgrf.core.artifacts import BUNDLE_DIR
from gaitgrf.core.errors import GaitGrfError
from gaitgrf.io.trial_file import Trial

if TYPE_CHECKING:
    from gaitgrf.ingest.options import ImportOptions
    from gaitgrf.predictor import GrfPredictor

DEFAULT_MODEL_URI: Final = "models:/gaitgrf@champion"
#: MLflow URI schemes that resolve through the project's own registry and tracking store.
TRUSTED_SCHEMES: Final = ("models", "runs")
#: Cohort id given to the recording's subject (the samples need one; nothing is written).
INFERENCE_COHORT: Final = "inference"
#: Points per step in the outputs (0-100 % of stance), whatever the model's layout.


class InferenceError(GaitGrfError):
    hint = "see `gaitgrf predict --help` and docs/inference.md"


class ModelNotFoundError(InferenceError):
    hint = (
        "train and promote a model first (`dvc repro`, `gaitgrf registry show`), or pass "
        "--model data/tuned/<study>/model"
    )


class UntrustedModelError(InferenceError):
    hint = (
        "use the project's registry (models:/NAME@ALIAS) or a bundle folder; pass --trust-model "
        "only for a model you made yourself (docs/promotion.md, 'Threat model')"
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
    from gaitgrf.ingest.subjects import read_subjects_file

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
def is_trusted_source(model: str) -> bool:
    """Whether loading `model` stays inside what the project itself wrote.

    A bundle folder is always safe to load: JSON and a weights-only `torch.load`, no code. An
    MLflow pyfunc model is a cloudpickle: loading it runs code. `models:/` and `runs:/` resolve
    through the project's own registry and tracking store, which only the pipeline writes;
    anything else (`file://`, `s3://`, `http(s)://`, ...) may be a crafted directory.
    """
    return ":/" not in model or model.split(":", 1)[0] in TRUSTED_SCHEMES


def load_predictor(
    model: str,
    tracking_uri: str | None = None,
    *,
    trust: bool = False,
    warn: Callable[[str], None] | None = None,
) -> GrfPredictor:
    """A bundle folder (`data/tuned/<study>/model` or the study folder) or an MLflow model URI
    (`models:/gaitgrf@champion`, `models:/gaitgrf/3`, `runs:/<refit run id>/<study>`) ->
    `GrfPredictor`.

    Other MLflow locations are refused unless `trust` (then `warn` is told): see
    `is_trusted_source` and docs/promotion.md, "Threat model".
    """
    from gaitgrf.predictor import BUNDLE_FILE, GrfPredictor

    path = Path(model)
    if ":/" not in model:
        for folder in (path, path / BUNDLE_DIR):
            if (folder / BUNDLE_FILE).is_file():
                return GrfPredictor.load(folder)
        raise ModelNotFoundError(
            f"--model {model}: not a model bundle folder (no {BUNDLE_FILE} in it or in "
            f"{path / BUNDLE_DIR}) and not an MLflow URI such as {DEFAULT_MODEL_URI}"
        )
    if not is_trusted_source(model):
        if not trust:
            raise UntrustedModelError(
                f"--model {model}: outside this project's registry and runs; loading an MLflow "
                "model from there runs its pickled code"
            )
        if warn is not None:
            warn(f"loading {model} from outside the project: its pickled code runs now")
    import mlflow
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    from gaitgrf.tracking.client import fluent_uris

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
    from gaitgrf.ingest.convert import convert_recording, read_recording
    from gaitgrf.ingest.formats.tabular import find_mapping
    from gaitgrf.ingest.options import ImportOptions
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
    from gaitgrf.ingest.cohort import _safe_id

    return _safe_id(text)
