"""External cohorts (`tune.external_cohorts`): test only, never tuned or refit on, reported per
cohort by `evaluate` (docs/evaluation.md, "Per cohort").

A synthetic two-cohort project: `synth` (10 subjects) is tuned on, `lab` (6 subjects) is external.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaitgrf import models
from gaitgrf.core.artifacts import SUMMARY_FILE, Artifacts
from gaitgrf.core.config import BudgetConfig, ConfigError, PathsConfig, TuneConfig, parse_params
from gaitgrf.core.errors import GaitGrfError, error_lines
from gaitgrf.pipeline.evaluate.metrics import sample_metrics
from gaitgrf.pipeline.evaluate.run import evaluate_studies, write_outputs
from gaitgrf.pipeline.tune.data import TuningData, check_subject_wise, tuning_data
from gaitgrf.pipeline.tune.study import TuningError, fingerprint
from gaitgrf.predictor import GrfPredictor
from gaitgrf.training.splits import (
    HoldOut,
    SplitError,
    UnknownCohortError,
    cohort_of,
    hold_out,
    sample_index,
    split_subjects,
)
from tests.sample_factory import make_cohorts, make_samples, run_mlp_study
from tests.support.projects import uncapped_budget

optuna.logging.set_verbosity(optuna.logging.WARNING)


def two_cohorts() -> tuple:  # type: ignore[type-arg]
    return make_cohorts(synth=10, lab=6)


def lab_positions(groups: np.ndarray) -> set[int]:
    return {i for i, g in enumerate(groups) if cohort_of(str(g)) == "lab"}


# --- the split ---------------------------------------------------------------------------------
@pytest.mark.parametrize("data", ["one", "two"])
def test_default_gives_todays_split_byte_for_byte(data: str) -> None:
    samples, table = make_samples(subjects=12) if data == "one" else two_cohorts()
    cfg = TuneConfig(folds=3, test_fraction=0.25, seed=4)
    # Today's split_subjects: the hold-out over every subject present in the samples.
    keys = table["cohort_id"] + "/" + table["subject_id"]
    today = hold_out(table[keys.isin(set(samples.groups))], cfg.test_fraction, cfg.seed)
    split = split_subjects(samples, table, cfg)
    assert split == today and split.external == ()
    assert json.dumps([split.tuning, split.test]) == json.dumps([today.tuning, today.test])
    data_ = tuning_data(samples, table, cfg)
    for (train, val), (today_train, today_val) in zip(
        data_.folds, _todays_folds(samples.groups, today, cfg), strict=True
    ):
        assert train.tobytes() == today_train.tobytes() and val.tobytes() == today_val.tobytes()


def _todays_folds(groups: np.ndarray, split: HoldOut, cfg: TuneConfig) -> list:  # type: ignore[type-arg]
    from gaitgrf.training.splits import group_kfold

    return [
        (sample_index(groups, tr), sample_index(groups, va))
        for tr, va in group_kfold(split.tuning, cfg.folds, cfg.seed)
    ]


def test_default_keeps_the_study_fingerprint() -> None:
    """No external cohort: the fingerprint is today's, so existing studies keep their trials."""
    cfg, budget = TuneConfig(), BudgetConfig()
    source = inspect.getsource(inspect.getmodule(models.get("mlp").search_space))  # type: ignore[arg-type]
    per_trial = {k: v for k, v in budget.model_dump().items() if k not in ("n_trials", "timeout_s")}
    today = {
        "data": "v1",
        "budget": per_trial,
        "folds": cfg.folds,
        "seed": cfg.seed,
        "test_fraction": cfg.test_fraction,
        "layout": cfg.layout,
        "space": hashlib.sha256(source.encode()).hexdigest(),
    }
    expected = hashlib.sha256(json.dumps(today, sort_keys=True).encode()).hexdigest()[:16]
    assert fingerprint("mlp", "v1", budget, cfg) == expected
    external = TuneConfig(external_cohorts=("lab",))
    assert fingerprint("mlp", "v1", budget, external) != expected


def test_external_cohort_is_test_only_and_the_rest_is_split_as_before() -> None:
    samples, table = two_cohorts()
    cfg = TuneConfig(folds=2, test_fraction=0.2, external_cohorts=("lab",))
    data = tuning_data(samples, table, cfg)
    split = data.split
    lab_keys = sorted(f"lab/S{i:02d}" for i in range(6))
    assert list(split.external) == lab_keys and split.external_cohorts == ("lab",)
    assert not {cohort_of(k) for k in split.tuning + split.test} - {"synth"}
    # The synth hold-out is the one a synth-only project draws (stratified test_fraction).
    synth = table[table["cohort_id"] == "synth"]
    assert (split.tuning, split.test) == tuple(
        getattr(hold_out(synth, 0.2, cfg.seed), f) for f in ("tuning", "test")
    )
    lab = lab_positions(samples.groups)
    assert lab == set(data.external_index.tolist()) and len(lab) == 60
    for train, val in data.folds:
        assert not lab & (set(train.tolist()) | set(val.tolist()))
    assert not lab & set(data.tuning_index.tolist())
    assert set(split.evaluated) == set(split.test) | set(lab_keys)


