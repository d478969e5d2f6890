"""What the `adapt` stage writes: a markdown table per cohort, compact DVC metrics, subject rows.

The metrics file holds numbers only (one entry per cohort and arm, the headline metrics), so
`dvc metrics show` stays readable; the per-subject table is a CSV beside it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import pandas as pd

from gaitgrf.core.samples import TARGETS
from gaitgrf.pipeline.adapt.run import ARMS, CohortAdaptation

#: Per arm in metrics.json: r and rRMSE of each component and the primary metric.
HEADLINE: Final = (
    *(f"{t}_{m}" for t in TARGETS for m in ("r", "rrmse")),
    "rrmse_mean",
)
ARM_LABEL: Final = {
    "none": "no adaptation (start model)",
    "fine_tuned": "fine-tuned from the start model",
    "scratch": "trained on the cohort alone",
}


def adaptation_metrics(
    results: Sequence[CohortAdaptation], *, stance: bool
) -> dict[str, dict[str, dict[str, float]]]:
    """{cohort: {arm: {metric: value}}}, pooled over the cohort's out-of-fold predictions."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for result in results:
        pooled = result.pooled(stance=stance)
        out[result.cohort] = {arm: {k: pooled[arm][k] for k in HEADLINE} for arm in ARMS}
    return out


def subject_table(results: Sequence[CohortAdaptation], *, stance: bool) -> pd.DataFrame:
    """One row per (cohort, arm, subject), the headline metrics as columns."""
    frames = []
    for result in results:
        for arm, table in result.per_subject(stance=stance).items():
            frame = table[list(HEADLINE)].reset_index()
            frame.insert(0, "arm", arm)
            frame.insert(0, "cohort", result.cohort)
            frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["cohort", "arm", "subject", *HEADLINE])
    return pd.concat(frames, ignore_index=True)


def markdown(
    results: Sequence[CohortAdaptation],
    metrics: Mapping[str, Mapping[str, Mapping[str, float]]],
    context: Mapping[str, Any],
) -> str:
    lines = [
        "# Adaptation to real cohorts",
        "",
        f"Start model: `{context['start']}`; {context['epochs']} epoch(s) of fine-tuning at "
        f"{context['lr_factor']:g} x its learning rate, and the same epochs from scratch. "
        "Subject-wise folds inside each cohort: every subject is predicted by models that "
        "never saw it (docs/adaptation.md).",
        "",
    ]
    if not results:
        lines.append("No cohort to adapt to: set `adapt.cohorts` (external cohorts) in params.")
        return "\n".join(lines) + "\n"
    head = " | ".join(f"{t} r | {t} rRMSE %" for t in TARGETS)
    for result in results:
        lines += [
            f"## {result.cohort}",
            "",
            f"{len(result.subjects)} subjects, {result.index.size} samples, {result.folds} folds.",
            "",
            f"| model | {head} | mean rRMSE % |",
            "|---|" + "---|" * (2 * len(TARGETS) + 1),
        ]
        for arm in ARMS:
            m = metrics[result.cohort][arm]
            cells = " | ".join(f"{m[f'{t}_r']:.3f} | {m[f'{t}_rrmse']:.1f}" for t in TARGETS)
            lines.append(f"| {ARM_LABEL[arm]} | {cells} | {m['rrmse_mean']:.1f} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def write_adaptation(
    folder: Path,
    report: Path,
    results: Sequence[CohortAdaptation],
    context: Mapping[str, Any],
    *,
    stance: bool,
) -> dict[str, Any]:
    """Write report.md, metrics.json and subjects.csv; return the metrics."""
    folder.mkdir(parents=True, exist_ok=True)
    metrics = adaptation_metrics(results, stance=stance)
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    subject_table(results, stance=stance).to_csv(folder / "subjects.csv", index=False)
    report.write_text(markdown(results, metrics, context))
    return metrics
