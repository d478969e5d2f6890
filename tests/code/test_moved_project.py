"""A project with a finished study, copied to a new folder and the old one deleted, still works.

MLflow's database holds absolute artifact locations; before issue 17 (item 5) the copy read the
champion and the study's models from the deleted folder (and failed) and wrote new runs' files
there. The session's champion project (tests/champion_factory.py: a tiny study, its refit and
the registered champion, stores `mlflow.db`, `optuna.db` and `artifacts/` in its root) is
copied to `lab-a`, used there, moved to `lab-b`; everything is then read and written through
`gaitgrf.runtime`, as the stages and the CLI do.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import optuna
import pytest
from champion_factory import Champion, session_champion
from mlflow import MlflowClient

from gaitgrf import runtime
from gaitgrf.core.config import Params, parse_params
from gaitgrf.core.stores import anchor_stores
from gaitgrf.serving.inference import predict_trial
from gaitgrf.serving.inputs import load_predictor, read_input, subject_from_file
from gaitgrf.tracking.client import TUNING_EXPERIMENT, fluent_uris
from gaitgrf.tracking.conventions import logged_model_names

STUDY = "cnn1d__subject"


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> Champion:
    return session_champion(tmp_path_factory)


def _params(root: Path) -> Params:
    """The champion project's params: its artifact folder is `artifacts/`, anchored at `root`."""
    return anchor_stores(parse_params({"paths": {"mlflow_artifacts": "artifacts"}}), root)


def _forces(predictor: object, project: Path, champion: Champion) -> np.ndarray:
    unseen = project / champion.unseen_trial.relative_to(champion.root)
    loaded = read_input(unseen)
    subjects = project / champion.unseen_subjects.relative_to(champion.root)
    subject = subject_from_file(subjects, champion.unseen_subject_id)
    return predict_trial(predictor, loaded.trial, subject.merged(loaded.subject)).forces_bw  # type: ignore[arg-type]


def test_a_moved_project_reads_its_champion_and_study_and_logs_in_its_folder(
    champion: Champion, tmp_path: Path
) -> None:
    lab_a, lab_b = tmp_path / "lab-a", tmp_path / "lab-b"
    shutil.copytree(champion.root, lab_a)
    runtime.tracking_uri(_params(lab_a), {})  # used where it is first
    shutil.copytree(lab_a, lab_b)
    shutil.rmtree(lab_a)

    params = _params(lab_b)
    uri = runtime.tracking_uri(params, {})
    assert uri == f"sqlite:///{lab_b / 'mlflow.db'}"
    # The champion, from the registry: its files are read in lab-b, and it predicts as it did.
    predictor = load_predictor("models:/gaitgrf@champion", uri)
    original = load_predictor("models:/gaitgrf@champion", champion.tracking_uri)
    assert np.array_equal(_forces(predictor, lab_b, champion), _forces(original, lab_b, champion))
    # The study: its trials in lab-b's Optuna storage, its refit run's models in lab-b's folder.
    study = optuna.load_study(study_name=STUDY, storage=runtime.storage_url(params, {}))
    assert len(study.trials) >= 1 and study.best_value > 0
    summary = json.loads((lab_b / "tuned" / STUDY / "summary.json").read_text())
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(TUNING_EXPERIMENT)
    assert exp is not None
    assert exp.artifact_location == (lab_b / "artifacts" / "gaitgrf-tuning").as_uri()
    models = client.search_logged_models([exp.experiment_id])
    assert {m.name for m in models} >= set(logged_model_names(STUDY))
    assert all(m.artifact_location.startswith(lab_b.as_uri() + "/") for m in models)
    refit = client.get_run(summary["mlflow"]["refit_run_id"])
    assert refit.info.artifact_uri.startswith(lab_b.as_uri() + "/")
    with fluent_uris(uri):
        assert mlflow.pyfunc.load_model(summary["mlflow"]["model_uri"]).metadata.model_uuid
    # A new run: its artifacts land in lab-b; the deleted folder is not created again.
    tracker = runtime.open_tracker(params, {})
    run = tracker.start_run(TUNING_EXPERIMENT, "after the move")
    note = lab_b / "note.txt"
    note.write_text("logged after the move\n")
    tracker.log_artifacts(run, [note])
    tracker.end_run(run)
    assert (lab_b / "artifacts" / "gaitgrf-tuning" / run / "artifacts" / "note.txt").is_file()
    assert not lab_a.exists()
    # The session's champion, the copies' origin, still points at its own folder.
    original_exp = MlflowClient(champion.tracking_uri).get_experiment_by_name(TUNING_EXPERIMENT)
    assert original_exp is not None
    assert original_exp.artifact_location.startswith(champion.root.resolve().as_uri() + "/")
