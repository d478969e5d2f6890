"""Diverged models: which ones, and the report's account of them (docs/evaluation.md).

A model whose training diverged cannot be ranked by rRMSE: its denominator is the mean range of
the measured *and predicted* curves, so as the predictions blow up rRMSE does not grow without
bound but settles at 200 % x RMS error / mean range of the predicted curves (40-70 % for noisy
or wavy outputs). A model with a vertical RMSE of 120 BW then ranks at 49 %, above converged
but weak models, and stretches every chart scale. Such a model is flagged, kept out of the
ranks, the statistics and the plots, and listed on its own.

The rule has no tuned threshold; the bound is the data's own scale. A model diverged on the
test samples when
* any prediction is non-finite, or
* on some force component its RMSE exceeds the measured span of the force: max - min over
  every component, test sample and time point (in body weights; about 1.2 BW for walking, the
  vertical swing).
Why the span: a constant guess anywhere inside it is never further than the span from any
measured value of any component, so its RMSE is at most the span. A model above it errs more
than every such constant guess, even one on the wrong component's scale: its outputs have left
the scale of the data, which is not what a weak model does. The span of the whole force, not of
each component: the medio-lateral force swings a tenth of a BW or less, and a briefly trained
model's lateral error of 0.1 BW makes it a poor model (ranked low), not a diverged one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gaitgrf.core.samples import TARGETS

if TYPE_CHECKING:
    import pandas as pd

    from gaitgrf.pipeline.evaluate.metrics import ModelResult


def divergence(measured: np.ndarray, predicted: np.ndarray) -> str | None:
    """Why the (N, 3, T) predictions count as diverged (the module's rule), or None."""
    bad = int(np.size(predicted) - np.count_nonzero(np.isfinite(predicted)))
    if bad:
        return f"{bad} non-finite predicted value(s)"
    y = measured.astype(np.float64)
    span = float(y.max() - y.min()) if y.size else 0.0
    reasons = []
    for k, name in enumerate(TARGETS):
        rmse = float(np.sqrt(np.mean((predicted[:, k, :].astype(np.float64) - y[:, k, :]) ** 2)))
        if span > 0 and rmse > span:
            reasons.append(f"{name} RMSE {rmse:.3g} BW")
    if not reasons:
        return None
    return f"{', '.join(reasons)} > the measured force span {span:.3g} BW"


def converged(results: Sequence[ModelResult]) -> list[ModelResult]:
    """The results that may be ranked, tested and plotted (not diverged), in their order."""
    return [r for r in results if r.diverged is None]


def diverged_lines(table: pd.DataFrame) -> list[str]:
    """The report's list of diverged models (rows of `report.ranking` with a `diverged`
    reason), below the ranking; empty when every model converged."""
    rows: list[dict[Any, Any]] = [r for r in table.to_dict("records") if r.get("diverged")]
    if not rows:
        return []
    lines = [
        "",
        f"**Diverged, not ranked ({len(rows)}):** an error above the measured span of the force "
        "(worse than any constant guess inside it) or non-finite predictions "
        '(docs/evaluation.md, "Diverged models"). Left out of the ranking, the peak errors, the '
        "per-cohort tables, the statistics and the plots; their numbers are in ranking.csv and "
        "metrics.csv.",
        "",
        "| architecture | condition | why | rRMSE mean % (not comparable) | cv val loss |",
        "|---|---|---|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['architecture']} | {row['condition']} | {row['diverged']} | "
            f"{_g(row.get('rrmse_mean'))} | {_g(row.get('cv_val_loss'))} |"
        )
    return lines


def _g(value: Any) -> str:
    """Three significant digits whatever the size (a diverged loss can be 2.4e+08)."""
    return f"{value:.3g}" if isinstance(value, float) and np.isfinite(value) else "-"
