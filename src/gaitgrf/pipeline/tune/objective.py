"""The trials of a study: the cross-validated objective and the loop that asks for trials.

A trial trains on the training subjects of each GroupKFold fold and is scored on the fold's
validation subjects; its value is the mean best validation loss. Every epoch goes to the pruner
(which may stop the trial) and to the trial's MLflow child run. `optimize` lets any number of
processes share a study's budget (`TrialBudget`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gaitgrf import models
from gaitgrf.core.config import BudgetConfig, TuneConfig
from gaitgrf.pipeline.tune.data import TuningData, subsample
from gaitgrf.pipeline.tune.study import (
    OBJECTIVE_METRIC,
    POLL_S,
    RUN_ATTR,
    Log,
    SurplusTrial,
    TrialBudget,
    study_name,
)

if TYPE_CHECKING:
    import optuna

    from gaitgrf.tracking.client import Tracker
    from gaitgrf.training.loop import EpochResult


@dataclass
class StudyContext:
    arch: str
    condition: str
    data: TuningData
    budget: BudgetConfig
    cfg: TuneConfig
    fixed_hp: dict[str, Any]
    tracker: Tracker | None
    parent_run: str | None
    tags: dict[str, str]
    log: Log
    started: float = field(default_factory=time.perf_counter)
    #: The shared budget; None: the trial runs unconditionally.
    budget_slots: TrialBudget | None = None
    #: Trials this process asked for but did not run (SurplusTrial).
    surplus: int = 0
    #: progress(done, total, what) before each trial: the study's trials done of its budget.
    progress: Callable[[int, int, str], None] | None = None


def fold_metric(fold: int, name: str) -> str:
    """The MLflow key of metric `name` in cross-validation fold `fold`: `fold0/val_loss`.

    The `/` groups the folds' charts in the MLflow UI (one section per fold prefix)."""
    return f"fold{fold}/{name}"


def objective(trial: optuna.Trial, ctx: StudyContext) -> float:
    """Mean best validation loss over the folds; reports every epoch to the pruner and MLflow."""
    import optuna

    _claim_slot(trial, ctx)
    arch = models.get(ctx.arch)
    hp = {**arch.search_space(trial), **ctx.fixed_hp}
    budget = ctx.budget
    folds = ctx.data.folds[: budget.folds_used or len(ctx.data.folds)]
    run = _start_trial_run(trial, ctx, hp)
    start = time.perf_counter()
    scores: list[float] = []
    best_epochs: list[int] = []
    status = "FAILED"
    try:
        _cross_validate(trial, ctx, hp, folds, run, scores, best_epochs)
        status = "FINISHED"
    except optuna.TrialPruned:
        status = "KILLED"
        raise
    finally:
        _finish_trial(trial, ctx, run, status, scores, time.perf_counter() - start)
    trial.set_user_attr("best_epochs", best_epochs)
    trial.set_user_attr("fold_scores", scores)
    return float(np.mean(scores))


def _claim_slot(trial: optuna.Trial, ctx: StudyContext) -> None:
    """Raise SurplusTrial when other processes already hold the rest of the study's budget."""
    if ctx.budget_slots is not None and not ctx.budget_slots.claim(trial):
        ctx.surplus += 1
        ctx.log(
            f"{study_name(ctx.arch, ctx.condition)} trial {trial.number}: not run, "
            "the rest of the budget is held by other processes"
        )
        raise SurplusTrial(f"trial {trial.number}: budget taken")


def _start_trial_run(trial: optuna.Trial, ctx: StudyContext, hp: dict[str, Any]) -> str | None:
    """The trial's MLflow child run under the study's parent run (None without a tracker),
    its id recorded on the trial (RUN_ATTR) so the Optuna side links to the MLflow side."""
    from gaitgrf.tracking.client import TUNING_EXPERIMENT

    if ctx.tracker is None:
        return None
    run = ctx.tracker.start_run(
        TUNING_EXPERIMENT,
        f"{ctx.tags.get('gaitgrf.study', study_name(ctx.arch, ctx.condition))}#{trial.number}",
        {**ctx.tags, "gaitgrf.trial": str(trial.number)},
        parent=ctx.parent_run,
    )
    ctx.tracker.log_params(run, hp)
    trial.set_user_attr(RUN_ATTR, run)
    return run


def _epoch_reporter(
    trial: optuna.Trial, ctx: StudyContext, run: str | None, fold: int
) -> Callable[[EpochResult], None]:
    """Per epoch of `fold`: losses to MLflow, validation loss to the pruner (which may prune).

    MLflow gets one key per fold (`fold<k>/train_loss`, `fold<k>/val_loss`, step = epoch): one
    key over all folds drew the folds end to end as one sawtooth line. The pruner needs one
    increasing step over the whole trial, so it keeps step = fold x epochs + epoch.
    """
    import optuna

    budget = ctx.budget

    def on_epoch(epoch: EpochResult) -> None:
        step = fold * budget.epochs + epoch.epoch
        if ctx.tracker is not None and run is not None:
            metrics = {fold_metric(fold, "train_loss"): epoch.train_loss}
            if epoch.val_loss is not None:
                metrics[fold_metric(fold, "val_loss")] = epoch.val_loss
            ctx.tracker.log_metrics(run, metrics, step=epoch.epoch)
        if epoch.val_loss is not None:
            trial.report(epoch.val_loss, step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"epoch {epoch.epoch} of fold {fold}")

    return on_epoch


