"""Subject-wise splits: nobody on both sides, ever."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaitgrf.training.splits import (
    HoldOut,
    SplitError,
    alignment_band,
    group_kfold,
    hold_out,
    sample_index,
    strata,
)


def subjects(n: int, seed: int = 0, cohorts: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    groups = rng.choice(["healthy", "knee_oa", "post_surgery"], size=n)
    hka = np.where(groups == "knee_oa", rng.uniform(-15, 8, n), rng.normal(-1, 2, n))
    hka[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "cohort_id": [f"c{i % cohorts}" for i in range(n)],
            # The same subject ids in both cohorts: different people.
            "subject_id": [f"S{i // cohorts:03d}" for i in range(n)],
            "group": groups,
            "knee_alignment_left_deg": hka,
            "knee_alignment_right_deg": hka * 0.5,
        }
    )


@settings(max_examples=40, deadline=None)
@given(n=st.integers(4, 120), fraction=st.floats(0.1, 0.5), seed=st.integers(0, 10_000))
def test_hold_out_is_disjoint_and_complete(n: int, fraction: float, seed: int) -> None:
    table = subjects(n, seed)
    split = hold_out(table, fraction, seed)
    keys = set(strata(table))
    assert set(split.tuning) | set(split.test) == keys
    assert not set(split.tuning) & set(split.test)
    assert abs(len(split.test) - fraction * n) <= 1.0 + 1e-9
    assert split.test and split.tuning


def test_hold_out_is_stratified_and_reproducible() -> None:
    table = subjects(200, seed=3)
    a, b = hold_out(table, 0.25, 7), hold_out(table, 0.25, 7)
    assert a == b
    assert hold_out(table, 0.25, 8) != a
    by_key = strata(table)
    for stratum in set(by_key.values()):
        members = [k for k, v in by_key.items() if v == stratum]
        share = sum(k in a.test for k in members) / len(members)
        if len(members) >= 12:
            assert 0.1 <= share <= 0.4, stratum


@settings(max_examples=40, deadline=None)
@given(n=st.integers(3, 60), folds=st.integers(2, 5), seed=st.integers(0, 1000))
def test_group_kfold_never_mixes_subjects(n: int, folds: int, seed: int) -> None:
    keys = [f"c/S{i}" for i in range(n)]
    if folds > n:
        with pytest.raises(SplitError):
            list(group_kfold(keys, folds, seed))
        return
    seen: list[str] = []
    for train, val in group_kfold(keys * 3, folds, seed):  # repeated keys = many samples each
        assert not set(train) & set(val)
        assert set(train) | set(val) == set(keys)
        seen += val
    assert sorted(seen) == sorted(keys)


def test_sample_index_follows_subjects() -> None:
    groups = np.array(["c0/S1", "c0/S2", "c1/S1", "c0/S1"])
    assert sample_index(groups, ["c0/S1"]).tolist() == [0, 3]
    split = hold_out(subjects(10), 0.3, 0)
    train = sample_index(np.array(list(strata(subjects(10)))), split.tuning)
    test = sample_index(np.array(list(strata(subjects(10)))), split.test)
    assert not set(train) & set(test)


def test_overlap_is_refused() -> None:
    with pytest.raises(SplitError, match="both sides"):
        HoldOut(tuning=("c/S1", "c/S2"), test=("c/S2",))


@pytest.mark.parametrize(
    ("left", "right", "band"),
    [
        (-7.0, -1.0, "varus>=5"),
        (2.0, -1.0, "neutral"),
        (None, 6.0, "valgus>=5"),
        (float("nan"), None, "unknown"),
    ],
)
def test_alignment_band(left: float | None, right: float | None, band: str) -> None:
    assert alignment_band(left, right) == band
