"""Evaluation metrics and statistics (gaitgrf.pipeline.evaluate.metrics and .stats): known
answers on constructed data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gaitgrf.pipeline.evaluate.metrics import (
    PRIMARY,
    component_metrics,
    peak_errors,
    per_subject,
)
from gaitgrf.pipeline.evaluate.stats import friedman, paired_comparison


def curves(n: int = 6, t: int = 101, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, t)
    a = rng.uniform(0.9, 1.1, size=(n, 1))
    return np.stack(
        [
            a * (np.sin(np.pi * x) + 0.2 * np.sin(3 * np.pi * x)),
            0.2 * a * np.sin(2 * np.pi * x) * -1,
            0.05 * a * np.sin(np.pi * x),
        ],
        axis=1,
    )


def test_perfect_prediction() -> None:
    y = curves()
    m = component_metrics(y, y.copy())
    for name in ("vertical", "anterior", "lateral"):
        assert m[f"{name}_rmse"] == 0.0
        assert m[f"{name}_rrmse"] == 0.0
        assert m[f"{name}_r"] == pytest.approx(1.0)
        assert m[f"{name}_r2"] == pytest.approx(1.0)
    assert m[PRIMARY] == 0.0


def test_constant_offset_gives_known_rmse_and_rrmse() -> None:
    y = curves()
    p = y.copy()
    p[:, 0] += 0.1
    m = component_metrics(y, p)
    assert m["vertical_rmse"] == pytest.approx(0.1)
    span = np.ptp(y[:, 0], axis=1).mean()  # an offset does not change the range
    assert m["vertical_rrmse"] == pytest.approx(100 * 0.1 / span)
    assert m["vertical_r"] == pytest.approx(1.0)  # correlation ignores the offset
    assert m["vertical_r2"] < 1.0
    assert m["anterior_rmse"] == 0.0


def test_peak_errors_see_first_and_second_vertical_peak() -> None:
    y = curves()
    p = y.copy()
    p[:, 0, :50] *= 1.1  # only the first half: first peak wrong, second right
    e = peak_errors(y, p)
    assert e["vertical_peak1_abs_err"] > 0.05
    assert e["vertical_peak2_abs_err"] == pytest.approx(0.0)
    assert e["anterior_braking_abs_err"] == 0.0


def test_per_subject_rows() -> None:
    y = curves(n=6)
    groups = np.array(["c/a", "c/a", "c/b", "c/b", "c/c", "c/c"])
    p = y.copy()
    p[groups == "c/b"] += 0.2
    table = per_subject(groups, y, p, stance=True)
    assert list(table.index) == ["c/a", "c/b", "c/c"]
    assert table.loc["c/b", "vertical_rmse"] == pytest.approx(0.2)
    assert table.loc["c/a", "vertical_rmse"] == 0.0


def test_paired_comparison_detects_consistent_improvement() -> None:
    rng = np.random.default_rng(1)
    base = pd.Series(rng.uniform(10, 12, 12), index=[f"s{i}" for i in range(12)])
    better = base - rng.uniform(0.5, 1.0, 12)
    out = paired_comparison(base, better, bootstrap=500, alpha=0.05)
    assert out["helps"] is True
    assert out["p_value"] < 0.01
    assert out["effect_size"] == pytest.approx(-1.0)
    assert out["ci"][1] < 0
    worse = paired_comparison(base, base + 0.3, bootstrap=500, alpha=0.05)
    assert worse["helps"] is False and worse["effect_size"] == pytest.approx(1.0)


def test_paired_comparison_without_difference() -> None:
    s = pd.Series([1.0, 2.0, 3.0], index=["a", "b", "c"])
    out = paired_comparison(s, s.copy(), bootstrap=100, alpha=0.05)
    assert out["helps"] is False and out["p_value"] is None


def test_friedman_ranks_the_consistently_best_first() -> None:
    rng = np.random.default_rng(2)
    table = pd.DataFrame(
        {"good": rng.uniform(5, 6, 10), "mid": rng.uniform(7, 8, 10), "bad": rng.uniform(9, 10, 10)}
    )
    out = friedman(table)
    assert out["p_value"] < 0.001
    assert list(out["mean_rank"]) == ["good", "mid", "bad"]
    assert friedman(table[["good", "bad"]])["p_value"] is None
