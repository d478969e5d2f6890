"""Held-out test metrics of one model: per force component, per test subject and pooled.

Metrics per force component (vertical, anterior, lateral), per test subject and pooled over all
test samples (docs/evaluation.md):
* `rmse` in body weights; `rrmse` (%) = RMSE / mean peak-to-peak range of the measured and
  predicted curves (the field's definition, so components of different size compare);
* `r` (Pearson) and `r2` over the concatenated curves;
* peak errors on stance-normalised samples (mean absolute error, BW): vertical first and second
  peak (maximum of the first / second half of stance), anterior braking (minimum of the first
  half) and propulsive (maximum of the second half) peaks.
The primary metric is `rrmse_mean`, the mean rRMSE of the three components: lower is better and
the medio-lateral force, the hardest, weighs as much as the others. Because the rRMSE
denominator includes the predicted range, it saturates for a model that diverged: such a model
is flagged (`divergence.py`) and not ranked.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from gaitgrf.core.samples import TARGETS
from gaitgrf.pipeline.evaluate.divergence import divergence
from gaitgrf.training.splits import cohort_of

if TYPE_CHECKING:
    from gaitgrf.predictor import GrfPredictor

PRIMARY: Final = "rrmse_mean"
PEAKS: Final = ("vertical_peak1", "vertical_peak2", "anterior_braking", "anterior_propulsive")


# --- metrics -----------------------------------------------------------------------------------
def component_metrics(measured: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Metrics of (N, 3, T) predictions against measurements, pooled over the N samples."""
    out: dict[str, float] = {}
    for k, name in enumerate(TARGETS):
        y = measured[:, k, :].astype(np.float64)
        p = predicted[:, k, :].astype(np.float64)
        err = p - y
        rmse = float(np.sqrt(np.mean(err**2)))
        span = 0.5 * (np.ptp(y, axis=1) + np.ptp(p, axis=1))
        mean_span = float(np.mean(span))
        yf, pf = y.ravel(), p.ravel()
        ss_tot = float(np.sum((yf - yf.mean()) ** 2))
        r = float(np.corrcoef(yf, pf)[0, 1]) if yf.std() > 0 and pf.std() > 0 else float("nan")
        out[f"{name}_rmse"] = rmse
        out[f"{name}_rrmse"] = 100.0 * rmse / mean_span if mean_span > 0 else float("nan")
        out[f"{name}_r"] = r
        out[f"{name}_r2"] = 1.0 - float(np.sum(err**2)) / ss_tot if ss_tot > 0 else float("nan")
    out[PRIMARY] = float(np.mean([out[f"{n}_rrmse"] for n in TARGETS]))
    return out


def peak_errors(measured: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Mean absolute peak errors (BW) of stance-normalised samples (N, 3, T)."""
    half = measured.shape[2] // 2

    def peaks(a: np.ndarray) -> np.ndarray:
        return np.stack(
            [
                a[:, 0, :half].max(axis=1),
                a[:, 0, half:].max(axis=1),
                a[:, 1, :half].min(axis=1),
                a[:, 1, half:].max(axis=1),
            ],
            axis=1,
        )

    diff = np.abs(peaks(predicted) - peaks(measured))
    return {f"{name}_abs_err": float(diff[:, j].mean()) for j, name in enumerate(PEAKS)}


def sample_metrics(
    measured: np.ndarray, predicted: np.ndarray, *, stance: bool
) -> dict[str, float]:
    metrics = component_metrics(measured, predicted)
    if stance:
        metrics.update(peak_errors(measured, predicted))
    return metrics


def per_subject(
    groups: np.ndarray, measured: np.ndarray, predicted: np.ndarray, *, stance: bool
) -> pd.DataFrame:
    """One row per subject (index: `cohort/subject`), one column per metric."""
    rows = {
        key: sample_metrics(measured[groups == key], predicted[groups == key], stance=stance)
        for key in sorted(set(groups.tolist()))
    }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("subject")


def per_cohort(
    groups: np.ndarray, measured: np.ndarray, predicted: np.ndarray, *, stance: bool
) -> dict[str, dict[str, float]]:
    """Every metric pooled over each cohort's test samples (cohort of the `cohort/subject` key):
    a model trained on one cohort is judged on each other cohort separately."""
    cohorts = np.array([cohort_of(str(g)) for g in groups])
    return {
        name: sample_metrics(measured[cohorts == name], predicted[cohorts == name], stance=stance)
        for name in sorted(set(cohorts.tolist()))
    }


# --- compute profile ---------------------------------------------------------------------------
def compute_profile(predictor: GrfPredictor, inputs: np.ndarray, static: np.ndarray) -> dict:
    """Parameters and median CPU latency of one sample (batch of 1, after a warm-up)."""
    params = sum(p.numel() for p in predictor.network.parameters())
    one_x, one_s = inputs[:1], static[:1]
    predictor.predict_arrays(one_x, one_s)
    times = []
    for _ in range(7):
        start = time.perf_counter()
        predictor.predict_arrays(one_x, one_s)
        times.append(time.perf_counter() - start)
    return {"parameters": int(params), "latency_ms": 1000.0 * float(np.median(times))}


# --- one model on the test set -----------------------------------------------------------------
@dataclass
class ModelResult:
    study: str
    architecture: str
    condition: str
    cv_val_loss: float
    pooled: dict[str, float]
    subjects: pd.DataFrame
    profile: dict[str, Any]
    predicted: np.ndarray
    measured: np.ndarray
    groups: np.ndarray
    summary: dict[str, Any]
    #: Cohort -> every metric pooled over that cohort's test samples (`pooled` is all of them).
    cohorts: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Why the model counts as diverged on the test samples (`divergence.py`), None if not:
    #: a diverged model is listed, never ranked, tested or plotted.
    diverged: str | None = None


def evaluate_model(
    predictor: GrfPredictor,
    inputs: np.ndarray,
    static: np.ndarray,
    targets: np.ndarray,
    groups: np.ndarray,
    summary: Mapping[str, Any],
) -> ModelResult:
    predicted = predictor.predict_arrays(inputs, static)
    return scored_result(
        summary,
        predictor.architecture,
        predictor.condition,
        float(summary.get("cv_val_loss") or np.nan),
        targets,
        predicted,
        groups,
        stance=predictor.layout == "stance",
        profile=compute_profile(predictor, inputs, static),
    )


def scored_result(
    summary: Mapping[str, Any],
    architecture: str,
    condition: str,
    cv_val_loss: float,
    measured: np.ndarray,
    predicted: np.ndarray,
    groups: np.ndarray,
    *,
    stance: bool,
    profile: dict[str, Any] | None = None,
) -> ModelResult:
    """Every metric of `predicted` against `measured`: pooled, per subject, per cohort, and
    whether it diverged. The hold-out (`evaluate_model`) and nested CV's out-of-fold
    predictions (`nested.py`) are scored by this one function."""
    return ModelResult(
        study=str(summary["study"]),
        architecture=architecture,
        condition=condition,
        cv_val_loss=cv_val_loss,
        pooled=sample_metrics(measured, predicted, stance=stance),
        subjects=per_subject(groups, measured, predicted, stance=stance),
        profile=profile or {},
        predicted=predicted,
        measured=measured,
        groups=groups,
        summary=dict(summary),
        cohorts=per_cohort(groups, measured, predicted, stance=stance),
        diverged=divergence(measured, predicted),
    )
