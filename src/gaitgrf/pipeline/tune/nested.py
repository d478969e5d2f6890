"""Nested subject-wise cross-validation (`tune.evaluation: nested`): every subject tested once.

The hold-out study (`run.py`) tests each model on about a fifth of the subjects: 8 on the
default cohort, too few for the paired tests to say anything. In nested mode each tune stage
then runs one more study per outer fold: the outer folds (`stratified_group_folds`, seeded by
`tune.seed`) partition every non-external subject, hold-out subjects included; the study of
outer fold k, `<study>__outer<k>`, is tuned with the same budget over GroupKFold folds of that
fold's training subjects only, refit on them, and predicts the fold's test subjects. Each
subject thus gets exactly one out-of-fold prediction from a model that never saw it, in tuning
or in training. The promotion gate keeps using the hold-out study, whose test subjects no
tuning saw at all.

`check_outer_folds` and `check_subject_wise` refuse any split with a subject on both sides
before a trial runs; the predictions are checked to cover every subject exactly once before
they are written (`oof.npz`, `nested.json` in the study's folder, docs/evaluation.md).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from gaitgrf.core.config import TuneConfig
from gaitgrf.core.samples import SampleSet
from gaitgrf.pipeline.tune.data import TuningData, check_subject_wise
from gaitgrf.pipeline.tune.objective import StudyContext, optimize
from gaitgrf.pipeline.tune.parent_runs import parent_run, study_tags
from gaitgrf.pipeline.tune.refit import refit_predictor, train_best
from gaitgrf.pipeline.tune.study import (
    TrialBudget,
    TuningError,
    best_trial,
    budget_trials,
    fingerprint,
    join_with_defaults,
    open_storage,
    state_counts,
    study_lock,
    study_name,
)
from gaitgrf.training.splits import (
    HoldOut,
    group_kfold,
    sample_index,
    split_subjects,
    stratified_group_folds,
)

if TYPE_CHECKING:
    from gaitgrf.pipeline.tune.run import StudyRequest

#: The out-of-fold predictions (per sample: prediction, position, subject, outer fold).
OOF_FILE: Final = "oof.npz"
#: Each outer fold's training and test subjects and its study's result.
NESTED_FILE: Final = "nested.json"


class NestedSplitError(TuningError):
    hint = (
        "nested cross-validation needs every subject tested exactly once and never on both "
        "sides of a split; see docs/evaluation.md"
    )


@dataclass(frozen=True)
class OuterFold:
    fold: int
    train: tuple[str, ...]
    test: tuple[str, ...]


def outer_study_name(name: str, fold: int) -> str:
    return f"{name}__outer{fold}"


def outer_folds(
    samples: SampleSet, subjects: pd.DataFrame, cfg: TuneConfig
) -> tuple[HoldOut, list[OuterFold]]:
    """The hold-out split (for its external cohorts) and the checked outer folds over every
    other subject: the same for every study and for evaluation (same seed)."""
    split = split_subjects(samples, subjects, cfg)
    keys = split.tuning + split.test
    folds = [
        OuterFold(k, train, test)
        for k, (train, test) in enumerate(
            stratified_group_folds(subjects, keys, cfg.outer_folds, cfg.seed)
        )
    ]
    check_outer_folds(samples.groups, split, folds)
    return split, folds


def check_outer_folds(groups: np.ndarray, split: HoldOut, folds: Sequence[OuterFold]) -> None:
    """Raise unless the outer folds are subject-wise and test every subject exactly once.

    Checked on the samples (`groups`: each sample's `cohort/subject`): no subject's samples on
    both the training and the test side of a fold, every non-external subject on one side of
    each fold, no external-cohort subject in any fold (they are test only, for the hold-out),
    every non-external subject in exactly one fold's test side.
    """
    internal = set(split.tuning) | set(split.test)
    tested: dict[str, int] = {}
    for f in folds:
        train = set(groups[sample_index(groups, f.train)].tolist())
        test = set(groups[sample_index(groups, f.test)].tolist())
        leaks = train & test
        if leaks:
            raise NestedSplitError(
                f"outer fold {f.fold}: subject(s) {sorted(leaks)} on both the training and "
                "the test side"
            )
        external = (train | test) & set(split.external)
        if external:
            raise NestedSplitError(
                f"outer fold {f.fold}: external-cohort subject(s) {sorted(external)} in a fold"
            )
        if train | test != internal:
            raise NestedSplitError(
                f"outer fold {f.fold}: subject(s) {sorted(internal - train - test)} on neither side"
            )
        for key in test:
            tested[key] = tested.get(key, 0) + 1
    twice = sorted(k for k, n in tested.items() if n > 1)
    if twice:
        raise NestedSplitError(f"subject(s) {twice} tested by more than one outer fold")


def fold_data(samples: SampleSet, split: HoldOut, fold: OuterFold, cfg: TuneConfig) -> TuningData:
    """What outer fold `fold`'s study tunes on: inner GroupKFold over its training subjects;
    its test subjects (and the external cohorts) never enter a fold or the refit."""
    groups = samples.groups
    inner = tuple(
        (sample_index(groups, train), sample_index(groups, val))
        for train, val in group_kfold(fold.train, cfg.folds, cfg.seed)
    )
    data = TuningData(
        samples=samples,
        split=HoldOut(tuning=fold.train, test=fold.test, external=split.external),
        folds=inner,
    )
    check_subject_wise(data)
    return data


def _fingerprint(request: StudyRequest, fold: int) -> str:
    """The hold-out study's fingerprint plus the outer folds: a new `outer_folds` (a new
    assignment of subjects) archives the outer studies and starts them again."""
    cfg = request.cfg
    base = fingerprint(request.arch, request.data_version, cfg.budget_for(request.arch), cfg)
    payload = f"{base}|outer_folds={cfg.outer_folds}|fold={fold}"
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _outer_study(
    request: StudyRequest, fold: OuterFold, data: TuningData
) -> tuple[dict[str, Any], np.ndarray]:
    """Tune, refit and predict outer fold `fold`: its record and its test samples' forces."""
    arch, cfg, log = request.arch, request.cfg, request.log
    name = outer_study_name(study_name(arch, request.condition), fold.fold)
    budget = cfg.budget_for(arch)
    storage = open_storage(request.storage_url)
    print_ = _fingerprint(request, fold.fold)
    tags = _outer_tags(request, name, print_, fold)
    with study_lock(storage, name, log):
        study = join_with_defaults(storage, name, arch, cfg, print_, log)
        parent = _outer_parent_run(request, name, print_, tags, fold)
    started = time.perf_counter()
    log(
        f"{name}: {len(fold.train)} training / {len(fold.test)} test subjects, "
        f"{len(data.folds)} inner folds, budget {budget.n_trials} trial(s)"
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
        budget_slots=TrialBudget(
            storage=storage,
            study_id=storage.get_study_id_from_name(name),
            n_trials=budget.n_trials,
        ),
        progress=request.progress,
    )
    optimize(study, ctx, budget.timeout_s)
    used = budget_trials(study, budget.n_trials)
    best = best_trial(name, used)
    done = train_best(ctx, best)
    samples, idx = data.samples, data.test_index
    predictor = refit_predictor(ctx, done)
    predicted = predictor.predict_arrays(samples.inputs[idx], samples.static[idx])
    record = {
        "fold": fold.fold,
        "study": name,
        "train": list(fold.train),
        "test": list(fold.test),
        "best_trial": best.number,
        "cv_val_loss": float(best.value) if best.value is not None else None,
        "trials": state_counts(study, used),
        "refit_samples": int(done.index.size),
        "seconds": time.perf_counter() - started,
    }
    _end_outer_run(request, parent, record)
    return record, predicted


