"""Fine-tuning to real cohorts (`gaitgrf.pipeline.adapt`, docs/adaptation.md).

A two-cohort set: `synth` (8 subjects) trains the start model, `lab` (5 subjects) is adapted to
with GroupKFold over its own subjects.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gaitgrf import models
from gaitgrf.core.artifacts import Artifacts
from gaitgrf.core.config import AdaptConfig, ConfigError, parse_params
from gaitgrf.models.base import ModelSpec
from gaitgrf.pipeline.adapt.run import ARMS, AdaptationError, adapt_cohort, cohort_folds
from gaitgrf.pipeline.adapt.stage import adapt_stage
from gaitgrf.predictor import GrfPredictor
from gaitgrf.training.finetune import fine_tune
from gaitgrf.training.loop import train_once
from gaitgrf.training.splits import cohort_of, sample_index
from tests.sample_factory import make_cohorts


@pytest.fixture(scope="module")
def cohorts():  # type: ignore[no-untyped-def]
    return make_cohorts(synth=8, lab=5)


@pytest.fixture(scope="module")
def start(cohorts) -> GrfPredictor:  # type: ignore[no-untyped-def]
    samples, _ = cohorts
    synth = np.flatnonzero([cohort_of(str(g)) == "synth" for g in samples.groups])
    hp = {**models.get("mlp").defaults, "batch_size": 16, "lr": 3e-3}
    trained = train_once(samples, "mlp", hp, synth, None, epochs=3, patience=0, seed=0, threads=1)
    spec = ModelSpec(len(samples.channels), samples.inputs.shape[2], samples.static.shape[1])
    assert spec.channels == len(trained.normaliser.channels)
    return GrfPredictor(
        architecture="mlp",
        hp=hp,
        condition="subject",
        layout="stance",
        normaliser=trained.normaliser,
        length=int(samples.inputs.shape[2]),
        network=trained.network,
        metadata={"study": "mlp__subject"},
    )


def test_cohort_folds_test_every_lab_subject_once_and_never_train_on_it(cohorts) -> None:  # type: ignore[no-untyped-def]
    samples, _ = cohorts
    folds = cohort_folds(samples.groups, "lab", 3, seed=0)
    assert len(folds) == 3
    tested: list[str] = []
    for fold in folds:
        train, test = set(samples.groups[fold.train]), set(samples.groups[fold.test])
        assert not train & test
        assert {cohort_of(str(g)) for g in train | test} == {"lab"}
        tested += sorted(test)
    lab = sorted({str(g) for g in samples.groups if cohort_of(str(g)) == "lab"})
    assert sorted(tested) == lab
    # k is capped at the number of subjects: leave-one-subject-out.
    assert len(cohort_folds(samples.groups, "lab", 50, seed=0)) == len(lab)


def test_a_cohort_with_one_subject_is_refused(cohorts) -> None:  # type: ignore[no-untyped-def]
    samples, _ = cohorts
    one = sample_index(samples.groups, ["lab/S00"])
    with pytest.raises(AdaptationError, match="at least 2"):
        cohort_folds(samples.groups[one], "lab", 3, seed=0)


def test_fine_tune_trains_a_copy_and_leaves_the_start_model(cohorts, start) -> None:  # type: ignore[no-untyped-def]
    samples, _ = cohorts
    lab = np.flatnonzero([cohort_of(str(g)) == "lab" for g in samples.groups])
    before = {k: v.clone() for k, v in start.network.state_dict().items()}
    tuned, fit = fine_tune(start, samples, lab, epochs=4, lr_factor=0.5, seed=0, threads=1)
    for k, v in start.network.state_dict().items():
        torch.testing.assert_close(v, before[k])
    assert any(not torch.equal(v, before[k]) for k, v in tuned.network.state_dict().items())
    assert tuned.normaliser == start.normaliser
    assert fit.history[-1].train_loss < fit.history[0].train_loss
    with pytest.raises(ValueError, match="at least one"):
        fine_tune(start, samples, lab[:0], epochs=1, lr_factor=0.5, seed=0, threads=1)


def test_adapt_cohort_gives_every_arm_an_out_of_fold_prediction(cohorts, start) -> None:  # type: ignore[no-untyped-def]
    samples, _ = cohorts
    cfg = AdaptConfig(cohorts=("lab",), start="mlp__subject", folds=3, epochs=3, lr_factor=0.5)
    lines: list[str] = []
    result = adapt_cohort(start, samples, "lab", cfg, seed=0, threads=1, log=lines.append)
    assert len(lines) == 3 and result.folds == 3 and len(result.subjects) == 5
    assert set(result.predicted) == set(ARMS)
    for arm in ARMS:
        assert result.predicted[arm].shape == result.measured.shape
        assert np.isfinite(result.predicted[arm]).all()
    np.testing.assert_allclose(
        result.predicted["none"],
        start.predict_arrays(samples.inputs[result.index], samples.static[result.index]),
    )
    assert not np.allclose(result.predicted["fine_tuned"], result.predicted["none"])
    again = adapt_cohort(start, samples, "lab", cfg, seed=0, threads=1, log=lambda _: None)
    for arm in ARMS:  # the same params, data and code: the same numbers
        np.testing.assert_array_equal(again.predicted[arm], result.predicted[arm])


def test_adapted_cohorts_must_be_external() -> None:
    with pytest.raises(ConfigError, match=r"tune\.external_cohorts"):
        parse_params({"adapt": {"cohorts": ["lab"]}})
    with pytest.raises(ConfigError, match="neither a study"):
        parse_params({"adapt": {"start": "../elsewhere"}})
    ok = parse_params({"adapt": {"cohorts": ["lab"]}, "tune": {"external_cohorts": ["lab"]}})
    assert ok.adapt.cohorts == ("lab",)


def _project(tmp_path: Path, cohorts, start, adapt: dict) -> tuple:  # type: ignore[no-untyped-def,type-arg]
    samples, _ = cohorts
    raw = {
        "paths": {k: str(tmp_path / k) for k in ("fused", "tuned", "reports")},
        "tune": {"external_cohorts": ["lab"]},
        "adapt": adapt,
    }
    params = parse_params(raw)
    artifacts = Artifacts.from_paths(params.paths)
    path = artifacts.fused_set("stance", "subject")
    path.parent.mkdir(parents=True, exist_ok=True)
    samples.save(path)
    start.save(artifacts.study_bundle("mlp__subject"))
    return params, artifacts


def test_the_stage_writes_a_table_per_cohort(tmp_path: Path, cohorts, start) -> None:  # type: ignore[no-untyped-def]
    adapt = {"cohorts": ["lab"], "start": "mlp__subject", "folds": 2, "epochs": 2}
    params, artifacts = _project(tmp_path, cohorts, start, adapt)
    metrics = adapt_stage(params, {}, log=lambda _: None)
    assert set(metrics) == {"lab"} and set(metrics["lab"]) == set(ARMS)
    stored = json.loads((artifacts.adaptation_dir() / "metrics.json").read_text())
    assert stored == json.loads(json.dumps(metrics))
    assert all(isinstance(v, float) for arm in stored["lab"].values() for v in arm.values())
    report = artifacts.adaptation_report().read_text()
    assert "## lab" in report and "fine-tuned from the start model" in report
    assert "trained on the cohort alone" in report and "5 subjects" in report
    rows = (artifacts.adaptation_dir() / "subjects.csv").read_text().splitlines()
    assert len(rows) == 1 + 5 * len(ARMS)


def test_the_stage_without_cohorts_says_so(tmp_path: Path, cohorts, start) -> None:  # type: ignore[no-untyped-def]
    params, artifacts = _project(tmp_path, cohorts, start, {})
    assert adapt_stage(params, {}, log=lambda _: None) == {}
    assert "No cohort to adapt to" in artifacts.adaptation_report().read_text()


def test_a_start_study_without_a_model_is_one_clear_error(tmp_path: Path, cohorts, start) -> None:  # type: ignore[no-untyped-def]
    adapt = {"cohorts": ["lab"], "start": "gru__base"}
    params, _ = _project(tmp_path, cohorts, start, adapt)
    with pytest.raises(AdaptationError, match="gru__base has no tuned model"):
        adapt_stage(params, {}, log=lambda _: None)
