"""What a study trains and scores on: the fixed hold-out and GroupKFold folds of sample positions.

Subject-wise throughout: the held-out test subjects never enter a study; each trial trains on
the training subjects of a fold (normalisation fitted there) and is scored on the fold's
validation subjects. Cohorts named in `tune.external_cohorts` are test only: no sample of theirs
is in a fold or in the refit. `check_subject_wise` verifies both before any trial runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gaitgrf.core.config import TuneConfig
from gaitgrf.core.samples import SampleSet
from gaitgrf.pipeline.tune.study import TuningError
from gaitgrf.training.splits import (
    HoldOut,
    cohort_of,
    group_kfold,
    sample_index,
    split_subjects,
)


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

    @property
    def external_index(self) -> np.ndarray:
        return sample_index(self.samples.groups, self.split.external)


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
    """Raise if any subject is on both sides of the hold-out or of any fold, or if a sample of an
    external cohort is in a fold or in the refit's pool (the tuning subjects)."""
    groups = data.samples.groups
    test = set(groups[data.test_index]) | set(groups[data.external_index])
    for k, (train, val) in enumerate(data.folds):
        train_s, val_s = set(groups[train]), set(groups[val])
        leaks = (train_s & val_s) | (train_s & test) | (val_s & test)
        if leaks:
            raise TuningError(f"fold {k}: subjects on both sides of a split: {sorted(leaks)}")
    external = set(data.split.external_cohorts)
    if not external:
        return
    pools = [
        (f"fold {k} {side}", idx)
        for k, f in enumerate(data.folds)
        for side, idx in zip(("training", "validation"), f, strict=True)
    ]
    for where, index in [*pools, ("refit", data.tuning_index)]:
        found = sorted({cohort_of(str(g)) for g in groups[index]} & external)
        if found:
            raise TuningError(f"{where}: samples of external cohort(s) {found}")


def subsample(index: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """At most `limit` positions of `index`, drawn without replacement, in ascending order."""
    if limit is None or index.size <= limit:
        return index
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(index, size=limit, replace=False))
