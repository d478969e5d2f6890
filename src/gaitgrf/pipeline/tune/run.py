"""Optuna studies: one per (architecture, condition), resumable, tracked in MLflow (docs/tuning.md).

A study is named `<arch>__<condition>` and lives in persistent storage (SQLite by default, any
Optuna RDB URL such as PostgreSQL). Re-running resumes it: only the trials still missing from the
budget run, and completed trials are never lost. A trial killed with its process stays RUNNING
until its heartbeat expires; Optuna then marks it FAIL and it does not count.

The study also records a *fingerprint* of what its trials mean (data version, budget, search
space source). When that changes (new data, new budget), old trials are not comparable any more:
the study is archived under `<name>@<timestamp>` (kept, never deleted) and a new one starts.

Subject-wise throughout: the held-out test subjects never enter a study; each trial trains on
the training subjects of a GroupKFold fold (normalisation fitted there) and is scored on the
fold's validation subjects. The best trial is then refit on all tuning subjects.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from gaitgrf import models
from gaitgrf.core.config import BudgetConfig, PrunerConfig, TuneConfig
from gaitgrf.core.errors import GaitGrfError
from gaitgrf.core.samples import SampleSet
from gaitgrf.training.normalisation import Normaliser
from gaitgrf.training.splits import HoldOut, group_kfold, hold_out, sample_index

if TYPE_CHECKING:
    import optuna
    from torch import nn

    from gaitgrf.tracking import Tracker
    from gaitgrf.training.loop import EpochResult, FitResult

SUMMARY_FILE: Final = "summary.json"
BUNDLE_DIR: Final = "model"
#: Seconds between trial heartbeats; a trial silent for GRACE_S is taken as dead (FAIL).
HEARTBEAT_S: Final = 10
GRACE_S: Final = 30
#: Seconds a process waits before looking again at a study whose remaining trials run elsewhere.
POLL_S: Final = 1.0
#: A study lock (`study_lock`) held longer than this is taken as left by a dead process.
LOCK_STALE_S: Final = 60.0
#: Trial user attribute: the trial holds one slot of its study's budget (`TrialBudget`).
CLAIM_ATTR: Final = "gaitgrf.claim"

Log = Callable[[str], None]


class TuningError(GaitGrfError):
    hint = "see docs/tuning.md; `dvc repro` re-runs a study and resumes it where it stopped"


def study_name(arch: str, condition: str) -> str:
    return f"{arch}__{condition}"


def study_names(architectures: Iterable[str], conditions: Iterable[str]) -> list[str]:
    """Every study of the comparison, architecture-major (the order of the report)."""
    conds = list(conditions)
    return [study_name(arch, condition) for arch in architectures for condition in conds]


def state_counts(study: optuna.Study) -> dict[str, int]:
    """Trials of `study` by state name (COMPLETE, PRUNED, FAIL, RUNNING...)."""
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    return {s: states.count(s) for s in sorted(set(states))}


# --- data and splits ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TuningData:
    samples: SampleSet
    split: HoldOut
    #: Sample positions of each fold: (train, validation), over tuning subjects only.
    folds: tuple[tuple[np.ndarray, np.ndarray], ...]

    @property
    def tuning_index(self) -> np.ndarray:
        return sample_index(self.samples.groups, self.split.tuning)

    @property
    def test_index(self) -> np.ndarray:
        return sample_index(self.samples.groups, self.split.test)


def split_subjects(samples: SampleSet, subjects: pd.DataFrame, cfg: TuneConfig) -> HoldOut:
    """The fixed hold-out: same subjects for every study and for evaluation (same seed)."""
    keys = subjects["cohort_id"].astype(str) + "/" + subjects["subject_id"].astype(str)
    present = subjects[keys.isin(set(np.unique(samples.groups)))]
    return hold_out(present, cfg.test_fraction, cfg.seed)


def tuning_data(samples: SampleSet, subjects: pd.DataFrame, cfg: TuneConfig) -> TuningData:
    split = split_subjects(samples, subjects, cfg)
    groups = samples.groups
    folds = tuple(
        (sample_index(groups, train), sample_index(groups, val))
        for train, val in group_kfold(split.tuning, cfg.folds, cfg.seed)
    )
    data = TuningData(samples=samples, split=split, folds=folds)
    check_subject_wise(data)
    return data


def check_subject_wise(data: TuningData) -> None:
    """Raise if any subject is on both sides of the hold-out or of any fold."""
    groups = data.samples.groups
    test = set(groups[data.test_index])
    for k, (train, val) in enumerate(data.folds):
        train_s, val_s = set(groups[train]), set(groups[val])
        leaks = (train_s & val_s) | (train_s & test) | (val_s & test)
        if leaks:
            raise TuningError(f"fold {k}: subjects on both sides of a split: {sorted(leaks)}")


def subsample(index: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """At most `limit` positions of `index`, drawn without replacement, in ascending order."""
    if limit is None or index.size <= limit:
        return index
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(index, size=limit, replace=False))


# --- one training run --------------------------------------------------------------------------
@dataclass
class Trained:
    network: nn.Module
    normaliser: Normaliser
    result: FitResult


def train_once(
    samples: SampleSet,
    arch: str,
    hp: Mapping[str, Any],
    train_idx: np.ndarray,
    val_idx: np.ndarray | None,
    *,
    epochs: int,
    patience: int,
    seed: int,
    threads: int | None,
    on_epoch: Callable[[EpochResult], None] | None = None,
) -> Trained:
    """Normalise on `train_idx` only, build `arch` with `hp`, fit; the one path for all training."""
    import torch

    from gaitgrf.models.base import ModelSpec
    from gaitgrf.training.loop import FitConfig, dataset, fit

    normaliser = Normaliser.fit(samples, train_idx)
    x_tr, s_tr = normaliser.transform(samples.take(train_idx))
    spec = ModelSpec(channels=x_tr.shape[1], length=x_tr.shape[2], static=s_tr.shape[1])
    torch.manual_seed(seed)
    network = models.build(arch, spec, hp)
    val = None
    if val_idx is not None:
        x_va, s_va = normaliser.transform(samples.take(val_idx))
        val = dataset(x_va, s_va, samples.targets[val_idx])
    cfg = FitConfig(
        epochs=epochs,
        batch_size=int(hp["batch_size"]),
        lr=float(hp["lr"]),
        weight_decay=float(hp["weight_decay"]),
        patience=patience,
        seed=seed,
        threads=threads,
    )
    result = fit(network, dataset(x_tr, s_tr, samples.targets[train_idx]), val, cfg, on_epoch)
    return Trained(network=network, normaliser=normaliser, result=result)


# --- studies -----------------------------------------------------------------------------------
class _Recorder:
    """A stand-in trial that records parameter names (first choice / low bound as the value)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int:
        self.names.append(name)
        return low

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        self.names.append(name)
        return low

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        self.names.append(name)
        return next(iter(choices))


