"""The evaluation of nested cross-validation (`tune.evaluation: nested`): all subjects, paired.

Each tune stage in nested mode wrote every subject's out-of-fold prediction (`oof.npz`,
`pipeline/tune/nested.py`). Here they are scored per subject exactly as the hold-out is
(`metrics.py`), and the same statistics (`stats.py`: paired subject-vs-base comparison with
bootstrap CI, effect sizes and Holm; Friedman / Nemenyi) run on them, now over every subject
(40 on the default cohort, not the hold-out's 8). The section sits beside the hold-out's in
reports/evaluation.md and summary.json (`nested`); the hold-out's stays what the promotion
gate reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from gaitgrf.core.artifacts import Artifacts
from gaitgrf.core.config import TuneConfig
from gaitgrf.core.errors import GaitGrfError
from gaitgrf.core.samples import SampleSet
from gaitgrf.pipeline.evaluate.cd_plot import plot_critical_difference
from gaitgrf.pipeline.evaluate.divergence import converged
from gaitgrf.pipeline.evaluate.headline import DIGITS
from gaitgrf.pipeline.evaluate.metrics import PRIMARY, ModelResult, scored_result
from gaitgrf.pipeline.evaluate.report import effect_lines, fmt, friedman_lines
from gaitgrf.pipeline.evaluate.stats import feature_effects, friedman_by_condition
from gaitgrf.pipeline.tune.nested import NESTED_FILE, OOF_FILE, outer_folds

#: The critical-difference plot of the nested section (a panel saying it is off in holdout mode).
NESTED_CD_PLOT: Final = "critical_difference_nested.png"


class NestedEvaluationError(GaitGrfError):
    hint = (
        "with tune.evaluation: nested every tune stage writes oof.npz; re-run them "
        "(`dvc repro`, or `dvc exp run -S tune.evaluation=nested`)"
    )


def nested_results(
    artifacts: Artifacts, subjects: pd.DataFrame, cfg: TuneConfig, studies: Sequence[str]
) -> list[ModelResult]:
    """Every study's out-of-fold predictions scored per subject and pooled (`ModelResult`).

    The outer folds are drawn again here and must equal those each study recorded (and its
    predictions must be of the current samples), or its predictions are stale.
    """
    loaded: dict[str, SampleSet] = {}
    results = []
    for study in studies:
        summary = json.loads(artifacts.study_summary(study).read_text())
        condition = summary["condition"]
        if condition not in loaded:
            loaded[condition] = SampleSet.load(artifacts.fused_set(cfg.layout, condition))
        results.append(
            _scored(artifacts.study_dir(study), summary, loaded[condition], subjects, cfg)
        )
    return results


def _scored(
    folder: Path,
    summary: Mapping[str, Any],
    samples: SampleSet,
    subjects: pd.DataFrame,
    cfg: TuneConfig,
) -> ModelResult:
    try:
        record = json.loads((folder / NESTED_FILE).read_text())
        with np.load(folder / OOF_FILE) as oof:
            positions, predicted = oof["positions"], oof["predictions"]
            groups = oof["groups"]
    except FileNotFoundError:
        raise NestedEvaluationError(
            f"{folder}: no {OOF_FILE} (the study was tuned with tune.evaluation: holdout)"
        ) from None
    _, folds = outer_folds(samples, subjects, cfg)
    recorded = [sorted(f["test"]) for f in record["folds"]]
    if recorded != [sorted(f.test) for f in folds] or not (
        positions.size
        and positions.max() < len(samples)
        and np.array_equal(samples.groups[positions], groups)
    ):
        raise NestedEvaluationError(
            f"{folder / OOF_FILE}: its outer folds or samples differ from the current ones "
            "(data, seed or tune.outer_folds changed since tuning); re-run the tune stage"
        )
    losses = [f["cv_val_loss"] for f in record["folds"] if f["cv_val_loss"] is not None]
    return scored_result(
        {**summary, "outer_folds": record["outer_folds"]},
        str(summary["architecture"]),
        str(summary["condition"]),
        float(np.mean(losses)) if losses else float("nan"),
        samples.targets[positions],
        predicted,
        groups,
        stance=cfg.layout == "stance",
    )


def nested_section(
    results: Sequence[ModelResult] | None, plots: Path, *, bootstrap: int, alpha: float
) -> tuple[dict[str, Any] | None, list[str]]:
    """summary.json's `nested` entry and the report's section; writes the nested CD plot.

    `results` None (holdout mode): no entry, no section, and a plot saying the mode is off
    (the file always exists, as DVC expects of a stage's plot).
    """
    path = plots / NESTED_CD_PLOT
    if results is None:
        _plot_off(path)
        return None, []
    kept = converged(results)
    effects = feature_effects(results, bootstrap=bootstrap, alpha=alpha)
    tests = friedman_by_condition(kept, alpha)
    plot_critical_difference(tests, path, alpha)
    n = len({str(g) for r in results for g in r.groups})
    folds = max((int(r.summary.get("outer_folds", 0)) for r in results), default=0)
    summary = {
        "subjects": n,
        "outer_folds": folds,
        "models": {
            r.study: {k: round(v, DIGITS) for k, v in r.pooled.items() if np.isfinite(v)}
            for r in results
        },
        "diverged": [r.study for r in results if r.diverged is not None],
        "feature_effects": effects,
        "friedman": tests,
    }
    return summary, _lines(results, effects, tests, n, folds, alpha)


def _lines(
    results: Sequence[ModelResult],
    effects: Mapping[str, Mapping[str, Any]],
    tests: Mapping[str, Mapping[str, Any]],
    subjects: int,
    folds: int,
    alpha: float,
) -> list[str]:
    lines = [
        f"## Nested cross-validation, all {subjects} subjects",
        "",
        f"Every subject predicted once, out of fold: {folds} outer folds (stratified, "
        "`tune.outer_folds`), each tuned (inner GroupKFold) and refit on its training subjects "
        "only and tested on its own (`tune.evaluation: nested`, docs/evaluation.md). The "
        "hold-out sections above are the promotion gate's; this one has the power.",
        "",
        "| study | rRMSE mean % | vertical r | anterior r | lateral r | mean outer cv loss |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(results, key=lambda r: (r.pooled[PRIMARY], r.study)):
        flag = " (diverged, not tested)" if r.diverged else ""
        lines.append(
            f"| {r.study}{flag} | {fmt(r.pooled[PRIMARY], 2)} | {fmt(r.pooled['vertical_r'])} | "
            f"{fmt(r.pooled['anterior_r'])} | {fmt(r.pooled['lateral_r'])} | "
            f"{fmt(r.cv_val_loss)} |"
        )
    lines += [""]
    lines += effect_lines(
        effects, alpha, heading=f"### Do subject features help? (paired, all {subjects} subjects)"
    )
    lines += friedman_lines(
        tests,
        alpha,
        heading="### Across architectures (Friedman test, Nemenyi critical difference)",
        plot=NESTED_CD_PLOT,
    )
    return [*lines, ""]


def _plot_off(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 1.0))
    ax.set_axis_off()
    ax.text(0.5, 0.5, "nested cross-validation off (tune.evaluation: holdout)", ha="center")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
