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
    out = friedman(table, alpha=0.05)
    assert out["p_value"] < 0.001
    assert list(out["mean_rank"]) == ["good", "mid", "bad"]
    assert list(out["mean_rank"].values()) == [1.0, 2.0, 3.0]
    # Nemenyi: k = 3 over N = 10 subjects, q_0.05 = 2.343 (Demsar's table 5a).
    assert out["q_alpha"] == pytest.approx(2.343, abs=1e-3)
    assert out["cd"] == pytest.approx(out["q_alpha"] * np.sqrt(3 * 4 / (6 * 10)))
    assert friedman(table[["good", "bad"]])["p_value"] is None


# --- issue 15, section 1: effect sizes, Holm, Nemenyi ------------------------------------------
def test_effect_sizes_match_scipy() -> None:
    """Rank-biserial r = 2 T+ / S - 1 (T+ scipy's one-sided Wilcoxon statistic, S = n(n+1)/2)
    and Cohen's d_z = t / sqrt(n) (t of scipy's paired t-test)."""
    from scipy import stats

    rng = np.random.default_rng(3)
    base = pd.Series(rng.uniform(10, 12, 9), index=[f"s{i}" for i in range(9)])
    diff = np.array([-0.9, -0.4, 0.25, -1.3, -0.7, 0.6, -0.15, -1.1, -0.5])
    out = paired_comparison(base, base + diff, bootstrap=100, alpha=0.05)
    t_plus = stats.wilcoxon(diff, alternative="greater").statistic
    assert out["effect_size"] == pytest.approx(2 * t_plus / (9 * 10 / 2) - 1)
    t = stats.ttest_rel(base + diff, base).statistic
    assert out["cohens_dz"] == pytest.approx(t / np.sqrt(9))
    assert out["cohens_dz"] == pytest.approx(diff.mean() / diff.std(ddof=1))
    shifted = paired_comparison(base, base + 0.3, bootstrap=100, alpha=0.05)
    assert shifted["cohens_dz"] is None  # SD 0: unbounded, not a number to report
    assert shifted["p_holm"] == shifted["p_value"]  # alone, a family of one


def test_holm_matches_a_worked_example() -> None:
    """Holm (1979) as in R's p.adjust(c(.01, .04, .03, .005), "holm") = .03 .06 .06 .02, in
    the order given; capped at 1; non-decreasing along the sorted p-values."""
    from gaitgrf.pipeline.evaluate.stats import holm

    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == [1.0, 1.0]
    assert holm([0.02]) == [0.02] and holm([]) == []
    assert holm([0.01, 0.01, 0.2]) == pytest.approx([0.03, 0.03, 0.2])


def test_holm_adjusted_p_is_the_step_down_rejection() -> None:
    """adjusted p < alpha exactly when Holm's step-down procedure rejects at alpha: reject the
    i-th smallest (0-based) while p < alpha / (m - i), stop at the first that is not."""
    from gaitgrf.pipeline.evaluate.stats import holm

    rng = np.random.default_rng(4)
    for _ in range(200):
        p = list(rng.uniform(0, 0.1, size=int(rng.integers(1, 11))) ** 2)
        for alpha in (0.01, 0.05, 0.1):
            rejected = set()
            for i, j in enumerate(sorted(range(len(p)), key=lambda j: p[j])):
                if p[j] >= alpha / (len(p) - i):
                    break
                rejected.add(j)
            assert {j for j, a in enumerate(holm(p)) if a < alpha} == rejected


def test_the_verdict_uses_the_holm_p() -> None:
    """Ten subjects, exact Wilcoxon: raw p 0.0020, 0.0273 and 0.0371 (one subject against the
    rest, at rank 0, 6 and 7). Holm over three: 0.0059, 0.0547, 0.0547; only the first helps,
    though all three raw p are below 0.05."""
    from types import SimpleNamespace

    from gaitgrf.pipeline.evaluate.stats import feature_effects

    index = [f"s{i}" for i in range(10)]
    base = pd.Series(np.linspace(10, 12, 10), index=index)
    ranks = np.arange(1, 11, dtype=float)  # |diff| = rank / 10: the ranks are 1..10

    def pair(arch: str, against: int | None) -> list[SimpleNamespace]:
        diff = -ranks / 10
        if against is not None:
            diff[against - 1] *= -1  # the subject of rank `against` gets worse
        return [
            SimpleNamespace(
                architecture=arch,
                condition=c,
                diverged=None,
                subjects=pd.DataFrame({PRIMARY: base + (diff if c == "subject" else 0)}),
            )
            for c in ("base", "subject")
        ]

    results = [*pair("gru", None), *pair("mlp", 6), *pair("lstm", 7)]
    effects = feature_effects(results, bootstrap=100, alpha=0.05)  # type: ignore[arg-type]
    raw = {a: e["p_value"] for a, e in effects.items()}
    assert raw == pytest.approx({"gru": 2 / 1024, "mlp": 28 / 1024, "lstm": 38 / 1024})
    assert {a: e["p_holm"] for a, e in effects.items()} == pytest.approx(
        {"gru": 6 / 1024, "mlp": 56 / 1024, "lstm": 56 / 1024}
    )
    assert [effects[a]["helps"] for a in ("gru", "mlp", "lstm")] == [True, False, False]
    assert not any(e["hurts"] for e in effects.values())


