"""End to end: `dvc exp run --temp` of one study writes into the project's MLflow and Optuna stores.

DVC runs a `--temp` (or `--queue`) experiment in a copy of the workspace under
`.dvc/tmp/exps/`, deleted afterwards. Before issue 17 the tune stage opened `mlflow.db`,
`optuna.db` and `mlartifacts/` relative to that copy: the runs and trials vanished with it and
the experiment's summary.json named a database and a model that no longer existed. The stage
shell now anchors the stores at DVC's `DVC_ROOT` (the original repository). A tiny project
(tests/support/projects.py: one light architecture, a two-trial one-epoch budget) is
bootstrapped and committed; one study runs as a temporary experiment with real git, DVC and
stage processes.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import dvc.api
import optuna
import pytest
from mlflow import MlflowClient

from gaitgrf.tracking.client import TUNING_EXPERIMENT, sqlite_uri
from tests.support.projects import TINY_BUDGET, gaitgrf, git, write_tiny_project
from tests.support.projects import dvc as run_dvc

pytestmark = pytest.mark.integration
STUDY, STAGE = "mlp__base", "tune@mlp-base"
STORES = {"mlflow.db", "optuna.db", "mlartifacts"}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The project's own stores, not whatever this shell points MLflow or Optuna at.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("GAITGRF_OPTUNA_STORAGE", raising=False)
    root = write_tiny_project(tmp_path / "project", architectures=("mlp",))
    gaitgrf(root, "bootstrap", "--params", "params.yaml")
    git(root, "config", "user.name", "gaitgrf-test")
    git(root, "config", "user.email", "test@localhost")
    git(root, "add", "data/raw/synth-default.dvc")
    git(root, "commit", "--quiet", "-m", "the tiny cohort")
    return root.resolve()


def test_temp_experiment_lands_in_the_project_stores(project: Path) -> None:
    out = run_dvc(project, "exp", "run", "--temp", "--name", "cheap", STAGE)
    assert f"Running stage '{STAGE}'" in out
    assert "[cheap]" in run_dvc(project, "exp", "list")
    # The temporary workspace left no store behind, and the workspace is as it was.
    leftovers = [p for p in (project / ".dvc" / "tmp").rglob("*") if p.name in STORES]
    assert leftovers == []
    assert not (project / "data" / "tuned" / STUDY).exists()

    # Optuna: the study and its trials are in the project's storage.
    storage = sqlite_uri(project / "optuna.db")
    study = optuna.load_study(study_name=STUDY, storage=storage)
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) == TINY_BUDGET["n_trials"]
    # MLflow: the study's parent, trial and refit runs, their models in the project's folder.
    client = MlflowClient(sqlite_uri(project / "mlflow.db"))
    exp = client.get_experiment_by_name(TUNING_EXPERIMENT)
    assert exp is not None
    assert exp.artifact_location == (project / "mlartifacts" / TUNING_EXPERIMENT).as_uri()
    runs = client.search_runs([exp.experiment_id], f"tags.`gaitgrf.study` = '{STUDY}'")
    roles = sorted(r.data.tags["gaitgrf.role"] for r in runs)
    assert roles == sorted(["study", "refit"] + ["trial"] * TINY_BUDGET["n_trials"])
    models = client.search_logged_models([exp.experiment_id])
    assert models and all(_exists(m.artifact_location) for m in models)

    # The experiment's summary.json (read from its commit) names stores and a model that exist.
    summary_file = f"data/tuned/{STUDY}/summary.json"
    summary = json.loads(dvc.api.read(summary_file, repo=str(project), rev="cheap"))
    assert summary["storage"] == storage
    assert summary["mlflow"]["tracking_uri"] == sqlite_uri(project / "mlflow.db")
    model_id = summary["mlflow"]["model_uri"].removeprefix("models:/")
    assert _exists(client.get_logged_model(model_id).artifact_location)
    assert summary["mlflow"]["refit_run_id"] in {r.info.run_id for r in runs}
    with sqlite3.connect(project / "mlflow.db") as con:  # one store, nothing else points away
        uris = [row[0] for row in con.execute("SELECT artifact_uri FROM runs")]
    assert all(u.startswith((project / "mlartifacts").as_uri() + "/") for u in uris)


def _exists(location: str) -> bool:
    """A `file://` artifact location that is a folder holding files."""
    path = Path(url2pathname(urlsplit(location).path))
    return location.startswith("file://") and path.is_dir() and any(path.iterdir())
