"""Nested subject-wise cross-validation (issue 15, section 1): outer folds, leakage, OOF output.

Real Optuna (SQLite) on the tiny learnable sample set of `sample_factory`, 1 trial of 1 epoch
per study, so the whole nested stage takes seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaitgrf.core.config import TuneConfig
from gaitgrf.pipeline.tune.data import TuningData, check_subject_wise
from gaitgrf.pipeline.tune.nested import (
    NESTED_FILE,
    OOF_FILE,
    NestedSplitError,
    OuterFold,
    check_out_of_fold,
    check_outer_folds,
    fold_data,
    outer_folds,
)
from gaitgrf.pipeline.tune.study import TuningError
from gaitgrf.training.splits import sample_index, strata
from tests.sample_factory import make_cohorts, make_samples, run_mlp_study
from tests.support.projects import uncapped_budget

optuna.logging.set_verbosity(optuna.logging.WARNING)


def nested_config(outer: int = 3, **fields: object) -> TuneConfig:
    return TuneConfig.with_budget(
        folds=2,
        test_fraction=0.25,
        evaluation="nested",
        outer_folds=outer,
        threads=1,
        budget=uncapped_budget(1, 1),
        **fields,
    )


@settings(max_examples=25, deadline=None)
@given(subjects=st.integers(6, 24), outer=st.integers(2, 6), seed=st.integers(0, 10_000))
def test_outer_folds_test_every_subject_once_and_stratify(
    subjects: int, outer: int, seed: int
) -> None:
    samples, table = make_samples(subjects=subjects, per_subject=2, static=False)
    cfg = TuneConfig(folds=2, test_fraction=0.2, seed=seed, outer_folds=outer)
    split, folds = outer_folds(samples, table, cfg)
    tested = [k for f in folds for k in f.test]
    assert sorted(tested) == sorted(split.tuning + split.test)  # hold-out subjects included
    assert len(set(tested)) == len(tested)
    sizes = [len(f.test) for f in folds]
    assert max(sizes) - min(sizes) <= 1
    by_stratum = strata(table)
    for stratum in set(by_stratum.values()):
        counts = [sum(by_stratum[k] == stratum for k in f.test) for f in folds]
        assert max(counts) - min(counts) <= 1, (stratum, counts)
    for f in folds:
        assert not set(f.train) & set(f.test)


def test_outer_folds_depend_on_the_seed_only() -> None:
    samples, table = make_samples(subjects=20, per_subject=2, static=False)
    first = outer_folds(samples, table, TuneConfig(outer_folds=4, seed=3))[1]
    assert first == outer_folds(samples, table, TuneConfig(outer_folds=4, seed=3))[1]
    assert first != outer_folds(samples, table, TuneConfig(outer_folds=4, seed=4))[1]


def test_a_clean_nested_split_passes_every_check() -> None:
    samples, table = make_samples(subjects=12, per_subject=3, static=False)
    cfg = nested_config()
    split, folds = outer_folds(samples, table, cfg)
    check_outer_folds(samples.groups, split, folds)
    for fold in folds:
        data = fold_data(samples, split, fold, cfg)
        groups = samples.groups
        outer_test = set(groups[data.test_index].tolist())
        for train, val in data.folds:
            assert not set(groups[train].tolist()) & set(groups[val].tolist())
            assert not (set(groups[train].tolist()) | set(groups[val].tolist())) & outer_test


def test_leaking_splits_are_refused_with_the_subject_named() -> None:
    samples, table = make_samples(subjects=12, per_subject=3, static=False)
    cfg = nested_config()
    split, folds = outer_folds(samples, table, cfg)
    leaked = folds[0].test[0]
    both = OuterFold(0, (*folds[0].train, leaked), folds[0].test)
    named = rf"outer fold 0: subject\(s\) \['{leaked}'\] on both"
    with pytest.raises(NestedSplitError, match=named):
        check_outer_folds(samples.groups, split, [both, *folds[1:]])
    rest = tuple(k for k in folds[1].train if k != leaked)
    twice = OuterFold(1, rest, (*folds[1].test, leaked))
    with pytest.raises(NestedSplitError, match="tested by more than one outer fold"):
        check_outer_folds(samples.groups, split, [folds[0], twice, *folds[2:]])
    dropped = OuterFold(0, folds[0].train, folds[0].test[1:])
    with pytest.raises(NestedSplitError, match="on neither side"):
        check_outer_folds(samples.groups, split, [dropped, *folds[1:]])
    # An inner fold whose validation subject is also the outer fold's test subject.
    data = fold_data(samples, split, folds[0], cfg)
    train, val = data.folds[0]
    inner_leak = TuningData(
        samples=data.samples,
        split=data.split,
        folds=((train, np.union1d(val, sample_index(samples.groups, [leaked]))),),
    )
    with pytest.raises(TuningError, match=leaked):
        check_subject_wise(inner_leak)


def test_external_cohorts_stay_out_of_every_outer_fold() -> None:
    samples, table = make_cohorts(main=10, lab=4)
    cfg = nested_config(external_cohorts=("lab",))
    split, folds = outer_folds(samples, table, cfg)
    assert all(not any(k.startswith("lab/") for k in f.train + f.test) for f in folds)
    extra = OuterFold(0, folds[0].train, (*folds[0].test, split.external[0]))
    with pytest.raises(NestedSplitError, match="external-cohort"):
        check_outer_folds(samples.groups, split, [extra, *folds[1:]])


def test_out_of_fold_check_refuses_missing_and_repeated_samples() -> None:
    samples, _ = make_samples(subjects=4, per_subject=2, static=False)
    everyone = sorted(set(samples.groups.tolist()))
    positions = np.arange(len(samples))
    check_out_of_fold(samples.groups, positions, everyone)
    with pytest.raises(NestedSplitError, match="more than one outer fold"):
        check_out_of_fold(samples.groups, np.append(positions, 0), everyone)
    with pytest.raises(NestedSplitError, match="without an out-of-fold prediction"):
        check_out_of_fold(samples.groups, positions[1:], everyone)


def test_nested_stage_predicts_every_subject_exactly_once(tmp_path: Path) -> None:
    data = make_samples(subjects=12, per_subject=4)
    samples, _ = data
    summary = run_mlp_study(tmp_path, nested_config(outer=3), data=data)
    out = tmp_path / "tuned" / "mlp__subject"
    oof = np.load(out / OOF_FILE)
    assert np.array_equal(oof["positions"], np.arange(len(samples)))  # every sample, once
    assert np.array_equal(oof["groups"], samples.groups)
    assert oof["predictions"].shape == samples.targets.shape
    assert np.isfinite(oof["predictions"]).all()
    record = json.loads((out / NESTED_FILE).read_text())
    assert sorted(k for f in record["folds"] for k in f["test"]) == sorted(set(samples.groups))
    for f in record["folds"]:
        assert not set(f["train"]) & set(f["test"])
        assert set(oof["groups"][oof["fold"] == f["fold"]].tolist()) == set(f["test"])
    assert summary["nested"]["subjects"] == 12
    assert summary["nested"]["studies"] == [f"mlp__subject__outer{k}" for k in range(3)]
    # The hold-out study is today's: its own test subjects, a bundle, the same keys.
    assert len(summary["subjects"]["test"]) == 3 and (out / "model").is_dir()
    names = {
        s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{tmp_path}/optuna.db")
    }
    assert {"mlp__subject", *summary["nested"]["studies"]} <= names


def test_holdout_mode_writes_no_out_of_fold_predictions(tmp_path: Path) -> None:
    cfg = nested_config().model_copy(update={"evaluation": "holdout"})
    summary = run_mlp_study(tmp_path, cfg, data=make_samples(subjects=8, per_subject=3))
    assert "nested" not in summary
    assert not (tmp_path / "tuned" / "mlp__subject" / OOF_FILE).exists()


def test_outer_studies_are_tracked_apart_from_the_holdout_study(tmp_path: Path) -> None:
    """Each outer study gets its own MLflow parent run (role outer_study, its fold and test
    subjects), its trials are child runs of it, and a re-run resumes them instead of adding."""
    from gaitgrf.tracking.client import TUNING_EXPERIMENT, Tracker, sqlite_uri

    tracker = Tracker(sqlite_uri(tmp_path / "mlflow.db"), tmp_path / "artifacts")
    data = make_samples(subjects=9, per_subject=3)
    summary = run_mlp_study(tmp_path, nested_config(outer=3), tracker, data=data)
    record = json.loads((tmp_path / "tuned" / "mlp__subject" / NESTED_FILE).read_text())
    experiment = tracker.experiment(TUNING_EXPERIMENT)
    runs = tracker.client.search_runs([experiment], max_results=1000)
    by_role: dict[str, list] = {}  # type: ignore[type-arg]
    for run in runs:
        by_role.setdefault(run.data.tags.get("gaitgrf.role", ""), []).append(run)
    assert len(by_role["study"]) == 1  # the hold-out study, as before
    outer = {r.data.tags["gaitgrf.study"]: r for r in by_role["outer_study"]}
    assert sorted(outer) == summary["nested"]["studies"]
    for fold in record["folds"]:
        run = outer[fold["study"]]
        assert run.info.status == "FINISHED"
        assert run.data.tags["gaitgrf.holdout_study"] == "mlp__subject"
        assert run.data.tags["gaitgrf.outer_fold"] == str(fold["fold"])
        assert run.data.params["outer.test_subjects"] == ",".join(fold["test"])
        assert run.data.metrics["best_cv_val_loss"] == pytest.approx(fold["cv_val_loss"])
        children = [
            r for r in by_role["trial"] if r.data.tags.get("mlflow.parentRunId") == run.info.run_id
        ]
        assert len(children) == 1 and children[0].info.run_name == f"{fold['study']}#0"
    run_mlp_study(tmp_path, nested_config(outer=3), tracker, data=data)  # resumed, not added
    again = tracker.client.search_runs([experiment], "tags.`gaitgrf.role` = 'outer_study'")
    assert len(again) == 3