def space_names(arch: str) -> list[str]:
    recorder = _Recorder()
    models.get(arch).search_space(recorder)
    return recorder.names


#: Budget fields that say how many trials run, not what one trial does: changing them resumes
#: the study (more trials, or a longer wall-time limit) instead of starting it again.
_HOW_MANY: Final = ("n_trials", "timeout_s")


def fingerprint(arch: str, data_version: str, budget: BudgetConfig, cfg: TuneConfig) -> str:
    """What makes two trials comparable: data, per-trial budget, folds/seed, search-space code."""
    module = inspect.getmodule(models.get(arch).search_space)
    source = inspect.getsource(module) if module is not None else ""
    per_trial = {k: v for k, v in budget.model_dump().items() if k not in _HOW_MANY}
    payload = json.dumps(
        {
            "data": data_version,
            "budget": per_trial,
            "folds": cfg.folds,
            "seed": cfg.seed,
            "test_fraction": cfg.test_fraction,
            "layout": cfg.layout,
            "space": hashlib.sha256(source.encode()).hexdigest(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def open_storage(url: str) -> optuna.storages.BaseStorage:
    import warnings

    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    for attempt in range(5):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.9
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S
                )
        except SQLAlchemyError:
            # Workers starting together on an empty PostgreSQL database race to create the
            # tables; the losers fail once and find them made.
            if attempt == 4:
                raise
            time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")


def open_study(
    storage: optuna.storages.BaseStorage,
    name: str,
    seed: int,
    pruner_cfg: PrunerConfig,
    print_: str,
    log: Log,
) -> optuna.Study:
    """Load or create the study; archive it first when its fingerprint no longer matches."""
    return join_study(storage, name, seed, pruner_cfg, print_, log)[0]


def join_study(
    storage: optuna.storages.BaseStorage,
    name: str,
    seed: int,
    pruner_cfg: PrunerConfig,
    print_: str,
    log: Log,
) -> tuple[optuna.Study, bool]:
    """`open_study`, safe for many processes at once: returns (study, created by this call).

    Call it under `study_lock(storage, name)` when other processes may open the same study:
    then exactly one of them creates (or archives and re-creates) it.
    """
    import optuna

    sampler = optuna.samplers.TPESampler(seed=(seed * 7919 + zlib.crc32(name.encode())) % 2**31)
    pruner = optuna.pruners.MedianPruner(
        n_startup_trials=pruner_cfg.startup_trials, n_warmup_steps=pruner_cfg.warmup_epochs
    )
    # Not `get_all_study_summaries`: it reads every study, and races with other processes
    # creating and deleting theirs (`study_lock`).
    try:
        found = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        found = None
    if found is not None:
        study = found
        old = study.user_attrs.get("fingerprint")
        if old == print_:
            return study, False
        archive = f"{name}@{time.strftime('%Y%m%dT%H%M%S')}"
        optuna.copy_study(
            from_study_name=name,
            from_storage=storage,
            to_storage=storage,
            to_study_name=archive,
        )
        optuna.delete_study(study_name=name, storage=storage)
        log(f"{name}: data or budget changed; previous trials archived as study {archive}")
    study = optuna.create_study(
        study_name=name, storage=storage, sampler=sampler, pruner=pruner, direction="minimize"
    )
    study.set_user_attr("fingerprint", print_)
    return study, True


@contextmanager
def study_lock(storage: optuna.storages.BaseStorage, name: str, log: Log) -> Iterator[None]:
    """A mutex over processes and machines, held while a process opens study `name`.

    The lock is an empty Optuna study `<name>#lock`: creating a study is atomic in the
    database (unique name), so exactly one process holds it. A lock older than LOCK_STALE_S
    (its holder died) is broken.
    """
    import optuna

    lock = f"{name}#lock"
    waited = time.monotonic()
    while True:
        try:
            optuna.create_study(study_name=lock, storage=storage)
            break
        except optuna.exceptions.DuplicatedStudyError:
            if time.monotonic() - waited > LOCK_STALE_S:
                log(f"{name}: breaking a lock held for over {LOCK_STALE_S:.0f} s")
                with suppress(KeyError):
                    optuna.delete_study(study_name=lock, storage=storage)
                waited = time.monotonic()
            time.sleep(0.2)
    try:
        yield
    finally:
        with suppress(KeyError):
            optuna.delete_study(study_name=lock, storage=storage)


class SurplusTrial(Exception):
    """A trial asked for once other processes held the rest of the budget; it ends FAIL."""


@dataclass(frozen=True)
class TrialBudget:
    """The budget of one study shared by every process working on it (docs/tuning.md).

    A trial *claims* a slot (user attribute CLAIM_ATTR, written before it reads) and runs only
    if the finished trials (COMPLETE + PRUNED) plus the other claimed RUNNING trials leave a
    slot free. Of two processes claiming at once, the later reader sees the earlier claim, so
    the counted trials never exceed `n_trials`. Reads go to the database, never a cache.
    """

    storage: optuna.storages.BaseStorage
    study_id: int
    n_trials: int

    def read(self) -> tuple[int, list[optuna.trial.FrozenTrial]]:
        """(finished trials that count, RUNNING trials)."""
        from optuna.trial import TrialState

        trials = self.storage.get_all_trials(
            self.study_id,
            deepcopy=False,
            states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING),
        )
        running = [t for t in trials if t.state == TrialState.RUNNING]
        return len(trials) - len(running), running

    def claim(self, trial: optuna.Trial) -> bool:
        trial.set_user_attr(CLAIM_ATTR, True)
        done, running = self.read()
        # `_trial_id` (the row's key) identifies a trial; numbers are derived from it.
        own = trial._trial_id
        others = sum(1 for t in running if t._trial_id != own and t.user_attrs.get(CLAIM_ATTR))
        if done + others < self.n_trials:
            return True
        trial.set_user_attr(CLAIM_ATTR, False)
        return False


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


def objective(trial: optuna.Trial, ctx: StudyContext) -> float:
    """Mean best validation loss over the folds; reports every epoch to the pruner and MLflow."""
    import optuna

    from gaitgrf.tracking import TUNING_EXPERIMENT

    if ctx.budget_slots is not None and not ctx.budget_slots.claim(trial):
        ctx.surplus += 1
        ctx.log(
            f"{study_name(ctx.arch, ctx.condition)} trial {trial.number}: not run, "
            "the rest of the budget is held by other processes"
        )
        raise SurplusTrial(f"trial {trial.number}: budget taken")
    arch = models.get(ctx.arch)
    hp = {**arch.search_space(trial), **ctx.fixed_hp}
    budget = ctx.budget
    folds = ctx.data.folds[: budget.folds_used or len(ctx.data.folds)]
    run = None
    if ctx.tracker is not None:
        run = ctx.tracker.start_run(
            TUNING_EXPERIMENT,
            f"{study_name(ctx.arch, ctx.condition)}#{trial.number}",
            {**ctx.tags, "gaitgrf.trial": str(trial.number)},
            parent=ctx.parent_run,
        )
        ctx.tracker.log_params(run, hp)
    start = time.perf_counter()
    scores: list[float] = []
    best_epochs: list[int] = []

    def report(fold: int) -> Callable[[EpochResult], None]:
        def on_epoch(epoch: EpochResult) -> None:
            step = fold * budget.epochs + epoch.epoch
            if ctx.tracker is not None and run is not None:
                metrics = {"train_loss": epoch.train_loss}
                if epoch.val_loss is not None:
                    metrics["val_loss"] = epoch.val_loss
                ctx.tracker.log_metrics(run, metrics, step=step)
            if epoch.val_loss is not None:
                trial.report(epoch.val_loss, step)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"epoch {epoch.epoch} of fold {fold}")

        return on_epoch

    status = "FAILED"
    try:
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
                on_epoch=report(k),
            )
            if not np.isfinite(trained.result.best_val_loss):
                raise optuna.TrialPruned(f"non-finite validation loss in fold {k}")
            scores.append(trained.result.best_val_loss)
            best_epochs.append(trained.result.best_epoch)
        status = "FINISHED"
    except optuna.TrialPruned:
        status = "KILLED"
        raise
    finally:
        seconds = time.perf_counter() - start
        if ctx.tracker is not None and run is not None:
            final = {"seconds": seconds, "pruned": float(status == "KILLED")}
            if scores:
                final["folds_done"] = float(len(scores))
            if status == "FINISHED":
                final["cv_val_loss"] = float(np.mean(scores))
            ctx.tracker.log_metrics(run, final)
            ctx.tracker.end_run(run, status)
        outcome = {"FINISHED": "complete", "KILLED": "pruned"}.get(status, "failed")
        ctx.log(
            f"{study_name(ctx.arch, ctx.condition)} trial {trial.number}: {outcome}"
            + (f", cv loss {np.mean(scores):.4f}" if status == "FINISHED" else "")
            + f" ({seconds:.1f} s)"
        )
    trial.set_user_attr("best_epochs", best_epochs)
    trial.set_user_attr("fold_scores", scores)
    return float(np.mean(scores))


