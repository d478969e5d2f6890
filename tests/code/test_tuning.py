"""Optuna studies (gaitgrf.pipeline.tune.run): subject-wise folds, resumable studies, MLflow runs.

Real Optuna (SQLite storage) and real MLflow (SQLite tracking store) in a temporary folder,
on a tiny learnable sample set, so every study here takes seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaitgrf.core.artifacts import SUMMARY_FILE
from gaitgrf.core.config import BudgetConfig, TuneConfig
from gaitgrf.pipeline.tune.data import check_subject_wise, subsample, tuning_data
from gaitgrf.pipeline.tune.study import TuningError
from gaitgrf.predictor import GrfPredictor
from gaitgrf.tracking.client import TUNING_EXPERIMENT, Tracker, sqlite_uri
from tests.sample_factory import make_samples, run_mlp_study
from tests.support.projects import uncapped_budget

optuna.logging.set_verbosity(optuna.logging.WARNING)


def config(n_trials: int = 2, epochs: int = 2, **budget: object) -> TuneConfig:
    return TuneConfig.with_budget(
        folds=2,
        test_fraction=0.25,
        budget=uncapped_budget(n_trials, epochs, **budget),
    )


@settings(max_examples=25, deadline=None)
@given(
    subjects=st.integers(6, 20),
    folds=st.integers(2, 4),
    fraction=st.floats(0.1, 0.5),
    seed=st.integers(0, 10_000),
)
def test_no_subject_on_both_sides_of_any_split(
    subjects: int, folds: int, fraction: float, seed: int
) -> None:
    samples, table = make_samples(subjects=subjects, per_subject=2, static=False)
    cfg = TuneConfig(folds=folds, test_fraction=fraction, seed=seed)
    test_count = max(1, min(subjects - 1, round(fraction * subjects)))
    if subjects - test_count < folds:
        with pytest.raises(ValueError):
            tuning_data(samples, table, cfg)
        return
    data = tuning_data(samples, table, cfg)
    groups = samples.groups
    test = set(groups[data.test_index])
    assert test == set(data.split.test)
    validated: set[str] = set()
    for train, val in data.folds:
        assert not set(groups[train]) & set(groups[val])
        assert not (set(groups[train]) | set(groups[val])) & test
        validated |= set(groups[val])
    assert validated == set(data.split.tuning)  # every tuning subject validates once
    check_subject_wise(data)


def test_leak_is_detected() -> None:
    samples, table = make_samples(subjects=8, per_subject=2, static=False)
    data = tuning_data(samples, table, TuneConfig(folds=2, test_fraction=0.25))
    train, val = data.folds[0]
    leaky = type(data)(
        samples=samples, split=data.split, folds=((np.concatenate([train, data.test_index]), val),)
    )
    with pytest.raises(TuningError, match="both sides"):
        check_subject_wise(leaky)


def test_subsample_draws_from_the_index_only() -> None:
    index = np.arange(10, 60)
    out = subsample(index, 20, seed=3)
    assert out.size == 20 and set(out) <= set(index) and np.all(np.diff(out) > 0)
    assert subsample(index, None, 0) is index and subsample(index, 100, 0) is index


def _study(tmp: Path, cfg: TuneConfig, tracker: Tracker | None = None) -> dict:  # type: ignore[type-arg]
    return run_mlp_study(tmp, cfg, tracker)


def _trials(tmp: Path, name: str = "mlp__subject") -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=sqlite_uri(tmp / "optuna.db"))
    return study.get_trials()


def test_rerun_resumes_and_keeps_completed_trials(tmp_path: Path) -> None:
    summary = _study(tmp_path, config(n_trials=2))
    first = _trials(tmp_path)
    assert [t.state.name for t in first] == ["COMPLETE", "COMPLETE"]
    assert summary["trials"] == {"COMPLETE": 2}
    done_before = {t.number: (t.params, t.value) for t in first}
    summary = _study(tmp_path, config(n_trials=3))
    after = _trials(tmp_path)
    for number, (params, value) in done_before.items():
        assert (after[number].params, after[number].value) == (params, value)
    counted = [t for t in after if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(counted) == 3 and summary["trials"] == {"COMPLETE": 3}
    storage = sqlite_uri(tmp_path / "optuna.db")
    names = {s.study_name for s in optuna.get_all_study_summaries(storage=storage)}
    assert not [n for n in names if "@" in n]  # a larger n_trials resumes, never archives
    # Nothing left to run: a third call runs no trial, only the refit.
    _study(tmp_path, config(n_trials=3))
    assert len(_trials(tmp_path)) == len(after)


def test_smaller_n_trials_gives_the_smaller_studys_result(tmp_path: Path) -> None:
    """A study that ran 3 trials, asked again for 2
    (`dvc exp run -S tune.profiles.smoke.budget.n_trials=2`), reports the result of its first
    2: what a fresh 2-trial study gives, not the 3-trial one (issue 17). Its third trial is
    kept in the storage, unused, and the log says so."""
    fresh = _study(tmp_path / "fresh", config(n_trials=2))
    _study(tmp_path / "long", config(n_trials=3))
    lines: list[str] = []
    again = run_mlp_study(tmp_path / "long", config(n_trials=2), log=lines.append)
    assert again["trials"] == fresh["trials"] == {"COMPLETE": 2}
    assert again["trials_stored"] == {"COMPLETE": 3}
    assert again["best_trial"] == fresh["best_trial"]
    assert again["best_params"] == fresh["best_params"]
    assert again["cv_val_loss"] == pytest.approx(fresh["cv_val_loss"])
    assert again["refit"]["train_loss"] == pytest.approx(fresh["refit"]["train_loss"])
    assert len(_trials(tmp_path / "long")) == 3  # not archived, not deleted
    said = "\n".join(lines)
    assert "0 to run" in said
    assert "holds 3 finished trials, more than n_trials = 2" in said
    assert "that of its first 2" in said


def test_changed_budget_archives_old_trials(tmp_path: Path) -> None:
    _study(tmp_path, config(n_trials=2, epochs=2))
    _study(tmp_path, config(n_trials=1, epochs=3))
    names = {
        s.study_name for s in optuna.get_all_study_summaries(sqlite_uri(tmp_path / "optuna.db"))
    }
    archived = [n for n in names if n.startswith("mlp__subject@")]
    assert len(archived) == 1
    assert len(_trials(tmp_path, archived[0])) == 2  # kept, not deleted
    assert len(_trials(tmp_path)) == 1


def test_trials_name_their_objective_and_link_their_mlflow_runs(tmp_path: Path) -> None:
    """The study's one value is named like the MLflow metric, and each trial records the id of
    its MLflow child run (docs/tuning.md, "MLflow layout")."""
    tracker = Tracker(sqlite_uri(tmp_path / "mlflow.db"), tmp_path / "artifacts")
    _study(tmp_path, config(n_trials=2, epochs=1), tracker)
    study = optuna.load_study(study_name="mlp__subject", storage=sqlite_uri(tmp_path / "optuna.db"))
    assert study.metric_names == ["cv_val_loss"]
    assert ("value", "cv_val_loss") in study.trials_dataframe(multi_index=True).columns
    trials = study.get_trials()
    assert len(trials) == 2
    for trial in trials:
        run = tracker.client.get_run(trial.user_attrs["mlflow_run_id"])
        assert run.data.tags["gaitgrf.role"] == "trial"
        assert run.data.tags["gaitgrf.trial"] == str(trial.number)
        assert run.data.metrics["cv_val_loss"] == pytest.approx(trial.value)


def test_study_tracks_trials_and_logs_a_loadable_model(tmp_path: Path) -> None:
    tracker = Tracker(sqlite_uri(tmp_path / "mlflow.db"), tmp_path / "artifacts")
    summary = _study(tmp_path, config(n_trials=2), tracker)
    ml = summary["mlflow"]
    client = tracker.client
    exp = client.get_experiment_by_name(TUNING_EXPERIMENT)
    runs = client.search_runs([exp.experiment_id])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == ml["parent_run_id"]]
    roles = sorted(r.data.tags["gaitgrf.role"] for r in children)
    assert roles == ["refit", "trial", "trial"]
    # The study's parent run names the data it tunes on (an MLflow dataset, DVC's hash).
    parent = client.get_run(ml["parent_run_id"])
    (data,) = parent.inputs.dataset_inputs
    assert data.dataset.name == "fused/stance/subject" and data.dataset.digest == "test-v1"
    assert [(t.key, t.value) for t in data.tags] == [("mlflow.data.context", "tuning")]
    trial_run = next(r for r in children if r.data.tags["gaitgrf.role"] == "trial")
    assert trial_run.data.tags["gaitgrf.data_version"] == "test-v1"
    assert trial_run.data.tags["gaitgrf.git_commit"] == "abc"
    assert "lr" in trial_run.data.params
    # One metric key per fold, each over its own epochs: no sawtooth of folds end to end.
    run_id, metrics = trial_run.info.run_id, trial_run.data.metrics
    assert "val_loss" not in metrics and "train_loss" not in metrics
    for fold in (0, 1):  # 2 folds x 2 epochs (no early stop at 2 epochs)
        for name in ("val_loss", "train_loss"):
            history = client.get_metric_history(run_id, f"fold{fold}/{name}")
            assert [m.step for m in history] == [0, 1], (fold, name)
        best = min(m.value for m in client.get_metric_history(run_id, f"fold{fold}/val_loss"))
        assert metrics[f"fold{fold}/best_val_loss"] == pytest.approx(best)
    # The trial's score stays the mean over the folds.
    mean = np.mean([metrics["fold0/best_val_loss"], metrics["fold1/best_val_loss"]])
    assert metrics["cv_val_loss"] == pytest.approx(mean)
    # The logged pyfunc model predicts the same forces as the saved bundle.
    import mlflow.pyfunc

    from gaitgrf.predictor import frame_from_arrays
    from gaitgrf.tracking.client import fluent_uris

    with fluent_uris(tracker.tracking_uri):  # the model lives in this test's own store
        model = mlflow.pyfunc.load_model(ml["model_uri"])
    samples, _ = make_samples()
    frame = frame_from_arrays(
        samples.inputs[:3], samples.static[:3], samples.channels, samples.static_names
    )
    out = model.predict(frame)
    bundle = GrfPredictor.load(tmp_path / "tuned" / "mlp__subject" / "model")
    direct = bundle.predict_arrays(samples.inputs[:3], samples.static[:3])
    np.testing.assert_allclose(out["vertical"].to_numpy().reshape(3, -1), direct[:, 0], rtol=1e-5)
    saved = json.loads((tmp_path / "tuned" / "mlp__subject" / SUMMARY_FILE).read_text())
    assert saved["best_trial"] in (0, 1) and not set(saved["subjects"]["test"]) & set(
        saved["subjects"]["tuning"]
    )


def test_only_an_opt_in_wall_clock_limit_cuts_a_study_and_it_says_so(tmp_path: Path) -> None:
    """Default budgets count trials; a timeout that stops a study early is recorded."""
    from gaitgrf.pipeline.evaluate.report import budget_lines

    assert BudgetConfig().timeout_s is None
    full = _study(tmp_path / "full", config(n_trials=2))
    assert full["timeout_cut"] is False
    cut = _study(tmp_path / "cut", config(n_trials=3, timeout_s=0.05))
    assert sum(cut["trials"].values()) < 3
    assert cut["timeout_cut"] is True

    class Result:
        def __init__(self, study: str, summary: dict) -> None:  # type: ignore[type-arg]
            self.study, self.summary = study, summary

    lines = budget_lines([Result("mlp__base", full), Result("mlp__subject", cut)])  # type: ignore[list-item]
    text = "\n".join(lines)
    assert "mlp__base 2/2" in text
    assert "stopped 1 study before the trial budget: mlp__subject (1 of 3 trials)" in text
    assert "Wall-clock" not in "\n".join(budget_lines([Result("mlp__base", full)]))  # type: ignore[list-item]


def test_tune_stage_imports_no_scipy_signal() -> None:
    """A tune stage process never filters: scipy.signal (~0.5-1.5 s of its imports, measured by
    benchmarks/orchestration.py) must stay out of what it imports to train and log a study."""
    code = (
        "import sys, stages.tune, gaitgrf.pipeline.tune.run, gaitgrf.training.loop, "
        "gaitgrf.tracking.client, gaitgrf.predictor; sys.exit('scipy.signal' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
