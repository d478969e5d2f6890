"""Stage `tune`: one Optuna study per (architecture, condition), resumable, tracked in MLflow.

A study is named `<arch>__<condition>` and lives in persistent storage (docs/tuning.md).
Re-running resumes it: only the trials still missing from the budget run, and completed trials
are never lost; a study holding more trials than `n_trials` gives the result of its first
`n_trials` (`study.budget_trials`); when what its trials mean changes, it is archived and
starts again (`study.py`). Subject-wise throughout (`data.py`): the held-out test subjects
never enter a study; each trial is cross-validated over GroupKFold folds of the tuning subjects
(`objective.py`). The best trial is then refit on all tuning subjects (`refit.py`).

`run_study` tunes and refits (the DVC stage, through `tune_stage`), then with
`tune.evaluation: nested` runs the nested cross-validation (`nested.py`); `work_study` only
takes trials (workers sharing a study's budget).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gaitgrf.core.artifacts import BUNDLE_DIR, SUMMARY_FILE, Artifacts
from gaitgrf.core.config import TuneConfig
from gaitgrf.core.samples import SampleSet
from gaitgrf.pipeline.tune.data import tuning_data
from gaitgrf.pipeline.tune.nested import run_nested
from gaitgrf.pipeline.tune.objective import StudyContext, optimize
from gaitgrf.pipeline.tune.parent_runs import parent_run, study_tags
from gaitgrf.pipeline.tune.refit import refit
from gaitgrf.pipeline.tune.study import (
    Log,
    TrialBudget,
    best_trial,
    budget_trials,
    fingerprint,
    join_with_defaults,
    open_storage,
    state_counts,
    study_lock,
    study_name,
)
from gaitgrf.runtime import redact

if TYPE_CHECKING:
    import optuna

    from gaitgrf.core.config import Params
    from gaitgrf.tracking.client import Tracker


@dataclass(frozen=True)
class StudyRequest:
    """Everything one study needs: its inputs, its stores and what its outputs are tagged with."""

    arch: str
    condition: str
    samples: SampleSet
    subjects: pd.DataFrame
    cfg: TuneConfig
    storage_url: str
    #: Where `run_study` writes the bundle and summary (`work_study` writes nothing).
    out_dir: Path
    data_version: str
    git_commit: str
    tracker: Tracker | None
    #: Hyperparameters set from params, never searched (`runtime.fixed_hyperparameters`).
    fixed_hp: Mapping[str, Any] | None = None
    #: Pins logged with the model (`tracking.pip_requirements()`).
    pip_requirements: Sequence[str] = ()
    log: Log = print
    #: progress(done, total, what): the study's trials of its budget, then the refit.
    progress: Callable[[int, int, str], None] | None = None


@dataclass(frozen=True)
class StudyOutcome:
    summary: dict[str, Any]
    out_dir: Path


def _join(request: StudyRequest) -> tuple[optuna.Study, StudyContext, str]:
    """Open (or create) the study and its MLflow parent run, under the study's lock."""
    arch, cfg, log = request.arch, request.cfg, request.log
    name = study_name(arch, request.condition)
    budget = cfg.budget_for(arch)
    data = tuning_data(request.samples, request.subjects, cfg)
    print_ = fingerprint(arch, request.data_version, budget, cfg)
    storage = open_storage(request.storage_url)
    tags = study_tags(request, print_)
    # One process at a time opens the study: exactly one creates it and enqueues the
    # defaults, and all share one MLflow parent run.
    with study_lock(storage, name, log):
        study = join_with_defaults(storage, name, arch, cfg, print_, log)
        parent = parent_run(request.tracker, name, print_, tags, budget, cfg.profile)
    if request.tracker is not None and parent is not None:  # what the study tunes on
        request.tracker.log_dataset(
            parent,
            f"fused/{cfg.layout}/{request.condition}",
            request.data_version,
            "tuning",
            f"{cfg.layout}/{request.condition}.npz",
        )
    slots = TrialBudget(
        storage=storage, study_id=storage.get_study_id_from_name(name), n_trials=budget.n_trials
    )
    ctx = StudyContext(
        arch=arch,
        condition=request.condition,
        data=data,
        budget=budget,
        cfg=cfg,
        fixed_hp=dict(request.fixed_hp or {}),
        tracker=request.tracker,
        parent_run=parent,
        tags={**tags, "gaitgrf.role": "trial"},
        log=log,
        budget_slots=slots,
        progress=request.progress,
    )
    done, _ = slots.read()
    remaining = budget.n_trials - done
    log(
        f"{name}: {done} trial(s) already done, {max(remaining, 0)} to run "
        f"(budget {budget.n_trials}, timeout {budget.timeout_s} s); "
        f"{len(data.split.tuning)} tuning / {len(data.split.test)} test subjects, "
        + (
            f"{len(data.split.external)} of external cohort(s) "
            f"{', '.join(data.split.external_cohorts)} (test only), "
            if data.split.external
            else ""
        )
        + f"{len(data.folds)} folds"
    )
    if done > budget.n_trials:
        log(
            f"{name}: the stored study holds {done} finished trials, more than n_trials = "
            f"{budget.n_trials}: this result is that of its first {budget.n_trials} (the trials "
            f"a {budget.n_trials}-trial study runs); the other {done - budget.n_trials} are "
            "kept, unused"
        )
    return study, ctx, print_


