"""Promotion against a real MLflow registry (SQLite): champion moves only for a better model.

Two real models of the same data: an untrained network (deliberately bad) and a trained one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest

from gaitgrf.core.artifacts import BUNDLE_DIR, SUMMARY_FILE, Artifacts
from gaitgrf.core.config import PathsConfig, PromoteConfig, TuneConfig
from gaitgrf.pipeline.promote import (
    CHALLENGER,
    CHAMPION,
    MODEL_DESCRIPTION,
    PromotionError,
    promote,
    rollback,
)
from gaitgrf.pipeline.tune.run import StudyRequest, run_study
from gaitgrf.predictor import GrfPredictor, frame_from_arrays
from gaitgrf.tracking.client import TUNING_EXPERIMENT, Tracker, fluent_uris, sqlite_uri
from tests.sample_factory import make_samples
from tests.support.projects import uncapped_budget

optuna.logging.set_verbosity(optuna.logging.WARNING)
CFG = TuneConfig.with_budget(
    folds=2,
    test_fraction=0.25,
    budget=uncapped_budget(1, 4, refit_epochs=40),
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("registry")
    samples, subjects = make_samples(subjects=12, per_subject=20)
    samples.save(root / "fused" / "stance" / "subject.npz")
    tracker = Tracker(sqlite_uri(root / "mlflow.db"), root / "artifacts")
    trained = run_study(
        StudyRequest(
            arch="cnn1d",
            condition="subject",
            samples=samples,
            subjects=subjects,
            cfg=CFG,
            storage_url=sqlite_uri(root / "optuna.db"),
            out_dir=root / "tuned" / "cnn1d__subject",
            data_version="v1",
            git_commit="abc",
            tracker=tracker,
            pip_requirements=["torch"],
            log=lambda line: None,
        )
    ).summary
    # The deliberately bad model: the same bundle with its network re-initialised, logged as
    # its own run, and a summary claiming the best validation score so that it is picked.
    bad_dir = root / "tuned" / "bad__subject"
    shutil.copytree(root / "tuned" / "cnn1d__subject", bad_dir)
    bundle = GrfPredictor.load(bad_dir / BUNDLE_DIR)
    for module in bundle.network.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    bundle.save(bad_dir / BUNDLE_DIR)
    run = tracker.start_run(TUNING_EXPERIMENT, "bad#refit", {"gaitgrf.role": "refit"})
    raw = frame_from_arrays(
        samples.inputs[:2], samples.static[:2], samples.channels, samples.static_names
    )
    x, s = bundle.normaliser.transform(samples.take(np.arange(2)))
    uri = tracker.log_grf_model(
        run, bad_dir / BUNDLE_DIR, raw, (x, s), ["torch"], study="bad__subject"
    )
    tracker.end_run(run)
    bad = {
        **trained,
        "study": "bad__subject",
        "cv_val_loss": 1e-9,
        "mlflow": {**trained["mlflow"], "refit_run_id": run, "model_uri": uri},
    }
    (bad_dir / SUMMARY_FILE).write_text(json.dumps(bad))
    return {"root": root, "tracker": tracker, "subjects": subjects, "trained": trained, "bad": bad}


def _promote(world: dict[str, Any], summaries: list[dict[str, Any]]) -> dict[str, Any]:
    root = world["root"]
    return promote(
        tracker=world["tracker"],
        summaries=summaries,
        artifacts=Artifacts.from_paths(
            PathsConfig(tuned=root / "tuned", fused=root / "fused", reports=root / "reports")
        ),
        subjects=world["subjects"],
        tune_cfg=CFG,
        cfg=PromoteConfig(),
        log=lambda line: None,
    )


def test_promotion_sequence(world: dict[str, Any]) -> None:
    tracker: Tracker = world["tracker"]
    root: Path = world["root"]
    # 1. Empty registry: the (bad) challenger becomes the first champion.
    first = _promote(world, [world["bad"]])
    assert first["promoted"] and first["champion_after"] == "1"
    # Descriptions: the registered model's, and each version's (its study and numbers).
    assert tracker.client.get_registered_model("gaitgrf").description == MODEL_DESCRIPTION
    about = tracker.client.get_model_version("gaitgrf", "1").description
    assert about.startswith("bad__subject (cnn1d, condition subject): cv loss")
    assert tracker.alias_version("gaitgrf", CHAMPION) == "1"
    # 2. The trained model is far better on the same test subjects: it takes over.
    second = _promote(world, [world["trained"]])
    assert second["promoted"], second["reason"]
    assert second["champion_before"] == "1" and second["champion_after"] == "2"
    assert second["challenger"]["study"] == "cnn1d__subject"
    assert second["champion"]["test"]["rrmse_mean"] > second["challenger"]["test"]["rrmse_mean"]
    # 3. A deliberately worse challenger never replaces the better champion.
    third = _promote(world, [world["trained"], world["bad"]])
    assert third["challenger"]["study"] == "bad__subject"  # picked by its validation score
    assert not third["promoted"] and "champion kept" in third["reason"]
    assert tracker.alias_version("gaitgrf", CHAMPION) == "2"
    assert tracker.alias_version("gaitgrf", CHALLENGER) == "1"  # same run: version reused
    report = json.loads((root / "reports" / "promotion.json").read_text())
    assert report["promoted"] is False and report["champion_after"] == "2"
    tags = next(v["tags"] for v in tracker.versions("gaitgrf") if v["version"] == "1")
    assert tags["gaitgrf.decision"] == "not promoted"
    assert "champion kept" in tags["gaitgrf.decision_reason"]
    # 4. The champion loads by alias and predicts from a raw DataFrame.
    import mlflow

    with fluent_uris(tracker.tracking_uri):
        model = mlflow.pyfunc.load_model("models:/gaitgrf@champion")
    samples, _ = make_samples(subjects=12, per_subject=20)
    frame = frame_from_arrays(
        samples.inputs[:4], samples.static[:4], samples.channels, samples.static_names
    )
    out = model.predict(frame)
    assert list(out.columns) == ["sample", "point", "vertical", "anterior", "lateral"]
    assert len(out) == 4 * samples.inputs.shape[2] and np.isfinite(out["vertical"]).all()
    # 5. Rollback moves the champion back to the version it replaced, once.
    assert rollback(tracker, "gaitgrf") == ("2", "1")
    assert tracker.alias_version("gaitgrf", CHAMPION) == "1"
    with pytest.raises(PromotionError, match="first champion"):
        rollback(tracker, "gaitgrf")
