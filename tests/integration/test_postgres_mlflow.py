"""The pipeline against an MLflow tracking server with a PostgreSQL backend store.

A real `mlflow server` (the `mlflow_server` fixture, tests/integration/conftest.py; backend: a
fresh PostgreSQL database; artifacts: a folder the server proxies, as MinIO would be in infra/)
is what MLFLOW_TRACKING_URI points at. A tiny study is
tuned and refit through it, its model registered, aliased `champion` and loaded by alias.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest

from gaitgrf.core.config import TuneConfig
from gaitgrf.predictor import GrfPredictor, frame_from_arrays
from gaitgrf.tracking.client import TUNING_EXPERIMENT, Tracker
from tests.sample_factory import make_samples, run_mlp_study
from tests.support.projects import uncapped_budget

pytestmark = pytest.mark.integration
MODEL = "gaitgrf-pg-test"


def test_runs_and_registry_on_a_postgres_backed_server(
    tmp_path: Path, mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    samples, _ = make_samples()  # the same set the study trains on (seeded)
    tracker = Tracker(mlflow_server, tmp_path / "mlartifacts")  # what the stages build
    cfg = TuneConfig.with_budget(
        folds=2,
        test_fraction=0.25,
        budget=uncapped_budget(2, 2),
    )
    summary = run_mlp_study(tmp_path, cfg, tracker, data_version="pg-test")
    ml = summary["mlflow"]
    client = tracker.client
    runs = client.search_runs([tracker.experiment(TUNING_EXPERIMENT)])
    roles = sorted(r.data.tags["gaitgrf.role"] for r in runs)
    assert roles == ["refit", "study", "trial", "trial"]
    trial = next(r for r in runs if r.data.tags["gaitgrf.role"] == "trial")
    for fold in range(2):  # one metric key per fold, one step per epoch
        history = client.get_metric_history(trial.info.run_id, f"fold{fold}/val_loss")
        assert [m.step for m in history] == [0, 1]
    # Artifacts went through the server to its store, not to the client's local folder.
    assert not (tmp_path / "mlartifacts").exists()
    assert any((tmp_path / "server-artifacts").rglob("MLmodel"))

    version = tracker.register(MODEL, ml["model_uri"], ml["refit_run_id"], {"gaitgrf.cv": 1})
    assert version == "1"
    tracker.set_alias(MODEL, "champion", version)
    assert tracker.alias_version(MODEL, "champion") == "1"
    assert tracker.versions(MODEL)[0]["aliases"] == ["champion"]

    import mlflow.pyfunc

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    mlflow.set_tracking_uri(mlflow_server)
    try:
        model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    frame = frame_from_arrays(
        samples.inputs[:3], samples.static[:3], samples.channels, samples.static_names
    )
    predicted = model.predict(frame)
    bundle = tmp_path / "tuned" / "mlp__subject" / "model"
    direct = GrfPredictor.load(bundle).predict_arrays(samples.inputs[:3], samples.static[:3])
    np.testing.assert_allclose(
        predicted["vertical"].to_numpy().reshape(3, -1), direct[:, 0], rtol=1e-5
    )
