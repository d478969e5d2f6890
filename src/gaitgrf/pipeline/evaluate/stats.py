"""Statistics across models: do subject features help, and do architectures differ?

Whether subject features help is answered per architecture from paired per-subject primary
metrics (Wilcoxon signed-rank, matched-pairs rank-biserial correlation and Cohen's d_z as effect
sizes, bootstrap CI of the mean difference), Holm-corrected across architectures; whether
architectures differ, with a Friedman test per condition and the Nemenyi critical difference of
its mean ranks (docs/evaluation.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from gaitgrf.pipeline.evaluate.metrics import PRIMARY, ModelResult

#: A comparison without a test: no p-value, effect size or CI, neither verdict.
_UNTESTED: Final = {
    "p_value": None,
    "p_holm": None,
    "effect_size": None,
    "cohens_dz": None,
    "ci": None,
    "helps": False,
    "hurts": False,
}


def paired_comparison(
    base: pd.Series, subject: pd.Series, *, bootstrap: int, alpha: float, seed: int = 0
) -> dict[str, Any]:
    """Does `subject` (with features) beat `base` on the same subjects? Lower is better.

    Difference = subject - base (negative: the features help). Wilcoxon signed-rank (two-sided)
    and a percentile bootstrap CI of the mean difference. Two effect sizes, because each answers
    what the other cannot:
    * `effect_size`, the matched-pairs rank-biserial correlation (-1: every subject improves,
      +1: every subject worsens): the effect size *of the Wilcoxon test*, from the same signed
      ranks, so it agrees with the p-value, needs no normality and one outlying subject cannot
      dominate it. It is the one the verdict goes with.
    * `cohens_dz` = mean difference / SD of the differences (ddof 1): the standardised size
      of the mean the CI is about, comparable with the literature and what a power calculation
      for the paired t-test takes. None when every subject shifts by the same amount (SD 0:
      the ratio is unbounded).
    `p_holm` is the p-value adjusted for the architectures tested together: here a family of
    one (= `p_value`); `feature_effects` adjusts across architectures and decides again.
    `helps` / `hurts`: the two-sided test rejects "no difference" at `alpha` (Holm) and the mean
    difference is below / above zero; both False is no evidence either way (`verdict`). A
    two-sided test answers both directions: a significant harm is a finding, not the absence
    of help.
    """
    from scipy import stats

    both = pd.concat([base.rename("base"), subject.rename("subject")], axis=1).dropna()
    diff = (both["subject"] - both["base"]).to_numpy()
    n = diff.size
    out: dict[str, Any] = {"subjects": int(n), "mean_diff": float(diff.mean()) if n else None}
    if n < 2 or np.allclose(diff, 0):
        return {**out, **_UNTESTED}
    p_value = float(stats.wilcoxon(diff, zero_method="wilcox").pvalue)
    nonzero = diff[diff != 0]
    ranks = stats.rankdata(np.abs(nonzero))
    effect = float((ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum()) / ranks.sum())
    sd = float(diff.std(ddof=1))
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, n, size=(bootstrap, n))].mean(axis=1)
    ci = [float(np.quantile(means, alpha / 2)), float(np.quantile(means, 1 - alpha / 2))]
    tested = {
        **out,
        "median_diff": float(np.median(diff)),
        "p_value": p_value,
        "effect_size": effect,
        "cohens_dz": float(diff.mean()) / sd if sd > 1e-12 * abs(diff.mean()) else None,
        "ci": ci,
    }
    return decide(tested, p_value, alpha)


def decide(effect: Mapping[str, Any], p_holm: float, alpha: float) -> dict[str, Any]:
    """`effect` with its Holm-adjusted p and the verdict it carries at `alpha`: the direction
    is the mean difference's, the evidence the adjusted p's."""
    mean = float(effect["mean_diff"])
    return {
        **effect,
        "p_holm": p_holm,
        "helps": bool(mean < 0 and p_holm < alpha),
        "hurts": bool(mean > 0 and p_holm < alpha),
    }


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni step-down adjusted p-values, in the order given.

    Sorted ascending, the i-th smallest (0-based) of m is multiplied by m - i, made
    non-decreasing (a later hypothesis is never rejected before an earlier one) and capped at
    1; adjusted p < alpha is exactly Holm's rejection at alpha. Why Holm: it controls the
    family-wise error like Bonferroni under any dependence between the tests (the
    architectures share the same test subjects, so their tests are not independent), and
    rejects at least as much.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def smallest_holm_p(subjects: int, tested: int) -> float:
    """The smallest Holm-adjusted p any of `tested` architectures can reach with `subjects`
    pairs: the exact two-sided Wilcoxon p of all pairs one way is 2 / 2^n, times m. Above
    alpha, no verdict is possible whatever the data (8 subjects, 10 architectures: 0.078)."""
    return min(1.0, tested * 2.0 ** (1 - subjects)) if subjects > 0 else 1.0


def verdict(effect: Mapping[str, Any]) -> str:
    """What a `paired_comparison` says of the subject features, in the report's words."""
    if effect.get("diverged"):
        return "not tested (a model diverged)"
    if effect.get("helps"):
        return "helps"
    if effect.get("hurts"):
        return "hurts"
    return "no evidence"