def test_smallest_holm_p_is_what_the_exact_test_can_reach() -> None:
    from scipy import stats

    from gaitgrf.pipeline.evaluate.stats import smallest_holm_p

    assert stats.wilcoxon(np.arange(1.0, 9.0)).pvalue == pytest.approx(2.0**-7)
    assert smallest_holm_p(8, 10) == pytest.approx(10 * 2.0**-7)  # 0.078: never below 0.05
    assert smallest_holm_p(10, 10) < 0.05 and smallest_holm_p(3, 10) == 1.0


#: Demšar (2006), table 5(a): Nemenyi's q_alpha for k = 2..10 classifiers.
DEMSAR_Q = {
    0.05: [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164],
    0.10: [1.645, 2.052, 2.291, 2.459, 2.589, 2.693, 2.780, 2.855, 2.920],
}


@pytest.mark.parametrize("alpha", sorted(DEMSAR_Q))
def test_nemenyi_q_matches_demsars_table(alpha: float) -> None:
    from gaitgrf.pipeline.evaluate.stats import nemenyi_q

    got = [nemenyi_q(k, alpha) for k in range(2, 11)]
    assert got == pytest.approx(DEMSAR_Q[alpha], abs=1e-3)  # the table has 3 decimals


def test_critical_difference_of_demsars_example() -> None:
    """Demšar (2006), section 3.2.2: four algorithms on 14 data sets, CD = 2.569 sqrt(4 5 /
    (6 14)) = 1.25 at 0.05."""
    from gaitgrf.pipeline.evaluate.stats import critical_difference

    assert critical_difference(4, 14, 0.05) == pytest.approx(1.25, abs=0.005)
    assert critical_difference(4, 56, 0.05) == pytest.approx(1.2535 / 2, abs=0.001)  # 1/sqrt(N)


def test_cd_groups_are_the_maximal_runs_within_cd() -> None:
    from gaitgrf.pipeline.evaluate.stats import cd_groups

    ranks = {"e": 4.5, "a": 1.0, "b": 1.5, "c": 2.6, "d": 3.0}
    assert cd_groups(ranks, 1.2) == [["a", "b"], ["b", "c"], ["c", "d"]]
    assert cd_groups({"a": 1.0, "b": 1.2, "c": 1.4, "d": 5.0}, 1.0) == [["a", "b", "c"]]
    assert cd_groups({"a": 1.0, "b": 2.0}, 1.0) == []  # a difference of CD is significant
    assert cd_groups(ranks, 10.0) == [["a", "b", "c", "d", "e"]]


# --- issue 15, section 1: the tests themselves against scipy on known data ---------------------
def test_paired_p_value_and_bootstrap_ci_match_scipy() -> None:
    """The Wilcoxon p is scipy's on the paired differences (exact for n <= 50 without ties),
    and the percentile bootstrap CI of the mean agrees with scipy.stats.bootstrap's percentile
    interval (different resamples: within Monte Carlo error)."""
    from scipy import stats

    diff = np.array([-1.2, -0.8, 0.3, -0.5, -1.9, 0.4, -0.7, -1.1, -0.2, -0.9, 0.6, -1.4])
    base = pd.Series(np.linspace(10, 13, diff.size), index=[f"s{i}" for i in range(diff.size)])
    out = paired_comparison(base, base + diff, bootstrap=20_000, alpha=0.05, seed=1)
    assert out["p_value"] == pytest.approx(stats.wilcoxon(diff).pvalue)
    assert out["p_value"] == pytest.approx(stats.wilcoxon(base + diff, base).pvalue)
    reference = stats.bootstrap(
        (diff,), np.mean, n_resamples=20_000, method="percentile", random_state=2
    ).confidence_interval
    assert out["ci"][0] == pytest.approx(reference.low, abs=0.05)
    assert out["ci"][1] == pytest.approx(reference.high, abs=0.05)
    assert out["ci"][0] < diff.mean() < out["ci"][1]


def test_friedman_statistic_and_ranks_match_scipy_and_the_formula() -> None:
    """chi2_F = 12 N / (k (k + 1)) (sum R_j^2 - k (k + 1)^2 / 4) on mean ranks R_j (Demšar 2006,
    no ties), equal to scipy's friedmanchisquare, p from chi2 with k - 1 df."""
    from scipy import stats

    table = pd.DataFrame(
        {
            "a": [3.1, 2.8, 4.0, 3.3, 2.9, 3.6, 3.0, 3.8],
            "b": [3.4, 3.5, 3.9, 3.0, 3.3, 3.7, 3.6, 4.1],
            "c": [4.2, 3.1, 4.4, 3.9, 3.8, 3.5, 4.0, 4.6],
            "d": [3.9, 3.9, 4.1, 4.3, 3.6, 4.4, 3.7, 4.2],
        }
    )
    out = friedman(table, alpha=0.05)
    n, k = table.shape
    ranks = np.apply_along_axis(stats.rankdata, 1, table.to_numpy()).mean(axis=0)
    chi2 = 12 * n / (k * (k + 1)) * (np.sum(ranks**2) - k * (k + 1) ** 2 / 4)
    scipy_result = stats.friedmanchisquare(*[table[c] for c in table])
    assert out["statistic"] == pytest.approx(chi2)
    assert out["statistic"] == pytest.approx(scipy_result.statistic)
    assert out["p_value"] == pytest.approx(stats.chi2.sf(chi2, k - 1))
    assert out["mean_rank"] == pytest.approx(dict(zip(table.columns, ranks, strict=True)))