def _join(
    *,
    arch: str,
    condition: str,
    samples: SampleSet,
    subjects: pd.DataFrame,
    cfg: TuneConfig,
    storage_url: str,
    data_version: str,
    git_commit: str,
    tracker: Tracker | None,
    fixed_hp: Mapping[str, Any] | None,
    log: Log,
) -> tuple[optuna.Study, StudyContext, str]:
    """Open (or create) the study and its MLflow parent run, under the study's lock."""
    from gaitgrf.tracking import TUNING_EXPERIMENT

    name = study_name(arch, condition)
    budget = cfg.budget_for(arch)
    data = tuning_data(samples, subjects, cfg)
    print_ = fingerprint(arch, data_version, budget, cfg)
    storage = open_storage(storage_url)
    tags = {
        "gaitgrf.study": name,
        "gaitgrf.architecture": arch,
        "gaitgrf.condition": condition,
        "gaitgrf.data_version": data_version,
        "gaitgrf.git_commit": git_commit,
        "gaitgrf.fingerprint": print_,
    }
    parent = None
    # One process at a time opens the study: exactly one creates it and enqueues the
    # defaults, and all share one MLflow parent run.
    with study_lock(storage, name, log):
        study, created = join_study(storage, name, cfg.seed, cfg.pruner, print_, log)
        if created:
            names = set(space_names(arch))
            study.enqueue_trial({k: v for k, v in models.get(arch).defaults.items() if k in names})
        if tracker is not None:
            found = tracker.find_run(
                TUNING_EXPERIMENT,
                {"gaitgrf.study": name, "gaitgrf.fingerprint": print_, "gaitgrf.role": "study"},
            )
            if found is not None:
                parent = found.info.run_id
                tracker.resume_run(parent)
            else:
                parent = tracker.start_run(
                    TUNING_EXPERIMENT, name, {**tags, "gaitgrf.role": "study"}
                )
                tracker.log_params(
                    parent, {f"budget.{k}": v for k, v in budget.model_dump().items()}
                )
    slots = TrialBudget(
        storage=storage, study_id=storage.get_study_id_from_name(name), n_trials=budget.n_trials
    )
    ctx = StudyContext(
        arch=arch,
        condition=condition,
        data=data,
        budget=budget,
        cfg=cfg,
        fixed_hp=dict(fixed_hp or {}),
        tracker=tracker,
        parent_run=parent,
        tags={**tags, "gaitgrf.role": "trial"},
        log=log,
        budget_slots=slots,
    )
    done, _ = slots.read()
    remaining = budget.n_trials - done
    log(
        f"{name}: {done} trial(s) already done, {max(remaining, 0)} to run "
        f"(budget {budget.n_trials}, timeout {budget.timeout_s} s); "
        f"{len(data.split.tuning)} tuning / {len(data.split.test)} test subjects, "
        f"{len(data.folds)} folds"
    )
    return study, ctx, print_


