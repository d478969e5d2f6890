"""Runs gaitgrf creates follow MLflow's conventions (issue 17, item 7).

MLflow's UI reads standard tags that only its fluent API sets by itself: the source and git
commit of a run (`mlflow.source.*`), descriptions of experiments and runs
(`mlflow.note.content`). gaitgrf creates runs through the client, so it sets them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gaitgrf.core.config import Params, TuneConfig
from gaitgrf.pipeline.evaluate.run import log_to_mlflow
from gaitgrf.runtime import open_tracker
from gaitgrf.serving.inputs import load_predictor
from gaitgrf.tracking.client import TUNING_EXPERIMENT, Tracker, logged_model_id, sqlite_uri
from gaitgrf.tracking.conventions import (
    DATASET_CONTEXT_TAG,
    EVALUATION_EXPERIMENT,
    EXPERIMENT_NOTES,
    GIT_COMMIT_TAG,
    NOTE_TAG,
    RETRAIN_EXPERIMENT,
    SOURCE_NAME_TAG,
    SOURCE_TYPE_TAG,
    data_digest,
    logged_model_names,
    source_tags,
)
from tests.sample_factory import run_mlp_study
from tests.support.projects import uncapped_budget

HEAD = "0123456789abcdef0123456789abcdef01234567"


# --- (b) source and git tags -------------------------------------------------------------------
def test_source_tags_hold_the_bare_commit() -> None:
    assert source_tags(f"{HEAD}-dirty", "gaitgrf.pipeline.tune") == {
        SOURCE_NAME_TAG: "gaitgrf.pipeline.tune",
        SOURCE_TYPE_TAG: "LOCAL",
        GIT_COMMIT_TAG: HEAD,
    }
    assert GIT_COMMIT_TAG not in source_tags("unknown", "x")  # outside git: no fake commit


def test_every_run_started_carries_the_source_tags(tmp_path: Path) -> None:
    tracker = Tracker(sqlite_uri(tmp_path / "mlflow.db"), source=source_tags(HEAD, "here"))
    parent = tracker.start_run(TUNING_EXPERIMENT, "s", {"gaitgrf.role": "study"})
    child = tracker.start_run(TUNING_EXPERIMENT, "s#0", {SOURCE_NAME_TAG: "own"}, parent=parent)
    tags = tracker.client.get_run(parent).data.tags
    assert tags[GIT_COMMIT_TAG] == HEAD and tags[SOURCE_TYPE_TAG] == "LOCAL"
    assert tags[SOURCE_NAME_TAG] == "here" and tags["gaitgrf.role"] == "study"
    assert tracker.client.get_run(child).data.tags[SOURCE_NAME_TAG] == "own"  # run's own wins


def test_open_tracker_tags_runs_with_the_checkout_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (
        ["init", "-q"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x"],
    ):
        subprocess.run(["git", *args], cwd=repo, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()
    monkeypatch.chdir(repo)
    env = {"MLFLOW_TRACKING_URI": sqlite_uri(tmp_path / "mlflow.db")}
    tracker = open_tracker(Params(), env, "gaitgrf.pipeline.evaluate")
    run = tracker.start_run(TUNING_EXPERIMENT, "r")
    tags = tracker.client.get_run(run).data.tags
    assert tags[GIT_COMMIT_TAG] == head
    assert tags[SOURCE_NAME_TAG] == "gaitgrf.pipeline.evaluate"


# --- (c) descriptions ---------------------------------------------------------------------------
def test_experiments_and_runs_have_descriptions(tmp_path: Path) -> None:
    tracker = Tracker(sqlite_uri(tmp_path / "mlflow.db"))
    for name in (TUNING_EXPERIMENT, EVALUATION_EXPERIMENT, RETRAIN_EXPERIMENT):
        experiment = tracker.client.get_experiment(tracker.experiment(name))
        assert experiment.tags[NOTE_TAG] == EXPERIMENT_NOTES[name]
    run = tracker.start_run(TUNING_EXPERIMENT, "s", note="what this run is")
    assert tracker.client.get_run(run).data.tags[NOTE_TAG] == "what this run is"
    assert (
        NOTE_TAG not in tracker.client.get_run(tracker.start_run(TUNING_EXPERIMENT, "t")).data.tags
    )


def test_an_experiment_created_before_gets_its_description(tmp_path: Path) -> None:
    uri = sqlite_uri(tmp_path / "mlflow.db")
    old = Tracker(uri).client.create_experiment(EVALUATION_EXPERIMENT)  # as older gaitgrf did
    Tracker(uri).experiment(EVALUATION_EXPERIMENT)
    tags = Tracker(uri).client.get_experiment(old).tags
    assert tags[NOTE_TAG] == EXPERIMENT_NOTES[EVALUATION_EXPERIMENT]


# --- (a) the data as an MLflow dataset ---------------------------------------------------------
MD5 = "0123456789abcdef0123456789abcdef"


def test_data_digest_is_dvcs_hash() -> None:
    assert data_digest(f"dvc:{MD5}") == MD5
    assert data_digest(f"sha256:{MD5}") == MD5
    assert len(data_digest("x" * 80)) == 36  # MLflow's column holds 36 characters


def _datasets(tracker: Tracker, run_id: str) -> list[tuple[str, str, str]]:
    inputs = tracker.client.get_run(run_id).inputs.dataset_inputs
    return [
        (
            d.dataset.name,
            d.dataset.digest,
            {t.key: t.value for t in d.tags}[DATASET_CONTEXT_TAG],
        )
        for d in inputs
    ]


def test_evaluation_runs_log_their_data_as_a_dataset(tmp_path: Path) -> None:
    tracker = Tracker(sqlite_uri(tmp_path / "mlflow.db"))
    result = SimpleNamespace(
        study="cnn1d__subject",
        architecture="cnn1d",
        condition="subject",
        summary={"mlflow": {"refit_run_id": "r"}},
        diverged=None,
        pooled={"rrmse_mean": 10.0},
        cohorts={},
        profile={"parameters": 5.0},
        cv_val_loss=0.1,
    )
    info = {"layout": "stance", "data_version": f"dvc:{MD5}"}
    log_to_mlflow(tracker, [result], [], info)  # type: ignore[list-item]
    experiment = tracker.experiment(EVALUATION_EXPERIMENT)
    run = tracker.find_run(EVALUATION_EXPERIMENT, {"gaitgrf.study": "cnn1d__subject"})
    assert run is not None and experiment
    assert _datasets(tracker, run.info.run_id) == [("fused/stance/subject", MD5, "evaluation")]
    dataset = run.inputs.dataset_inputs[0].dataset
    assert json.loads(dataset.source)["data_version"] == f"dvc:{MD5}"
    assert run.data.tags[NOTE_TAG].startswith("cnn1d__subject's refit model")


# --- (e) logged models named after their study, scored by the evaluation -----------------------
def test_logged_model_names_follow_the_study() -> None:
    assert logged_model_names("bilstm__base") == ("bilstm__base", "bilstm__base-network")


def _evaluated(summary: dict[str, Any]) -> Any:
    """What `evaluate_studies` gives `log_to_mlflow` for the study of `summary`."""
    return SimpleNamespace(
        study="mlp__subject",
        architecture="mlp",
        condition="subject",
        summary=summary,
        diverged=None,
        pooled={"rrmse_mean": 12.5, "vertical_r": 0.9},
        cohorts={"internal": {"rrmse_mean": 12.0}},
        profile={"parameters": 5.0},
        cv_val_loss=0.1,
    )


def test_evaluation_scores_the_logged_model_named_after_its_study(tmp_path: Path) -> None:
    """The refit's logged models carry the study's name; the evaluation run takes the pyfunc
    model as input and logs its test metrics on it; the registered version's source is it."""
    tracker = Tracker(sqlite_uri(tmp_path / "mlflow.db"), tmp_path / "artifacts")
    budget = uncapped_budget(1, 1)
    cfg = TuneConfig.with_budget(folds=2, test_fraction=0.25, budget=budget)
    summary = run_mlp_study(tmp_path, cfg, tracker, data_version=f"dvc:{MD5}")
    ml = summary["mlflow"]
    model_id = str(logged_model_id(ml["model_uri"]))
    logged = tracker.client.search_logged_models(
        [tracker.experiment(TUNING_EXPERIMENT)],
        filter_string=f"source_run_id = '{ml['refit_run_id']}'",
    )
    assert sorted(m.name for m in logged) == ["mlp__subject", "mlp__subject-network"]
    assert tracker.client.get_logged_model(model_id).name == "mlp__subject"
    # `runs:/<refit run>/<study>` finds the pyfunc model by that name (docs/inference.md).
    loaded = load_predictor(f"runs:/{ml['refit_run_id']}/mlp__subject", tracker.tracking_uri)
    assert loaded.architecture == "mlp"

    log_to_mlflow(
        tracker, [_evaluated(summary)], [], {"layout": "stance", "data_version": f"dvc:{MD5}"}
    )
    found = tracker.find_run(EVALUATION_EXPERIMENT, {"gaitgrf.study": "mlp__subject"})
    assert found is not None
    run = tracker.client.get_run(found.info.run_id)  # a search leaves model inputs out
    assert [m.model_id for m in run.inputs.model_inputs] == [model_id]
    scored = {
        m.key: m
        for m in tracker.client.get_logged_model(model_id).metrics or []
        if m.run_id == run.info.run_id
    }
    # the test metrics, not the model's profile (parameters) nor its cv loss
    assert set(scored) == {"rrmse_mean", "vertical_r", "cohort.internal.rrmse_mean"}
    assert scored["rrmse_mean"].value == pytest.approx(12.5)
    assert (scored["rrmse_mean"].dataset_name, scored["rrmse_mean"].dataset_digest) == (
        "fused/stance/subject",
        MD5,
    )
    assert run.data.metrics["parameters"] == 5.0 and run.data.metrics["rrmse_mean"] == 12.5
    # The Models tab of the tuning experiment (a search) shows them beside the refit's numbers.
    (listed,) = tracker.client.search_logged_models(
        [tracker.experiment(TUNING_EXPERIMENT)], filter_string="name = 'mlp__subject'"
    )
    keys = {(m.run_id, m.key) for m in listed.metrics or []}
    assert {(run.info.run_id, "rrmse_mean"), (ml["refit_run_id"], "cv_val_loss")} <= keys
    # The version page's "Source model" link reads the logged model the version came from.
    version = tracker.register("gaitgrf", ml["model_uri"], ml["refit_run_id"], {})
    source = tracker.client.get_model_version("gaitgrf", version).source
    assert tracker.client.get_logged_model(str(logged_model_id(source))).name == "mlp__subject"


def test_evaluation_of_a_model_missing_from_the_store_logs_no_link(tmp_path: Path) -> None:
    tracker = Tracker(sqlite_uri(tmp_path / "mlflow.db"))
    stale = {"mlflow": {"refit_run_id": "r", "model_uri": "models:/m-0123456789abcdef"}}
    log_to_mlflow(tracker, [_evaluated(stale)], [], {"layout": "stance", "data_version": "v"})
    found = tracker.find_run(EVALUATION_EXPERIMENT, {"gaitgrf.study": "mlp__subject"})
    assert found is not None
    run = tracker.client.get_run(found.info.run_id)
    assert not run.inputs.model_inputs
    assert run.data.metrics["rrmse_mean"] == 12.5  # the run's own metrics are all there
