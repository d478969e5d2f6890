"""Subject-wise splits: no subject is ever on both sides of a split.

A fixed test set of held-out subjects is drawn once (stratified by group and by alignment band,
so both conditions and all architectures are compared on the same, representative people), and
tuning uses GroupKFold over the remaining subjects. Subjects are keyed `cohort/subject`, so the
same id in two cohorts is two people. Cohorts named external (`tune.external_cohorts`) are test
only: their subjects are set aside before the hold-out is drawn from the other cohorts, so they
never reach a fold or the refit ("trained on synthetic, tested on a lab cohort").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gaitgrf.core.errors import GaitGrfError

if TYPE_CHECKING:
    from gaitgrf.core.config import TuneConfig
    from gaitgrf.core.samples import SampleSet

#: Alignment bands (HKA degrees, varus negative): the OA literature's <5 deg vs >=5 deg varus,
#: valgus, and unknown.
ALIGNMENT_BANDS = ("varus>=5", "neutral", "valgus>=5", "unknown")


class SplitError(ValueError):
    pass


class UnknownCohortError(SplitError, GaitGrfError):
    """An external cohort the data does not hold: a typo would otherwise test on nothing."""

    hint = "tune.external_cohorts names cohort ids of data/raw (`gaitgrf cohort list`)"


@dataclass(frozen=True)
class HoldOut:
    """Subject keys for tuning (train + validation folds), the hold-out test and the external
    cohorts (test only; empty unless `tune.external_cohorts` names some)."""

    tuning: tuple[str, ...]
    test: tuple[str, ...]
    external: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        sides = (set(self.tuning), set(self.test), set(self.external))
        overlap = (sides[0] & sides[1]) | (sides[0] & sides[2]) | (sides[1] & sides[2])
        if overlap:
            raise SplitError(f"subjects on both sides of the hold-out split: {sorted(overlap)}")
        internal = {cohort_of(k) for k in self.tuning + self.test}
        shared = sorted(internal & {cohort_of(k) for k in self.external})
        if shared:
            raise SplitError(f"cohort(s) {shared} both external and tuned on")

    @property
    def evaluated(self) -> tuple[str, ...]:
        """Every subject the evaluation scores: the hold-out test and the external cohorts."""
        return tuple(sorted(self.test + self.external))

    @property
    def external_cohorts(self) -> tuple[str, ...]:
        return tuple(sorted({cohort_of(k) for k in self.external}))


def subject_key(cohort_id: str, subject_id: str) -> str:
    return f"{cohort_id}/{subject_id}"


def cohort_of(key: str) -> str:
    """The cohort of a `cohort/subject` key."""
    return key.split("/", 1)[0]


def alignment_band(hka_left: float | None, hka_right: float | None) -> str:
    """Band of the more deformed knee; unknown when neither side is recorded."""
    known = [v for v in (hka_left, hka_right) if v is not None and not np.isnan(v)]
    if not known:
        return "unknown"
    worst = max(known, key=abs)
    if worst <= -5.0:
        return "varus>=5"
    if worst >= 5.0:
        return "valgus>=5"
    return "neutral"


def strata(subjects: pd.DataFrame) -> dict[str, str]:
    """`cohort/subject` -> stratum `group|alignment band`."""
    left = pd.to_numeric(subjects["knee_alignment_left_deg"], errors="coerce").to_numpy(float)
    right = pd.to_numeric(subjects["knee_alignment_right_deg"], errors="coerce").to_numpy(float)
    return {
        subject_key(str(c), str(s)): f"{g}|{alignment_band(float(lv), float(rv))}"
        for c, s, g, lv, rv in zip(
            subjects["cohort_id"],
            subjects["subject_id"],
            subjects["group"],
            left,
            right,
            strict=True,
        )
    }


def hold_out(subjects: pd.DataFrame, test_fraction: float, seed: int) -> HoldOut:
    """Draw about `test_fraction` of the subjects of every stratum as the test set.

    Strata are visited in a fixed order and rounding is carried over between them, so the total
    matches `test_fraction` of all subjects and small strata still contribute over the cohort.
    """
    if not 0.0 < test_fraction < 1.0:
        raise SplitError(f"test_fraction must be in (0, 1), got {test_fraction}")
    groups: dict[str, list[str]] = defaultdict(list)
    for key, stratum in sorted(strata(subjects).items()):
        groups[stratum].append(key)
    total = sum(len(v) for v in groups.values())
    if total < 2:
        raise SplitError(f"need at least 2 subjects for a hold-out split, got {total}")
    rng = np.random.default_rng(seed)
    target = max(1, min(total - 1, round(test_fraction * total)))
    test: list[str] = []
    carry = 0.0
    for stratum in sorted(groups):
        members = list(groups[stratum])
        rng.shuffle(members)
        exact = test_fraction * len(members) + carry
        take = min(len(members), int(np.floor(exact + 0.5)))
        carry = exact - take
        test += members[:take]
    # Rounding across strata can miss the overall target by one or two: fix it at random.
    remaining = sorted(set(k for v in groups.values() for k in v) - set(test))
    rng.shuffle(remaining)
    while len(test) < target:
        test.append(remaining.pop())
    while len(test) > target:
        test.pop(int(rng.integers(len(test))))
    tuning = sorted(set(k for v in groups.values() for k in v) - set(test))
    return HoldOut(tuning=tuple(tuning), test=tuple(sorted(test)))


def split_subjects(samples: SampleSet, subjects: pd.DataFrame, cfg: TuneConfig) -> HoldOut:
    """The fixed hold-out: same subjects for every study and for evaluation (same seed).

    External cohorts are set aside first and the hold-out is drawn from the other cohorts
    exactly as without them, so an empty `external_cohorts` gives today's split.
    """
    keys = subjects["cohort_id"].astype(str) + "/" + subjects["subject_id"].astype(str)
    present = subjects[keys.isin(set(np.unique(samples.groups)))]
    if not cfg.external_cohorts:
        return hold_out(present, cfg.test_fraction, cfg.seed)
    cohorts = sorted({cohort_of(str(k)) for k in np.unique(samples.groups)})
    missing = [c for c in cfg.external_cohorts if c not in cohorts]
    if missing:
        raise UnknownCohortError(
            f"tune.external_cohorts: cohort(s) {', '.join(missing)} not in the data "
            f"(cohorts present: {', '.join(cohorts)})"
        )
    is_external = present["cohort_id"].astype(str).isin(set(cfg.external_cohorts))
    if is_external.all():
        raise SplitError(
            f"tune.external_cohorts names every cohort ({', '.join(cohorts)}): none is left "
            "to tune on"
        )
    inner = hold_out(present[~is_external], cfg.test_fraction, cfg.seed)
    external = present[is_external]
    external_keys = external["cohort_id"].astype(str) + "/" + external["subject_id"].astype(str)
    return HoldOut(inner.tuning, inner.test, tuple(sorted(external_keys)))


def group_kfold(
    keys: Sequence[str], folds: int, seed: int
) -> Iterator[tuple[list[str], list[str]]]:
    """(train, validation) subject keys for each of `folds` folds; each subject validates once."""
    unique = sorted(set(keys))
    if folds < 2 or folds > len(unique):
        raise SplitError(f"cannot make {folds} folds from {len(unique)} subjects")
    order = np.random.default_rng(seed).permutation(len(unique))
    assignment = {unique[i]: n % folds for n, i in enumerate(order)}
    for fold in range(folds):
        val = [k for k in unique if assignment[k] == fold]
        train = [k for k in unique if assignment[k] != fold]
        yield train, val


def sample_index(groups: np.ndarray, subjects: Sequence[str]) -> np.ndarray:
    """Positions of the samples whose subject key is in `subjects`."""
    return np.flatnonzero(np.isin(groups, np.asarray(list(subjects))))


def stratified_group_folds(
    subjects: pd.DataFrame, keys: Sequence[str], folds: int, seed: int
) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(train, test) subject keys of `folds` outer folds over `keys`: each key tested once.

    Stratified as `hold_out` is (group and alignment band): the subjects of each stratum are
    shuffled and dealt to the folds in turn, the deal carried on from one stratum to the next,
    so every fold gets its share of each stratum and fold sizes differ by at most one. Nested
    cross-validation's outer folds (`pipeline/tune/nested.py`).
    """
    wanted = set(keys)
    by_stratum: dict[str, list[str]] = defaultdict(list)
    for key, stratum in sorted(strata(subjects).items()):
        if key in wanted:
            by_stratum[stratum].append(key)
    found = sum(len(v) for v in by_stratum.values())
    if found != len(wanted):
        missing = sorted(wanted - {k for v in by_stratum.values() for k in v})
        raise SplitError(f"subjects {missing[:5]} not in the subjects table")
    if folds < 2 or folds > found:
        raise SplitError(f"cannot make {folds} outer folds from {found} subjects")
    rng = np.random.default_rng(seed)
    assignment: dict[str, int] = {}
    turn = int(rng.integers(folds))
    for stratum in sorted(by_stratum):
        members = list(by_stratum[stratum])
        rng.shuffle(members)
        for key in members:
            assignment[key] = turn
            turn = (turn + 1) % folds
    ordered = sorted(assignment)
    return [
        (
            tuple(k for k in ordered if assignment[k] != fold),
            tuple(k for k in ordered if assignment[k] == fold),
        )
        for fold in range(folds)
    ]