def work_study(request: StudyRequest, *, wait: bool = True) -> dict[str, Any]:
    """Worker mode: take trials of the study until its budget is met; no refit, no outputs.

    Any number of such workers (processes, machines) share a study through its storage
    (PostgreSQL for many machines); `run_study` (the DVC stage) then finds the budget met and
    only refits. `wait=False`: return as soon as the rest of the budget runs elsewhere instead
    of waiting for it. Returns the trials this worker ran and the study's counts by state.
    """
    started = time.perf_counter()
    study, ctx, _ = _join(request)
    ran = optimize(study, ctx, ctx.budget.timeout_s, wait=wait)
    return {
        "study": study.study_name,
        "ran": ran,
        "surplus": ctx.surplus,
        "trials": state_counts(study),
        "seconds": time.perf_counter() - started,
    }


def run_study(request: StudyRequest) -> StudyOutcome:
    """Tune `arch` under `condition`, refit the best trial, write `out_dir` (bundle + summary)."""
    name = study_name(request.arch, request.condition)
    started = time.perf_counter()
    study, ctx, print_ = _join(request)
    optimize(study, ctx, ctx.budget.timeout_s)
    # The budget's trials, not every stored one: a study that once ran more than n_trials
    # gives the result of n_trials (`budget_trials`).
    used = budget_trials(study, ctx.budget.n_trials)
    best = best_trial(name, used)
    if request.progress is not None:
        n = ctx.budget.n_trials
        request.progress(n, n, f"{name}: refitting trial {best.number} on all tuning subjects")
    outcome = refit(ctx, best, request.out_dir / BUNDLE_DIR, request.pip_requirements)
    summary = _summary(request, ctx, study, used, best, print_, started, outcome)
    tracker, parent = request.tracker, ctx.parent_run
    if tracker is not None and parent is not None:
        tracker.log_metrics(parent, {"best_cv_val_loss": float(best.value or np.nan)})
        tracker.set_tags(parent, {"gaitgrf.best_trial": best.number})
        tracker.end_run(parent)
    if request.cfg.evaluation == "nested":  # after the hold-out study, which stays as it was
        summary["nested"] = run_nested(request)
    (request.out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return StudyOutcome(summary=summary, out_dir=request.out_dir)


def _summary(
    request: StudyRequest,
    ctx: StudyContext,
    study: optuna.Study,
    used: Sequence[optuna.trial.FrozenTrial],
    best: optuna.trial.FrozenTrial,
    print_: str,
    started: float,
    outcome: dict[str, Any],
) -> dict[str, Any]:
    """What `summary.json` says of the study, its best trial and its refit.

    `trials` counts the trials of this result (`used`, the budget's); `trials_stored` every
    trial in the storage, failed ones and any beyond a smaller budget included.
    """
    data = ctx.data
    counts = state_counts(study, used)
    return {
        "study": study_name(request.arch, request.condition),
        "architecture": request.arch,
        "condition": request.condition,
        "layout": request.cfg.layout,
        "storage": redact(request.storage_url),
        "fingerprint": print_,
        "data_version": request.data_version,
        "git_commit": request.git_commit,
        "cv_val_loss": float(best.value) if best.value is not None else None,
        "best_trial": best.number,
        "best_params": best.params,
        "trials": counts,
        "trials_stored": state_counts(study),
        # The named profile (`tune.profile`) and whether it promises equal budgets: the
        # evaluation report's header names both.
        "profile": request.cfg.profile,
        "fair": request.cfg.active.fair,
        "budget": ctx.budget.model_dump(),
        # Only an opt-in wall-clock limit can stop a study short of its trial budget; the
        # evaluation report names such studies (their results depend on machine load).
        "timeout_cut": ctx.budget.timeout_s is not None
        and counts.get("COMPLETE", 0) + counts.get("PRUNED", 0) < ctx.budget.n_trials,
        "subjects": {
            "tuning": list(data.split.tuning),
            "test": list(data.split.test),
            "external": list(data.split.external),
        },
        "folds": len(data.folds),
        "seconds": time.perf_counter() - started,
        **outcome,
    }


# --- the stage ---------------------------------------------------------------------------------
def study_request(
    params: Params,
    arch: str,
    condition: str,
    environ: Mapping[str, str],
    log: Log,
    *,
    pip_requirements: Sequence[str] = (),
    progress: Callable[[int, int, str], None] | None = None,
) -> StudyRequest:
    """The request for study (`arch`, `condition`) from params: inputs read as the stage reads
    them, stores from params overridden by `environ` (`gaitgrf.runtime`)."""
    from gaitgrf import runtime
    from gaitgrf.pipeline.fuse.features import read_subjects

    artifacts = Artifacts.from_paths(params.paths)
    return StudyRequest(
        arch=arch,
        condition=condition,
        # mapped, not read: each fold copies its own samples only (SampleSet.load)
        samples=SampleSet.load(artifacts.fused_set(params.tune.layout, condition), mmap=True),
        subjects=read_subjects(artifacts.subjects_table()),
        cfg=params.tune,
        storage_url=runtime.storage_url(params, environ),
        out_dir=artifacts.study_dir(study_name(arch, condition)),
        data_version=runtime.data_version(artifacts.fused),
        git_commit=runtime.git_commit(),
        tracker=runtime.open_tracker(params, environ, "gaitgrf.pipeline.tune"),
        fixed_hp=runtime.fixed_hyperparameters(params, arch),
        pip_requirements=pip_requirements,
        log=log,
        progress=progress,
    )


def tune_stage(
    params: Params,
    arch: str,
    condition: str,
    environ: Mapping[str, str],
    log: Log,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """DVC stage `tune@<arch>-<condition>` (also the tuning flow's task): tune, refit, write
    `<paths.tuned>/<study>/` and the metrics `<paths.reports>/tuning/<study>.json`.
    `progress(done, total, what)` follows the trials and the refit (`StudyRequest.progress`)."""
    import optuna

    from gaitgrf.tracking.client import pip_requirements

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    request = study_request(
        params,
        arch,
        condition,
        environ,
        log,
        pip_requirements=pip_requirements(),
        progress=progress,
    )
    request.out_dir.mkdir(parents=True, exist_ok=True)
    summary = run_study(request).summary
    report = Artifacts.from_paths(params.paths).tuning_metrics(study_name(arch, condition))
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(tuning_metrics(summary), indent=2) + "\n")
    return summary


def tuning_metrics(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A study's DVC metrics: its result and trial counts, numbers only (issue 17).

    Twenty such files are columns of `dvc exp show`: the run time (in summary.json) is left
    out, as it differs on every run whatever the params and would fill `--only-changed`.
    """
    return {
        "cv_val_loss": summary["cv_val_loss"],
        "trials_complete": summary["trials"].get("COMPLETE", 0),
        "trials_pruned": summary["trials"].get("PRUNED", 0),
    }


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """What the tune stage prints once its study is refit."""
    lines = [
        f"tune: {summary['study']}: best trial {summary['best_trial']} "
        f"cv loss {summary['cv_val_loss']:.4f}, trials {summary['trials']}, "
        f"{summary['seconds']:.0f} s"
    ]
    if nested := summary.get("nested"):
        lines.append(
            f"tune: {summary['study']}: nested CV, {nested['outer_folds']} outer studies, "
            f"{nested['subjects']} subjects predicted out of fold, {nested['seconds']:.0f} s"
        )
    return lines