def _cross_validate(
    trial: optuna.Trial,
    ctx: StudyContext,
    hp: dict[str, Any],
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    run: str | None,
    scores: list[float],
    best_epochs: list[int],
) -> None:
    """Train and score every fold, appending to `scores`/`best_epochs` as each one finishes."""
    import optuna

    from gaitgrf.training.loop import train_once

    budget = ctx.budget
    for k, (train_idx, val_idx) in enumerate(folds):
        seed = ctx.cfg.seed + 1000 * k + trial.number
        trained = train_once(
            ctx.data.samples,
            ctx.arch,
            hp,
            subsample(train_idx, budget.max_train_samples, seed),
            subsample(val_idx, budget.max_val_samples, seed + 1),
            epochs=budget.epochs,
            patience=budget.patience,
            seed=seed,
            threads=ctx.cfg.threads,
            on_epoch=_epoch_reporter(trial, ctx, run, k),
        )
        if not np.isfinite(trained.result.best_val_loss):
            raise optuna.TrialPruned(f"non-finite validation loss in fold {k}")
        scores.append(trained.result.best_val_loss)
        best_epochs.append(trained.result.best_epoch)
        if ctx.tracker is not None and run is not None:  # the fold's score, as it counts
            ctx.tracker.log_metrics(
                run, {fold_metric(k, "best_val_loss"): trained.result.best_val_loss}
            )


def _finish_trial(
    trial: optuna.Trial,
    ctx: StudyContext,
    run: str | None,
    status: str,
    scores: list[float],
    seconds: float,
) -> None:
    """Close the trial's MLflow run with its final metrics and log one line of its outcome."""
    if ctx.tracker is not None and run is not None:
        final = {"seconds": seconds, "pruned": float(status == "KILLED")}
        if scores:
            final["folds_done"] = float(len(scores))
        if status == "FINISHED":
            final[OBJECTIVE_METRIC] = float(np.mean(scores))
        ctx.tracker.log_metrics(run, final)
        ctx.tracker.end_run(run, status)
    outcome = {"FINISHED": "complete", "KILLED": "pruned"}.get(status, "failed")
    ctx.log(
        f"{study_name(ctx.arch, ctx.condition)} trial {trial.number}: {outcome}"
        + (f", cv loss {np.mean(scores):.4f}" if status == "FINISHED" else "")
        + f" ({seconds:.1f} s)"
    )


class _DropSurplus(logging.Filter):
    """Optuna logs every FAIL trial with a traceback; a surplus trial is not a failure."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "SurplusTrial" not in record.getMessage()


def _show_progress(ctx: StudyContext, name: str, done: int, total: int, running: int) -> None:
    """The study's trials done of its budget, and what comes next (a trial, or a wait)."""
    if ctx.progress is None:
        return
    if done >= total:
        what = "budget met"
    elif done + running >= total:
        what = f"waiting for {running} trial(s) running elsewhere"
    else:
        what = f"trial {done + running + 1} of {total}"
    ctx.progress(min(done, total), total, f"{name}: {what}")  # a study may hold more


def optimize(
    study: optuna.Study, ctx: StudyContext, timeout_s: float | None, *, wait: bool = True
) -> int:
    """Run trials until the study's budget is met, with any number of processes on the study.

    Before asking for a trial: stop when COMPLETE + PRUNED reach `n_trials`; wait (polling,
    failing trials whose heartbeat stopped) while RUNNING trials elsewhere hold the rest, or
    return at once when `wait` is False (a worker moves on to its next study).
    Inside the trial, `TrialBudget.claim` settles the race between processes that asked at
    the same moment. No new trial starts after `timeout_s` (this process's clock). Returns
    the number of trials this process ran.
    """
    import random
    import warnings

    import optuna

    assert ctx.budget_slots is not None
    slots = ctx.budget_slots
    name = study_name(ctx.arch, ctx.condition)
    started = time.monotonic()
    ran = 0
    waiting = False
    quiet = _DropSurplus()
    optuna_log = logging.getLogger("optuna.study._optimize")
    optuna_log.addFilter(quiet)
    try:
        while timeout_s is None or time.monotonic() - started < timeout_s:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
            done, running = slots.read()
            _show_progress(ctx, name, done, slots.n_trials, len(running))
            if done >= slots.n_trials:
                break
            if done + len(running) >= slots.n_trials:
                if not wait:
                    break
                if not waiting:
                    ctx.log(f"{name}: waiting for {len(running)} trial(s) running elsewhere")
                    waiting = True
                time.sleep(POLL_S)
                continue
            waiting = False
            surplus = ctx.surplus
            study.optimize(
                lambda t: objective(t, ctx),
                n_trials=1,
                catch=(SurplusTrial,),
                gc_after_trial=True,
            )
            if ctx.surplus > surplus:  # lost a race for the last slot(s): back off, look again
                time.sleep(random.uniform(0.1, POLL_S))
            else:
                ran += 1
    finally:
        optuna_log.removeFilter(quiet)
    return ran
