"""The evaluation's DVC metrics (metrics.json): a few headline numbers, numbers only.

`dvc metrics show` and `dvc exp show` give every key of every metrics file a column of one
table. With every model's metrics (20 models x 17, and again per cohort), the statistics per
architecture and strings such as the best study's name in metrics.json, `dvc exp show` was ~750
columns wide (issue 17). metrics.json keeps what experiments are compared on: the best ranked
model's accuracy, how many models converged, the best per condition and what the tests conclude.
Every model's numbers are in the plots' tables (`plots/scores.csv`, `plots/cohorts.csv`), and
everything else, names and reasons included, in summary.json (docs/evaluation.md, "Outputs").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np

from gaitgrf.pipeline.evaluate.cohorts import COMPACT
from gaitgrf.pipeline.evaluate.metrics import PRIMARY, ModelResult

#: Digits kept: enough for a diff, no float noise in the table.
DIGITS: Final = 5


def _finite(metrics: Mapping[str, Any], keys: Sequence[str]) -> dict[str, float]:
    return {
        k: round(float(metrics[k]), DIGITS)
        for k in keys
        if isinstance(metrics.get(k), float | int) and np.isfinite(metrics[k])
    }


def _best(values: Sequence[float]) -> dict[str, float]:
    finite = [v for v in values if np.isfinite(v)]
    return {f"best_{PRIMARY}": round(min(finite), DIGITS)} if finite else {}


def headline_metrics(
    results: Sequence[ModelResult],
    kept: Sequence[ModelResult],
    effects: Mapping[str, Mapping[str, Any]],
    tests: Mapping[str, Mapping[str, Any]],
    baseline: Mapping[str, Any],
) -> dict[str, Any]:
    """metrics.json from every model (`results`), the converged ones (`kept`, which rank), the
    feature effects, the Friedman tests per condition and the physics baseline.

    `best` is the best ranked model's primary metric and component rRMSE and r (its name is
    in summary.json); `conditions.<c>` the best `rrmse_mean` of each condition and its Friedman
    p; `feature_effects` how many architectures the subject features significantly help or
    hurt; `cohorts.<c>.best_rrmse_mean` only with more than one cohort (with one it is `best`).
    """
    best = min(kept, key=lambda r: r.pooled[PRIMARY])
    out: dict[str, Any] = {
        "best": _finite(best.pooled, COMPACT),
        "models": {"ranked": len(kept), "diverged": len(results) - len(kept)},
        "conditions": {
            condition: {
                **_best([r.pooled[PRIMARY] for r in kept if r.condition == condition]),
                **_finite(
                    {"friedman_p": (tests.get(condition) or {}).get("p_value")}, ["friedman_p"]
                ),
            }
            for condition in dict.fromkeys(r.condition for r in results)
        },
        "feature_effects": {
            "helps": sum(bool(e.get("helps")) for e in effects.values()),
            "hurts": sum(bool(e.get("hurts")) for e in effects.values()),
        },
    }
    if baseline.get("available"):
        out["physics_baseline"] = _finite(baseline, [PRIMARY])
    cohorts = sorted({name for r in kept for name in r.cohorts})
    if len(cohorts) > 1:
        out["cohorts"] = {
            name: _best([r.cohorts[name][PRIMARY] for r in kept if name in r.cohorts])
            for name in cohorts
        }
    return out