class _DropSurplus(logging.Filter):
    """Optuna logs every FAIL trial with a traceback; a surplus trial is not a failure."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "SurplusTrial" not in record.getMessage()


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


def work_study(
    *,
    arch: str,
    condition: str,
    samples: SampleSet,
    subjects: pd.DataFrame,
    cfg: TuneConfig,
    storage_url: str,
    data_version: str,
    git_commit: str,
    tracker: Tracker | None,
    fixed_hp: Mapping[str, Any] | None = None,
    wait: bool = True,
    log: Log = print,
) -> dict[str, Any]:
    """Worker mode: take trials of the study until its budget is met; no refit, no outputs.

    Any number of such workers (processes, machines) share a study through its storage
    (PostgreSQL for many machines); `run_study` (the DVC stage) then finds the budget met and
    only refits. `wait=False`: return as soon as the rest of the budget runs elsewhere instead
    of waiting for it. Returns the trials this worker ran and the study's counts by state.
    """
    started = time.perf_counter()
    study, ctx, _ = _join(
        arch=arch,
        condition=condition,
        samples=samples,
        subjects=subjects,
        cfg=cfg,
        storage_url=storage_url,
        data_version=data_version,
        git_commit=git_commit,
        tracker=tracker,
        fixed_hp=fixed_hp,
        log=log,
    )
    ran = optimize(study, ctx, ctx.budget.timeout_s, wait=wait)
    return {
        "study": study.study_name,
        "ran": ran,
        "surplus": ctx.surplus,
        "trials": state_counts(study),
        "seconds": time.perf_counter() - started,
    }


@dataclass(frozen=True)
class StudyOutcome:
    summary: dict[str, Any]
    out_dir: Path


def run_study(
    *,
    arch: str,
    condition: str,
    samples: SampleSet,
    subjects: pd.DataFrame,
    cfg: TuneConfig,
    storage_url: str,
    out_dir: Path,
    data_version: str,
    git_commit: str,
    tracker: Tracker | None,
    fixed_hp: Mapping[str, Any] | None = None,
    pip_requirements: Sequence[str] = (),
    log: Log = print,
) -> StudyOutcome:
    """Tune `arch` under `condition`, refit the best trial, write `out_dir` (bundle + summary)."""
    import optuna

    name = study_name(arch, condition)
    started = time.perf_counter()
    study, ctx, print_ = _join(
        arch=arch,
        condition=condition,
        samples=samples,
        subjects=subjects,
        cfg=cfg,
        storage_url=storage_url,
        data_version=data_version,
        git_commit=git_commit,
        tracker=tracker,
        fixed_hp=fixed_hp,
        log=log,
    )
    budget, data, parent = ctx.budget, ctx.data, ctx.parent_run
    optimize(study, ctx, budget.timeout_s)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise TuningError(f"{name}: no trial completed (all pruned or failed); raise the budget")
    best = study.best_trial
    outcome = _refit(ctx, best, out_dir, print_, pip_requirements)
    summary = {
        "study": name,
        "architecture": arch,
        "condition": condition,
        "layout": cfg.layout,
        "storage": _redact(storage_url),
        "fingerprint": print_,
        "data_version": data_version,
        "git_commit": git_commit,
        "cv_val_loss": float(best.value) if best.value is not None else None,
        "best_trial": best.number,
        "best_params": best.params,
        "trials": state_counts(study),
        "budget": budget.model_dump(),
        "subjects": {"tuning": list(data.split.tuning), "test": list(data.split.test)},
        "folds": len(data.folds),
        "seconds": time.perf_counter() - started,
        **outcome,
    }
    if tracker is not None and parent is not None:
        tracker.log_metrics(parent, {"best_cv_val_loss": float(best.value or np.nan)})
        tracker.set_tags(parent, {"gaitgrf.best_trial": best.number})
        tracker.end_run(parent)
    (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return StudyOutcome(summary=summary, out_dir=out_dir)


def _refit(
    ctx: StudyContext,
    best: optuna.trial.FrozenTrial,
    out_dir: Path,
    print_: str,
    pip_requirements: Sequence[str],
) -> dict[str, Any]:
    """Train the best trial's hyperparameters on all tuning subjects; save and log the model."""
    from gaitgrf.predictor import GrfPredictor, frame_from_arrays
    from gaitgrf.tracking import TUNING_EXPERIMENT

    budget = ctx.budget
    best_epochs = best.user_attrs.get("best_epochs") or [budget.epochs - 1]
    epochs = budget.refit_epochs or round(float(np.mean(best_epochs))) + 1
    hp = {**models.get(ctx.arch).defaults, **best.params, **ctx.fixed_hp}
    index = subsample(ctx.data.tuning_index, budget.max_refit_samples, ctx.cfg.seed)
    start = time.perf_counter()
    trained = train_once(
        ctx.data.samples,
        ctx.arch,
        hp,
        index,
        None,
        epochs=epochs,
        patience=0,
        seed=ctx.cfg.seed,
        threads=ctx.cfg.threads,
    )
    seconds = time.perf_counter() - start
    name = study_name(ctx.arch, ctx.condition)
    samples = ctx.data.samples
    predictor = GrfPredictor(
        architecture=ctx.arch,
        hp=hp,
        condition=ctx.condition,
        layout=samples.layout,
        normaliser=trained.normaliser,
        length=int(samples.inputs.shape[2]),
        network=trained.network,
        metadata={
            "study": name,
            "best_trial": best.number,
            "cv_val_loss": best.value,
            "refit_epochs": epochs,
            "refit_samples": int(index.size),
            **{k.removeprefix("gaitgrf."): v for k, v in ctx.tags.items()},
        },
    )
    bundle = out_dir / BUNDLE_DIR
    predictor.save(bundle)
    ctx.log(
        f"{name}: refit trial {best.number} on {index.size} samples, {epochs} epoch(s) "
        f"({seconds:.1f} s)"
    )
    result: dict[str, Any] = {
        "refit": {
            "epochs": epochs,
            "samples": int(index.size),
            "seconds": seconds,
            "train_loss": [e.train_loss for e in trained.result.history],
        },
        "bundle": BUNDLE_DIR,
        "mlflow": None,
    }
    if ctx.tracker is None or ctx.parent_run is None:
        return result
    run = ctx.tracker.start_run(
        TUNING_EXPERIMENT,
        f"{name}#refit",
        {**ctx.tags, "gaitgrf.role": "refit"},
        parent=ctx.parent_run,
    )
    ctx.tracker.log_params(run, hp)
    for e in trained.result.history:
        ctx.tracker.log_metrics(run, {"train_loss": e.train_loss}, step=e.epoch)
    ctx.tracker.log_metrics(run, {"cv_val_loss": float(best.value or np.nan), "seconds": seconds})
    example_idx = index[:2]
    raw = frame_from_arrays(
        samples.inputs[example_idx],
        samples.static[example_idx],
        samples.channels,
        samples.static_names,
    )
    x, s = trained.normaliser.transform(samples.take(example_idx))
    uri = ctx.tracker.log_grf_model(run, bundle, raw, (x, s), pip_requirements)
    ctx.tracker.end_run(run)
    result["mlflow"] = {
        "tracking_uri": _redact(ctx.tracker.tracking_uri),
        "experiment": TUNING_EXPERIMENT,
        "parent_run_id": ctx.parent_run,
        "refit_run_id": run,
        "model_uri": uri,
    }
    return result


def _redact(url: str) -> str:
    """Drop a password from a storage URL before writing it anywhere."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url
