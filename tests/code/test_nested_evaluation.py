"""The nested-CV section of the evaluation (gaitgrf.pipeline.evaluate.nested): out-of-fold
predictions written as the nested tune stage writes them (`write_out_of_fold`), constructed
so their errors are known, scored over every subject beside the hold-out's sections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gaitgrf.core.artifacts import SUMMARY_FILE, Artifacts
from gaitgrf.core.config import PathsConfig, TuneConfig
from gaitgrf.pipeline.evaluate.metrics import PRIMARY, ModelResult, evaluate_model, per_subject
from gaitgrf.pipeline.evaluate.nested import (
    NESTED_CD_PLOT,
    NestedEvaluationError,
    nested_results,
)
from gaitgrf.pipeline.evaluate.run import write_outputs
from gaitgrf.pipeline.tune.nested import OOF_FILE, outer_folds, write_out_of_fold
from tests.sample_factory import StubPredictor, make_samples

SAMPLES, TABLE = make_samples(subjects=12, per_subject=4)
CFG = TuneConfig(folds=2, test_fraction=0.25, outer_folds=3, evaluation="nested")
#: Noise (BW) of each architecture's predictions: gru best, lstm worst.
NOISE = {"gru": 0.02, "mlp": 0.05, "lstm": 0.1}


def predictions(arch: str, condition: str) -> np.ndarray:
    rng = np.random.default_rng(len(arch) * 10 + (condition == "subject"))
    sd = NOISE[arch] * (0.8 if condition == "subject" else 1.0)
    return (SAMPLES.targets + rng.normal(0, sd, SAMPLES.targets.shape)).astype(np.float32)


def project(tmp_path: Path) -> tuple[Artifacts, list[str]]:
    """Fused sets and, per study, summary.json + oof.npz + nested.json as a nested tune wrote."""
    artifacts = Artifacts.from_paths(
        PathsConfig(tuned=tmp_path / "tuned", fused=tmp_path / "fused", reports=tmp_path / "rep")
    )
    _, folds = outer_folds(SAMPLES, TABLE, CFG)
    fold_of = np.zeros(len(SAMPLES), dtype=np.int64)
    for f in folds:
        fold_of[np.isin(SAMPLES.groups, f.test)] = f.fold
    studies = []
    for condition in ("base", "subject"):
        path = artifacts.fused_set("stance", condition)
        path.parent.mkdir(parents=True, exist_ok=True)
        SAMPLES.save(path)
        for arch in NOISE:
            study = f"{arch}__{condition}"
            folder = artifacts.study_dir(study)
            folder.mkdir(parents=True)
            (folder / SUMMARY_FILE).write_text(
                json.dumps({"study": study, "architecture": arch, "condition": condition})
            )
            record = {
                "outer_folds": len(folds),
                "subjects": sorted(set(SAMPLES.groups)),
                "folds": [
                    {"fold": f.fold, "train": f.train, "test": f.test, "cv_val_loss": 0.5}
                    for f in folds
                ],
            }
            positions = np.arange(len(SAMPLES))
            write_out_of_fold(
                folder, positions, predictions(arch, condition), SAMPLES.groups, fold_of, record
            )
            studies.append(study)
    return artifacts, studies


def holdout(arch: str, condition: str) -> ModelResult:
    """A hold-out result for the sections beside the nested one (its first 3 subjects)."""
    idx = np.flatnonzero(np.isin(SAMPLES.groups, sorted(set(SAMPLES.groups))[:3]))
    return evaluate_model(
        StubPredictor(arch, condition, predictions(arch, condition)[idx]),  # type: ignore[arg-type]
        SAMPLES.inputs[idx],
        SAMPLES.static[idx],
        SAMPLES.targets[idx],
        SAMPLES.groups[idx],
        {"study": f"{arch}__{condition}", "cv_val_loss": 0.5, "layout": "stance"},
    )


def write(artifacts: Artifacts, nested: list[ModelResult] | None) -> dict[str, Any]:
    results = [holdout(a, c) for c in ("base", "subject") for a in NOISE]
    context = {
        "test_subjects": 3,
        "test_samples": 12,
        "layout": "stance",
        "data_version": "test-v1",
        "external_cohorts": [],
        "external_subjects": 0,
    }
    return write_outputs(results, artifacts, context, bootstrap=200, alpha=0.05, nested=nested)


def test_nested_section_has_every_subject_and_the_statistics(tmp_path: Path) -> None:
    from scipy import stats

    artifacts, studies = project(tmp_path)
    results = nested_results(artifacts, TABLE, CFG, studies)
    assert all(len(r.subjects) == 12 for r in results)
    summary = write(artifacts, results)
    nested = summary["nested"]
    assert nested["subjects"] == 12 and nested["outer_folds"] == 3
    report = artifacts.evaluation_report().read_text()
    assert "## Nested cross-validation, all 12 subjects" in report
    assert "### Do subject features help? (paired, all 12 subjects)" in report
    assert "## Do subject features help? (paired, per test subject)" in report  # hold-out's too
    for arch in NOISE:
        effect = nested["feature_effects"][arch]
        assert effect["subjects"] == 12
        # Independently: per-subject primary metric of each condition, scipy's Wilcoxon.
        base = per_subject(SAMPLES.groups, SAMPLES.targets, predictions(arch, "base"), stance=True)
        subj = per_subject(
            SAMPLES.groups, SAMPLES.targets, predictions(arch, "subject"), stance=True
        )
        diff = (subj[PRIMARY] - base[PRIMARY]).to_numpy()
        assert effect["mean_diff"] == pytest.approx(diff.mean())
        assert effect["p_value"] == pytest.approx(stats.wilcoxon(diff).pvalue)
    for condition in ("base", "subject"):
        test = nested["friedman"][condition]
        assert test["subjects"] == 12
        assert list(test["mean_rank"]) == ["gru", "mlp", "lstm"]  # by their noise
    assert (artifacts.evaluation_dir() / "plots" / NESTED_CD_PLOT).is_file()


def test_holdout_mode_has_no_nested_section_but_the_plot_file(tmp_path: Path) -> None:
    artifacts, _ = project(tmp_path)
    summary = write(artifacts, None)
    assert summary["nested"] is None
    assert "Nested cross-validation" not in artifacts.evaluation_report().read_text()
    assert (artifacts.evaluation_dir() / "plots" / NESTED_CD_PLOT).is_file()


def test_stale_or_missing_out_of_fold_predictions_are_refused(tmp_path: Path) -> None:
    artifacts, studies = project(tmp_path)
    other = CFG.model_copy(update={"outer_folds": 4})
    with pytest.raises(NestedEvaluationError, match="outer folds or samples differ"):
        nested_results(artifacts, TABLE, other, studies)
    (artifacts.study_dir(studies[0]) / OOF_FILE).unlink()
    with pytest.raises(NestedEvaluationError, match=r"no oof\.npz"):
        nested_results(artifacts, TABLE, CFG, studies)


def test_subject_table_order_does_not_change_the_folds() -> None:
    shuffled = TABLE.sample(frac=1.0, random_state=1).reset_index(drop=True)
    assert outer_folds(SAMPLES, TABLE, CFG)[1] == outer_folds(SAMPLES, shuffled, CFG)[1]
    assert isinstance(shuffled, pd.DataFrame)
