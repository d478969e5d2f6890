"""The `adapt` stage: a trained model fine-tuned to each real cohort, judged subject-wise.

For each cohort of `adapt.cohorts` (external cohorts: no subject of theirs was ever tuned on),
GroupKFold over the cohort's own subjects gives every subject an out-of-fold prediction from
three models, so the report answers "what does adapting buy?" on the same subjects:

* `none`: the start model as it is (trained on the other cohorts only);
* `fine_tuned`: the start model trained further on the fold's training subjects
  (`training.finetune`), its normaliser kept;
* `scratch`: the same architecture and hyperparameters trained from random weights on the
  same subjects for the same epochs, normalised on them: what the cohort gives on its own.

Every fold is checked to be subject-wise before it trains (`check_cohort_folds`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from gaitgrf.core.errors import GaitGrfError
from gaitgrf.pipeline.evaluate.metrics import per_subject, sample_metrics
from gaitgrf.training.splits import cohort_of, group_kfold, sample_index

if TYPE_CHECKING:
    import pandas as pd

    from gaitgrf.core.config import AdaptConfig
    from gaitgrf.core.samples import SampleSet
    from gaitgrf.predictor import GrfPredictor

#: The compared models, in report order.
ARMS = ("none", "fine_tuned", "scratch")


class AdaptationError(GaitGrfError):
    hint = "see docs/adaptation.md: adapt.cohorts must be external cohorts with 2+ subjects"


@dataclass(frozen=True)
class Fold:
    train: np.ndarray
    test: np.ndarray


@dataclass
class CohortAdaptation:
    """Out-of-fold predictions of every arm over one cohort's samples."""

    cohort: str
    subjects: tuple[str, ...]
    folds: int
    index: np.ndarray
    measured: np.ndarray
    groups: np.ndarray
    predicted: dict[str, np.ndarray] = field(default_factory=dict)
    final_train_loss: dict[str, list[float]] = field(default_factory=dict)

    def pooled(self, *, stance: bool) -> dict[str, dict[str, float]]:
        return {
            a: sample_metrics(self.measured, p, stance=stance) for a, p in self.predicted.items()
        }

    def per_subject(self, *, stance: bool) -> dict[str, pd.DataFrame]:
        return {
            a: per_subject(self.groups, self.measured, p, stance=stance)
            for a, p in self.predicted.items()
        }


def cohort_folds(groups: np.ndarray, cohort: str, k: int, seed: int) -> list[Fold]:
    """GroupKFold over the subjects of `cohort` (k capped at their number), sample positions."""
    subjects = sorted({str(g) for g in groups if cohort_of(str(g)) == cohort})
    if len(subjects) < 2:
        raise AdaptationError(
            f"adapt: cohort {cohort} has {len(subjects)} subject(s) with samples; fine-tuning "
            "and testing on different subjects needs at least 2"
        )
    folds = [
        Fold(sample_index(groups, train), sample_index(groups, test))
        for train, test in group_kfold(subjects, min(k, len(subjects)), seed)
    ]
    check_cohort_folds(groups, folds)
    return folds


def check_cohort_folds(groups: np.ndarray, folds: Sequence[Fold]) -> None:
    """Raise if a subject is on both sides of a fold, or is tested twice or never."""
    tested: list[str] = []
    for n, fold in enumerate(folds):
        both = set(groups[fold.train].tolist()) & set(groups[fold.test].tolist())
        if both:
            raise AdaptationError(f"adapt: fold {n}: subjects on both sides: {sorted(both)}")
        tested += sorted(set(groups[fold.test].tolist()))
    if len(tested) != len(set(tested)):
        raise AdaptationError("adapt: a subject is tested in more than one fold")


def adapt_cohort(
    start: GrfPredictor,
    samples: SampleSet,
    cohort: str,
    cfg: AdaptConfig,
    *,
    seed: int,
    threads: int | None,
    log: Callable[[str], None] = print,
) -> CohortAdaptation:
    """The three arms' out-of-fold predictions over `cohort` (see the module docstring)."""
    from gaitgrf.training.finetune import fine_tune
    from gaitgrf.training.loop import predict, train_once

    folds = cohort_folds(samples.groups, cohort, cfg.folds, seed)
    index = np.sort(np.concatenate([f.test for f in folds]))
    shape = (index.size, *samples.targets.shape[1:])
    out = {arm: np.full(shape, np.nan, dtype=np.float32) for arm in ARMS}
    losses: dict[str, list[float]] = {"fine_tuned": [], "scratch": []}
    out["none"][:] = start.predict_arrays(samples.inputs[index], samples.static[index])
    for n, fold in enumerate(folds):
        rows = np.searchsorted(index, fold.test)  # `index` is sorted and holds every test row
        tuned, fit = fine_tune(
            start,
            samples,
            fold.train,
            epochs=cfg.epochs,
            lr_factor=cfg.lr_factor,
            seed=seed,
            threads=threads,
        )
        out["fine_tuned"][rows] = tuned.predict_arrays(
            samples.inputs[fold.test], samples.static[fold.test]
        )
        losses["fine_tuned"].append(fit.history[-1].train_loss)
        scratch = train_once(
            samples,
            start.architecture,
            start.hp,
            fold.train,
            None,
            epochs=cfg.epochs,
            patience=0,
            seed=seed,
            threads=threads,
        )
        x, s = scratch.normaliser.transform(samples.take(fold.test))
        out["scratch"][rows] = predict(scratch.network, x, s)
        losses["scratch"].append(scratch.result.history[-1].train_loss)
        log(
            f"{cohort}: fold {n + 1}/{len(folds)}: trained on "
            f"{len(set(samples.groups[fold.train].tolist()))} subject(s), tested on "
            f"{len(set(samples.groups[fold.test].tolist()))}"
        )
    return CohortAdaptation(
        cohort=cohort,
        subjects=tuple(sorted(set(samples.groups[index].tolist()))),
        folds=len(folds),
        index=index,
        measured=samples.targets[index],
        groups=samples.groups[index],
        predicted=out,
        final_train_loss=losses,
    )
