"""MLflow's conventions as gaitgrf follows them: experiment names and descriptions, standard
tags, logged model URIs and the pinned requirements of logged models.

Kept apart from `gaitgrf.tracking.client` (the client wrapper) so that the names and rules are
importable without MLflow, and the client stays one concern. `client` re-exports them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

TUNING_EXPERIMENT: Final = "gaitgrf-tuning"
EVALUATION_EXPERIMENT: Final = "gaitgrf-evaluation"
RETRAIN_EXPERIMENT: Final = "gaitgrf-retraining"
#: Every experiment gaitgrf writes, in the order `gaitgrf ui` lists them.
PROJECT_EXPERIMENTS: Final = (TUNING_EXPERIMENT, EVALUATION_EXPERIMENT, RETRAIN_EXPERIMENT)
#: MLflow's description field of experiments and runs (the UI's "Description" / notes box).
NOTE_TAG: Final = "mlflow.note.content"
#: What each experiment holds, as its description in the UI.
EXPERIMENT_NOTES: Final = {
    TUNING_EXPERIMENT: (
        "Hyperparameter tuning: one parent run per Optuna study (<architecture>__<condition>), "
        "a child run per trial (metrics per cross-validation fold) and a child refit run that "
        "owns the logged models. See docs/tuning.md."
    ),
    EVALUATION_EXPERIMENT: (
        "Every refit model scored on the held-out test subjects (one run per study) and one "
        "comparison run with the report, tables and plots. See docs/evaluation.md."
    ),
    RETRAIN_EXPERIMENT: (
        "One run per retrain (new cohort or schedule): what re-ran and the promotion it "
        "decided. See docs/retraining.md."
    ),
}

#: MLflow's standard source tags (`mlflow.utils.mlflow_tags`), which its UI shows per run.
SOURCE_NAME_TAG: Final = "mlflow.source.name"
SOURCE_TYPE_TAG: Final = "mlflow.source.type"
GIT_COMMIT_TAG: Final = "mlflow.source.git.commit"
_COMMIT = re.compile(r"[0-9a-f]{7,64}")


def source_tags(commit: str, source_name: str) -> dict[str, str]:
    """MLflow's own source tags for the runs gaitgrf creates through the client.

    The fluent `mlflow.start_run` sets them from the running script; `create_run` sets none, so
    the UI's Source column was empty. `commit` is `gaitgrf.runtime.git_commit()`: MLflow's tag
    holds the bare hash (a `-dirty` tree stays visible in `gaitgrf.git_commit`), and is left out
    when there is no commit (outside git). `source_name` names the code that ran.
    """
    tags = {SOURCE_NAME_TAG: source_name, SOURCE_TYPE_TAG: "LOCAL"}
    head = commit.removesuffix("-dirty")
    if _COMMIT.fullmatch(head):
        tags[GIT_COMMIT_TAG] = head
    return tags


#: The input tag that says what a run did with a dataset (`training`, `evaluation`, ...).
DATASET_CONTEXT_TAG: Final = "mlflow.data.context"
#: MLflow stores a dataset digest in 36 characters (a VARCHAR(36) column).
_DIGEST_LEN: Final = 36


def data_digest(data_version: str) -> str:
    """The MLflow dataset digest of a `gaitgrf.runtime.data_version`: DVC's md5 (or the
    fallback sha256) without its `dvc:`/`sha256:` prefix, so the UI shows DVC's own hash."""
    return data_version.partition(":")[2][:_DIGEST_LEN] or data_version[:_DIGEST_LEN]


#: What the bare network's logged model is called after its study's pyfunc model.
NETWORK_MODEL_SUFFIX: Final = "-network"


def logged_model_names(study: str) -> tuple[str, str]:
    """Names of a refit run's two logged models: the pyfunc model (what gets registered) is
    named after its study (`<arch>__<condition>`), the bare network after it + `-network`.

    MLflow 3 names a logged model after `log_model(name=...)`; the UI's model lists, the
    version page's "Source model" link and `runs:/<refit run id>/<name>` all show or take that
    name, so a generic `model` told no study apart. MLflow refuses `/ : . % " '` in it.
    """
    return study, f"{study}{NETWORK_MODEL_SUFFIX}"


def logged_model_id(model_uri: str) -> str | None:
    """The id in a logged model's URI (`models:/m-<id>`), or None for any other URI."""
    return model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None


#: Distributions the logged models need at serving time (pinned to what trained them).
RUNTIME_DISTRIBUTIONS: Final = (
    "mlflow",
    "torch",
    "torchvision",
    "numpy",
    "pandas",
    "scipy",
    "pyarrow",
    "pydantic",
    "pyyaml",
)


def pip_requirements() -> list[str]:
    """`name==version` of the installed runtime distributions (no inference at log time)."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for dist in RUNTIME_DISTRIBUTIONS:
        try:
            pins.append(f"{dist}=={version(dist).split('+')[0]}")
        except PackageNotFoundError:
            continue
    return pins


def runs_table_url(ui_url: str, experiment_id: str) -> str:
    """The MLflow UI page that shows an experiment's runs table, whatever the experiment's kind.

    MLflow 3.17 opens `#/experiments/<id>` on the page of the kind it infers for the experiment,
    often the GenAI one (traces, evaluations), where gaitgrf's runs are one click away at best.
    The UI's `runs` tab has a route of its own (`/experiments/:experimentId/runs` under its hash
    router; a test reads it from the installed UI bundle) that always opens the classic table.
    """
    return f"{ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs"


def project_experiment_ids(tracking_uri: str) -> dict[str, str]:
    """Name -> id of the `PROJECT_EXPERIMENTS` that exist (and are not deleted) in a store.

    Creates nothing: an SQLite file that does not exist yet holds none, and opening it would
    create it (with MLflow's migrations) only to find that out. An MLflow server (http URI) is
    not asked: its UI is the server itself, and an unreachable one would stall on retries.
    """
    sqlite_file = tracking_uri.removeprefix("sqlite:///")
    if tracking_uri.startswith(("http://", "https://")) or (
        sqlite_file != tracking_uri and not Path(sqlite_file).is_file()
    ):
        return {}
    from mlflow.entities import LifecycleStage
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    found = {}
    for name in PROJECT_EXPERIMENTS:
        experiment = client.get_experiment_by_name(name)
        if experiment is not None and experiment.lifecycle_stage == LifecycleStage.ACTIVE:
            found[name] = str(experiment.experiment_id)
    return found