def nemenyi_q(k: int, alpha: float) -> float:
    """Nemenyi's q_alpha for k treatments: the Studentized range quantile (infinite degrees of
    freedom) over sqrt(2), the constant of Demšar (2006), table 5a (k = 10, 0.05: 3.164)."""
    from scipy.stats import studentized_range

    return float(studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2))


def critical_difference(k: int, n: int, alpha: float) -> float:
    """Nemenyi critical difference of mean ranks: CD = q_alpha sqrt(k (k + 1) / (6 N)). Two of
    k architectures ranked over N subjects differ at `alpha` when their mean ranks differ by at
    least CD (Demšar 2006, section 3.2.2)."""
    return nemenyi_q(k, alpha) * float(np.sqrt(k * (k + 1) / (6 * n)))


def cd_groups(mean_rank: Mapping[str, float], cd: float) -> list[list[str]]:
    """The maximal runs of architectures (by mean rank) whose ranks all lie within less than
    `cd` of each other: the bars of a critical-difference plot, not significantly different.
    Runs of one are left out (an architecture different from all others has no bar)."""
    names = sorted(mean_rank, key=lambda a: mean_rank[a])
    groups: list[list[str]] = []
    previous_end = -1
    for i, first in enumerate(names):
        end = i  # the last name within less than cd of `first`; never decreases with i
        while end + 1 < len(names) and mean_rank[names[end + 1]] - mean_rank[first] < cd:
            end += 1
        if end > i and end > previous_end:  # not inside the run before it
            groups.append(names[i : end + 1])
        previous_end = end
    return groups


def friedman(table: pd.DataFrame, alpha: float = 0.05) -> dict[str, Any]:
    """Friedman test over the columns (architectures) of a subjects x architectures table, with
    the mean ranks (1 = best) and their Nemenyi critical difference `cd` at `alpha`.

    The CD is reported whatever the Friedman p: Demšar's procedure reads it only after the
    Friedman test rejects, and the report says so beside it.
    """
    from scipy import stats

    complete = table.dropna()
    k, n = complete.shape[1], complete.shape[0]
    if k < 3 or n < 2:
        return {"statistic": None, "p_value": None, "subjects": int(n)}
    result = stats.friedmanchisquare(*[complete[c].to_numpy() for c in complete.columns])
    mean_rank = complete.rank(axis=1).mean().sort_values()
    return {
        "statistic": float(result.statistic),
        "p_value": float(result.pvalue),
        "subjects": int(n),
        "architectures": int(k),
        "q_alpha": nemenyi_q(k, alpha),
        "cd": critical_difference(k, n, alpha),
        "mean_rank": {str(key): float(v) for key, v in mean_rank.items()},
    }


def feature_effects(
    results: Sequence[ModelResult], *, bootstrap: int, alpha: float
) -> dict[str, dict[str, Any]]:
    """`paired_comparison` per architecture with both conditions, Holm-adjusted over the
    architectures that have a p-value (the family: a test not run cannot be a false
    discovery), and the verdicts decided on the adjusted p. A pair with a diverged model
    (`divergence.py`) is not tested: the diverged side's errors would decide the test alone."""
    by_key = {(r.architecture, r.condition): r for r in results}
    out: dict[str, dict[str, Any]] = {}
    for arch in dict.fromkeys(r.architecture for r in results):
        if (arch, "base") not in by_key or (arch, "subject") not in by_key:
            continue
        base, subject = by_key[(arch, "base")], by_key[(arch, "subject")]
        if base.diverged is not None or subject.diverged is not None:
            out[arch] = {"subjects": 0, "mean_diff": None, **_UNTESTED, "diverged": True}
            continue
        out[arch] = paired_comparison(
            base.subjects[PRIMARY], subject.subjects[PRIMARY], bootstrap=bootstrap, alpha=alpha
        )
    tested = [a for a, e in out.items() if e["p_value"] is not None]
    for arch, p_holm in zip(tested, holm([out[a]["p_value"] for a in tested]), strict=True):
        out[arch] = decide(out[arch], p_holm, alpha)
    return out


def friedman_by_condition(
    results: Sequence[ModelResult], alpha: float = 0.05
) -> dict[str, dict[str, Any]]:
    """`friedman` per condition over the given (converged) models' per-subject primary metric."""
    out = {}
    for condition in dict.fromkeys(r.condition for r in results):
        table = pd.DataFrame(
            {r.architecture: r.subjects[PRIMARY] for r in results if r.condition == condition}
        )
        out[condition] = friedman(table, alpha)
    return out