def _outer_tags(request: StudyRequest, name: str, print_: str, fold: OuterFold) -> dict[str, str]:
    """The hold-out study's tags, renamed to the outer study and naming its fold."""
    return {
        **study_tags(request, print_),
        "gaitgrf.study": name,
        "gaitgrf.holdout_study": study_name(request.arch, request.condition),
        "gaitgrf.outer_fold": str(fold.fold),
    }


def _outer_parent_run(
    request: StudyRequest, name: str, print_: str, tags: dict[str, str], fold: OuterFold
) -> str | None:
    """The outer study's MLflow parent run (role `outer_study`; None without a tracker): its
    trials are child runs, as a hold-out study's are, so a nested run is inspectable in the UI
    like any study; no model is logged (the out-of-fold predictions are the output)."""
    cfg = request.cfg
    parent = parent_run(
        request.tracker,
        name,
        print_,
        tags,
        cfg.budget_for(request.arch),
        cfg.profile,
        role="outer_study",
        note=f"Nested cross-validation, outer fold {fold.fold} of {cfg.outer_folds}: tuned "
        f"and refit on {len(fold.train)} subjects, predicting {len(fold.test)} it never saw; "
        "one child run per trial.",
    )
    if request.tracker is not None and parent is not None:
        request.tracker.log_params(
            parent,
            {
                "outer.folds": cfg.outer_folds,
                "outer.fold": fold.fold,
                "outer.train_subjects": len(fold.train),
                "outer.test_subjects": ",".join(fold.test),
            },
        )
    return parent


