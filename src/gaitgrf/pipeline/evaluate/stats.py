"""Statistics across models: do subject features help, and do architectures differ?

Whether subject features help is answered per architecture from paired per-subject primary
metrics (Wilcoxon signed-rank, matched-pairs rank-biserial effect size, bootstrap CI of the mean
difference), and across architectures with a Friedman test per condition (docs/evaluation.md).
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
    "effect_size": None,
    "ci": None,
    "helps": False,
    "hurts": False,
}


def paired_comparison(
    base: pd.Series, subject: pd.Series, *, bootstrap: int, alpha: float, seed: int = 0
) -> dict[str, Any]:
    """Does `subject` (with features) beat `base` on the same subjects? Lower is better.

    Difference = subject - base (negative: the features help). Wilcoxon signed-rank (two-sided),
    matched-pairs rank-biserial correlation (-1: every subject improves), and a percentile
    bootstrap CI of the mean difference. `helps` / `hurts`: the two-sided test rejects "no
    difference" at `alpha` and the mean difference is below / above zero; both False is no
    evidence either way (`verdict`). A two-sided test answers both directions: a significant
    harm is a finding, not the absence of help.
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
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, n, size=(bootstrap, n))].mean(axis=1)
    ci = [float(np.quantile(means, alpha / 2)), float(np.quantile(means, 1 - alpha / 2))]
    return {
        **out,
        "median_diff": float(np.median(diff)),
        "p_value": p_value,
        "effect_size": effect,
        "ci": ci,
        "helps": bool(diff.mean() < 0 and p_value < alpha),
        "hurts": bool(diff.mean() > 0 and p_value < alpha),
    }


def verdict(effect: Mapping[str, Any]) -> str:
    """What a `paired_comparison` says of the subject features, in the report's words."""
    if effect.get("diverged"):
        return "not tested (a model diverged)"
    if effect.get("helps"):
        return "helps"
    if effect.get("hurts"):
        return "hurts"
    return "no evidence"


def friedman(table: pd.DataFrame) -> dict[str, Any]:
    """Friedman test over the columns (architectures) of a subjects x architectures table."""
    from scipy import stats

    complete = table.dropna()
    if complete.shape[1] < 3 or complete.shape[0] < 2:
        return {"statistic": None, "p_value": None, "subjects": int(complete.shape[0])}
    result = stats.friedmanchisquare(*[complete[c].to_numpy() for c in complete.columns])
    mean_rank = complete.rank(axis=1).mean().sort_values()
    return {
        "statistic": float(result.statistic),
        "p_value": float(result.pvalue),
        "subjects": int(complete.shape[0]),
        "mean_rank": {str(k): float(v) for k, v in mean_rank.items()},
    }


def feature_effects(
    results: Sequence[ModelResult], *, bootstrap: int, alpha: float
) -> dict[str, dict[str, Any]]:
    """`paired_comparison` per architecture with both conditions. A pair with a diverged model
    (`divergence.py`) is not tested: the diverged side's errors would decide the test alone."""
    by_key = {(r.architecture, r.condition): r for r in results}
    out = {}
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
    return out


def friedman_by_condition(results: Sequence[ModelResult]) -> dict[str, dict[str, Any]]:
    out = {}
    for condition in dict.fromkeys(r.condition for r in results):
        table = pd.DataFrame(
            {r.architecture: r.subjects[PRIMARY] for r in results if r.condition == condition}
        )
        out[condition] = friedman(table)
    return out
