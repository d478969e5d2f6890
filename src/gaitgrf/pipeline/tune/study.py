"""Optuna studies in persistent storage: names, fingerprints, archiving, locks, the shared budget.

A study is named `<arch>__<condition>` and lives in persistent storage (SQLite by default, any
Optuna RDB URL such as PostgreSQL). A trial killed with its process stays RUNNING until its
heartbeat expires; Optuna then marks it FAIL and it does not count.

The study also records a *fingerprint* of what its trials mean (data version, budget, search
space source). When that changes (new data, new budget), old trials are not comparable any more:
the study is archived under `<name>@<timestamp>` (kept, never deleted) and a new one starts.
Many processes may work on one study at once: `study_lock` lets exactly one create it and
`TrialBudget` keeps them together within its `n_trials`.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from gaitgrf import models
from gaitgrf.core.config import BudgetConfig, PrunerConfig, TuneConfig
from gaitgrf.core.errors import GaitGrfError

if TYPE_CHECKING:
    import optuna

#: Seconds between trial heartbeats; a trial silent for GRACE_S is taken as dead (FAIL).
HEARTBEAT_S: Final = 10
GRACE_S: Final = 30
#: Seconds a process waits before looking again at a study whose remaining trials run elsewhere.
POLL_S: Final = 1.0
#: A study lock (`study_lock`) held longer than this is taken as left by a dead process.
LOCK_STALE_S: Final = 60.0
#: Trial user attribute: the trial holds one slot of its study's budget (`TrialBudget`).
CLAIM_ATTR: Final = "gaitgrf.claim"
#: Trial user attribute: the id of the trial's MLflow child run, so a trial seen in
#: optuna-dashboard (or `study.trials`) leads to its curves and parameters in MLflow.
RUN_ATTR: Final = "mlflow_run_id"
#: The name of the objective's one value: the same name as the trial run's MLflow metric, so
#: optuna-dashboard, `trials_dataframe()` and the MLflow UI say the same thing.
OBJECTIVE_METRIC: Final = "cv_val_loss"

Log = Callable[[str], None]


class TuningError(GaitGrfError):
    hint = "see docs/tuning.md; `dvc repro` re-runs a study and resumes it where it stopped"


def study_name(arch: str, condition: str) -> str:
    return f"{arch}__{condition}"


def study_names(architectures: Iterable[str], conditions: Iterable[str]) -> list[str]:
    """Every study of the comparison, architecture-major (the order of the report)."""
    conds = list(conditions)
    return [study_name(arch, condition) for arch in architectures for condition in conds]


def state_counts(
    study: optuna.Study, trials: Iterable[optuna.trial.FrozenTrial] | None = None
) -> dict[str, int]:
    """Trials of `study` (or just `trials`) by state name (COMPLETE, PRUNED, FAIL, RUNNING...)."""
    chosen = study.get_trials(deepcopy=False) if trials is None else trials
    states = [t.state.name for t in chosen]
    return {s: states.count(s) for s in sorted(set(states))}


def budget_trials(study: optuna.Study, n_trials: int) -> list[optuna.trial.FrozenTrial]:
    """The trials a study of `n_trials` consists of: its first `n_trials` finished trials
    (COMPLETE or PRUNED, by trial number), whatever larger budget ran before.

    Trial n is drawn (`sampler.py`: seeded by the study seed and n) and pruned from the trials
    finished before it only, so the first k finished trials of a longer study are the trials a
    k-trial study runs. Reading this prefix makes a study's result a function of its params: a
    smaller `n_trials` (`dvc exp run -S tune.profiles.smoke.budget.n_trials=2` after 8
    trials) gives the 2-trial result, not the 8-trial one, and a larger one still resumes
    (docs/tuning.md, "Studies").
    """
    from optuna.trial import TrialState

    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    return sorted(finished, key=lambda t: t.number)[:n_trials]


# --- search space and fingerprint --------------------------------------------------------------
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
    what: dict[str, Any] = {
        "data": data_version,
        "budget": per_trial,
        "folds": cfg.folds,
        "seed": cfg.seed,
        "test_fraction": cfg.test_fraction,
        "layout": cfg.layout,
        "space": hashlib.sha256(source.encode()).hexdigest(),
    }
    # External cohorts change the tuning subjects; named only when set, so the studies of a
    # project without any keep their fingerprint (and their trials).
    if cfg.external_cohorts:
        what["external_cohorts"] = sorted(cfg.external_cohorts)
    payload = json.dumps(what, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


# --- storage and studies -----------------------------------------------------------------------
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


def _sampler(seed: int, name: str) -> optuna.samplers.BaseSampler:
    """TPE seeded per study and per trial (`sampler.py`): resumed studies and parallel workers
    never replay one random stream; every study has its own, reproducible sequence."""
    from gaitgrf.pipeline.tune.sampler import TrialSeededTPESampler

    return TrialSeededTPESampler((seed * 7919 + zlib.crc32(name.encode())) % 2**31)


def _pruner(cfg: PrunerConfig) -> optuna.pruners.BasePruner:
    import optuna

    return optuna.pruners.MedianPruner(
        n_startup_trials=cfg.startup_trials, n_warmup_steps=cfg.warmup_epochs
    )


def _archive(storage: optuna.storages.BaseStorage, name: str, log: Log) -> None:
    """Copy study `name` to `<name>@<timestamp>` and delete it: its trials are kept, unused."""
    import optuna

    archive = f"{name}@{time.strftime('%Y%m%dT%H%M%S')}"
    optuna.copy_study(
        from_study_name=name,
        from_storage=storage,
        to_storage=storage,
        to_study_name=archive,
    )
    optuna.delete_study(study_name=name, storage=storage)
    log(f"{name}: data or budget changed; previous trials archived as study {archive}")


def join_study(
    storage: optuna.storages.BaseStorage,
    name: str,
    seed: int,
    pruner_cfg: PrunerConfig,
    print_: str,
    log: Log,
) -> tuple[optuna.Study, bool]:
    """Load or create the study, archiving it first when its fingerprint no longer matches.

    Returns (study, created by this call). Call it under `study_lock(storage, name)` when other
    processes may open the same study: then exactly one of them creates (or archives and
    re-creates) it.
    """
    import optuna

    sampler = _sampler(seed, name)
    pruner = _pruner(pruner_cfg)
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
            _name_objective(study)  # a study created before its objective was named
            return study, False
        _archive(storage, name, log)
    study = optuna.create_study(
        study_name=name, storage=storage, sampler=sampler, pruner=pruner, direction="minimize"
    )
    study.set_user_attr("fingerprint", print_)
    _name_objective(study)
    return study, True


def join_with_defaults(
    storage: optuna.storages.BaseStorage,
    name: str,
    arch: str,
    cfg: TuneConfig,
    print_: str,
    log: Log,
) -> optuna.Study:
    """`join_study`, then, when this call created the study, the architecture's defaults as
    its first trial (every study starts from the same known point). Call it under
    `study_lock`, as `join_study`."""
    study, created = join_study(storage, name, cfg.seed, cfg.pruner, print_, log)
    if created:
        names = set(space_names(arch))
        study.enqueue_trial({k: v for k, v in models.get(arch).defaults.items() if k in names})
    return study


def best_trial(name: str, used: Sequence[optuna.trial.FrozenTrial]) -> optuna.trial.FrozenTrial:
    """The completed trial of `used` with the lowest value (ties: the earliest)."""
    import optuna

    complete = [t for t in used if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise TuningError(f"{name}: no trial completed (all pruned or failed); raise the budget")
    return min(complete, key=lambda t: (np.inf if t.value is None else t.value, t.number))


def _name_objective(study: optuna.Study) -> None:
    """Name the objective OBJECTIVE_METRIC (unnamed, Optuna shows a bare `value`)."""
    import warnings

    import optuna

    if study.metric_names == [OBJECTIVE_METRIC]:
        return
    with warnings.catch_warnings():  # `set_metric_names` is "experimental" since Optuna 3.2
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([OBJECTIVE_METRIC])


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


# --- the shared budget -------------------------------------------------------------------------
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