@settings(max_examples=20, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 9), min_size=2, max_size=3),
    picks=st.integers(1, 6),
    fraction=st.floats(0.1, 0.4),
    seed=st.integers(0, 1000),
)
def test_external_cohorts_never_reach_a_fold_for_random_projects(
    sizes: list[int], picks: int, fraction: float, seed: int
) -> None:
    names = [f"c{k}" for k in range(len(sizes))]
    external = tuple(n for k, n in enumerate(names) if picks >> k & 1)
    if not external or len(external) == len(names):
        external = names[:1]
    samples, table = make_cohorts(**dict(zip(names, sizes, strict=True)))
    internal = sum(n for name, n in zip(names, sizes, strict=True) if name not in external)
    cfg = TuneConfig(folds=2, test_fraction=fraction, seed=seed, external_cohorts=external)
    try:
        data = tuning_data(samples, table, cfg)
    except ValueError:  # too few internal subjects for a hold-out and two folds
        assert internal - max(1, min(internal - 1, round(fraction * internal))) < 2
        return
    groups = samples.groups
    out = {i for i, g in enumerate(groups) if cohort_of(str(g)) in external}
    assert out == set(data.external_index.tolist())
    for train, val in data.folds:
        assert not out & (set(train.tolist()) | set(val.tolist()))
    assert not out & set(data.tuning_index.tolist())
    assert not out & set(data.test_index.tolist())


def test_external_sample_in_a_fold_is_detected() -> None:
    samples, table = two_cohorts()
    data = tuning_data(samples, table, TuneConfig(folds=2, external_cohorts=("lab",)))
    train, val = data.folds[0]
    one_lab = data.external_index[:1]
    for folds in (
        ((np.concatenate([train, one_lab]), val),),
        ((train, np.concatenate([val, one_lab])),),
    ):
        leaky = TuningData(samples=samples, split=data.split, folds=folds)
        with pytest.raises(TuningError, match="both sides"):
            check_subject_wise(leaky)
    # By cohort, not only by the subjects listed as external: a lab subject the split does not
    # name (e.g. missing from the subjects table) still may not train.
    partial = HoldOut(data.split.tuning, data.split.test, external=("lab/S00",))
    other_lab = sample_index(samples.groups, ["lab/S05"])
    leaky = TuningData(
        samples=samples, split=partial, folds=((np.concatenate([train, other_lab]), val),)
    )
    with pytest.raises(TuningError, match=r"fold 0 training: samples of external cohort\(s\)"):
        check_subject_wise(leaky)


def test_external_cohort_in_tuning_subjects_is_refused() -> None:
    """The refit trains on the tuning subjects: an external cohort there cannot be built."""
    with pytest.raises(SplitError, match="both external and tuned on"):
        HoldOut(tuning=("lab/S00", "synth/S01"), test=("synth/S02",), external=("lab/S01",))


def test_unknown_external_cohort_fails_with_one_clear_line() -> None:
    samples, table = two_cohorts()
    cfg = TuneConfig(external_cohorts=("lab", "clinic-b"))
    with pytest.raises(UnknownCohortError) as info:
        split_subjects(samples, table, cfg)
    assert isinstance(info.value, GaitGrfError)
    message = str(info.value)
    assert "\n" not in message
    assert "clinic-b" in message and "cohorts present: lab, synth" in message
    assert "'lab'" not in message.split("(")[0]  # only the missing id is named as missing
    first = error_lines(info.value, "tune")[0]
    assert first.startswith("tune: tune.external_cohorts: cohort(s) clinic-b not in the data")


def test_every_cohort_external_is_refused() -> None:
    samples, table = two_cohorts()
    with pytest.raises(SplitError, match="none is left to tune on"):
        split_subjects(samples, table, TuneConfig(external_cohorts=("lab", "synth")))