def _end_outer_run(request: StudyRequest, parent: str | None, record: dict[str, Any]) -> None:
    tracker = request.tracker
    if tracker is None or parent is None:
        return
    loss = record["cv_val_loss"]
    tracker.log_metrics(
        parent,
        {
            "best_cv_val_loss": float("nan") if loss is None else float(loss),
            "refit_samples": float(record["refit_samples"]),
            "seconds": float(record["seconds"]),
        },
    )
    tracker.set_tags(parent, {"gaitgrf.best_trial": record["best_trial"]})
    tracker.end_run(parent)


def run_nested(request: StudyRequest) -> dict[str, Any]:
    """One study per outer fold; write every subject's out-of-fold predictions to the study's
    folder (`OOF_FILE`, `NESTED_FILE`); return what the study's summary.json says of them."""
    started = time.perf_counter()
    samples = request.samples
    split, folds = outer_folds(samples, request.subjects, request.cfg)
    records: list[dict[str, Any]] = []
    positions, predictions, fold_of = [], [], []
    for fold in folds:
        data = fold_data(samples, split, fold, request.cfg)
        record, predicted = _outer_study(request, fold, data)
        records.append(record)
        positions.append(data.test_index)
        predictions.append(predicted.astype(np.float32))
        fold_of.append(np.full(data.test_index.size, fold.fold))
    position = np.concatenate(positions)
    order = np.argsort(position, kind="stable")
    position = position[order]
    internal = sorted(split.tuning + split.test)
    check_out_of_fold(samples.groups, position, internal)
    write_out_of_fold(
        request.out_dir,
        position,
        np.concatenate(predictions)[order],
        samples.groups[position],
        np.concatenate(fold_of)[order],
        {"outer_folds": len(folds), "subjects": internal, "folds": records},
    )
    return {
        "outer_folds": len(folds),
        "subjects": len(internal),
        "samples": int(position.size),
        "studies": [r["study"] for r in records],
        "cv_val_loss": [r["cv_val_loss"] for r in records],
        "seconds": time.perf_counter() - started,
    }


def check_out_of_fold(groups: np.ndarray, positions: np.ndarray, subjects: Sequence[str]) -> None:
    """Raise unless `positions` are every sample of `subjects`, each exactly once."""
    unique, counts = np.unique(positions, return_counts=True)
    if (counts > 1).any():
        twice = sorted(set(groups[unique[counts > 1]].tolist()))
        raise NestedSplitError(f"subject(s) {twice[:5]} predicted by more than one outer fold")
    expected = sample_index(groups, subjects)
    if unique.size != expected.size or not np.array_equal(unique, expected):
        missing = sorted(set(groups[np.setdiff1d(expected, unique)].tolist()))
        raise NestedSplitError(f"subject(s) {missing[:5]} without an out-of-fold prediction")


def write_out_of_fold(
    out_dir: Path,
    positions: np.ndarray,
    predictions: np.ndarray,
    groups: np.ndarray,
    fold: np.ndarray,
    record: dict[str, Any],
) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez(
        out_dir / OOF_FILE,
        positions=positions.astype(np.int64),
        predictions=predictions,
        groups=groups.astype(str),
        fold=fold.astype(np.int64),
    )
    (out_dir / NESTED_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n")