@pytest.mark.parametrize(
    ("value", "match"),
    [(["Lab X"], "must match"), (["lab", "lab"], "more than once"), ("lab", "valid tuple")],
)
def test_bad_external_ids_are_refused_at_load(value: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_params({"tune": {"external_cohorts": value}})
    with pytest.raises(ConfigError, match="external_cohort: Extra inputs"):
        parse_params({"tune": {"external_cohort": ["lab"]}})


# --- tune + evaluate end to end ----------------------------------------------------------------
def _cfg() -> TuneConfig:
    return TuneConfig.with_budget(
        folds=2,
        test_fraction=0.2,
        external_cohorts=("lab",),
        budget=uncapped_budget(1, 1),
    )


def test_no_external_sample_is_trained_validated_or_refit_and_evaluate_reports_per_cohort(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gaitgrf.training.loop as loop

    samples, table = two_cohorts()
    lab = lab_positions(samples.groups)
    seen: list[tuple[set[int], set[int]]] = []
    real = loop.train_once

    def recording(samples_, arch, hp, train_idx, val_idx, **kw):  # type: ignore[no-untyped-def]
        seen.append((set(train_idx.tolist()), set([] if val_idx is None else val_idx.tolist())))
        return real(samples_, arch, hp, train_idx, val_idx, **kw)

    monkeypatch.setattr(loop, "train_once", recording)
    summary = run_mlp_study(tmp_path, _cfg(), data=(samples, table))
    assert len(seen) == 2 + 1  # two folds of the one trial, then the refit (no validation)
    assert seen[-1][1] == set()
    for train, val in seen:
        assert train and not train & lab and not val & lab
    assert summary["subjects"]["external"] == sorted(f"lab/S{i:02d}" for i in range(6))

    artifacts = Artifacts.from_paths(
        PathsConfig(tuned=tmp_path / "tuned", fused=tmp_path / "fused", reports=tmp_path / "rep")
    )
    samples.save(artifacts.fused_set("stance", "subject"))
    results, context = evaluate_studies(
        artifacts, table, _cfg(), ["mlp__subject"], log=lambda line: None
    )
    summary = write_outputs(results, artifacts, context, bootstrap=100, alpha=0.05)
    _check_outputs(artifacts, summary, samples, table)
    _check_gate_uses_internal_hold_out(artifacts, samples, table)


def _check_gate_uses_internal_hold_out(artifacts: Artifacts, samples, table) -> None:  # type: ignore[no-untyped-def]
    """Promotion scores the internal hold-out only, as without external cohorts."""
    from gaitgrf.pipeline.evaluate.metrics import component_metrics
    from gaitgrf.pipeline.promote import test_metrics

    predictor = GrfPredictor.load(artifacts.study_bundle("mlp__subject"))
    gate = test_metrics(predictor, artifacts, table, _cfg())
    idx = sample_index(samples.groups, split_subjects(samples, table, _cfg()).test)
    expected = component_metrics(
        samples.targets[idx], predictor.predict_arrays(samples.inputs[idx], samples.static[idx])
    )
    assert gate == pytest.approx(expected)
    assert not lab_positions(samples.groups) & set(idx.tolist())


def _check_outputs(artifacts: Artifacts, summary: dict, samples, table) -> None:  # type: ignore[no-untyped-def,type-arg]
    """Overall and per-cohort metrics equal a recomputation (summary.json; the headline
    DVC metrics and the per-cohort plot table agree); the report shows both cohorts."""
    split = split_subjects(samples, table, _cfg())
    predictor = GrfPredictor.load(artifacts.study_bundle("mlp__subject"))
    every = sample_index(samples.groups, split.evaluated)
    predicted = predictor.predict_arrays(samples.inputs[every], samples.static[every])
    overall = sample_metrics(samples.targets[every], predicted, stance=True)
    on_disk = json.loads((artifacts.evaluation_dir() / SUMMARY_FILE).read_text())
    assert on_disk == json.loads(json.dumps(summary))
    for key, value in on_disk["models"]["mlp__subject"].items():
        assert value == pytest.approx(overall[key], abs=1e-5), key
    cohorts = np.array([cohort_of(str(g)) for g in samples.groups[every]])
    assert set(on_disk["cohorts"]) == {"lab", "synth"}
    for name, external, subjects in (("lab", True, 6), ("synth", False, len(split.test))):
        entry = on_disk["cohorts"][name]
        assert entry["external"] is external and entry["subjects"] == subjects
        mask = cohorts == name
        alone = sample_metrics(samples.targets[every][mask], predicted[mask], stance=True)
        for key, value in entry["models"]["mlp__subject"].items():
            assert value == pytest.approx(alone[key], abs=1e-5), (name, key)
    assert on_disk["cohorts"]["lab"]["models"]["mlp__subject"]["rrmse_mean"] != pytest.approx(
        overall["rrmse_mean"]
    )
    headline = json.loads(artifacts.evaluation_metrics().read_text())
    plotted = pd.read_csv(artifacts.evaluation_dir() / "plots" / "cohorts.csv")
    for name in ("lab", "synth"):
        value = on_disk["cohorts"][name]["models"]["mlp__subject"]["rrmse_mean"]
        assert headline["cohorts"][name]["best_rrmse_mean"] == pytest.approx(value)
        row = plotted[plotted["cohort"] == name].iloc[0]
        assert row["model"] == f"{name}: mlp/subject"
        assert row["rrmse_mean"] == pytest.approx(value, abs=1e-5)
    report = artifacts.evaluation_report().read_text()
    assert "## Per cohort" in report
    assert "| architecture | condition | lab (external) | synth |" in report
    assert "### lab (external): 6 subjects, 60 samples" in report
    assert f"### synth: {len(split.test)} subjects" in report
    assert "External cohort(s) `lab`" in report
    long = pd.read_csv(artifacts.evaluation_dir() / "metrics.csv")
    pooled = long[(long["subject"] == "pooled") & (long["metric"] == "rrmse_mean")]
    assert sorted(pooled["cohort"]) == ["all", "lab", "synth"]
