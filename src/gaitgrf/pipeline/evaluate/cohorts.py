"""Every model's metrics per cohort: the table, the long rows, the DVC metrics and the report.

One cohort's numbers answer a question the pooled ones hide: with `tune.external_cohorts` a
model tuned and refit on the other cohorts is scored on a cohort it never saw ("trained on
synthetic, tested on a lab cohort", "leave one cohort out"), and with several internal cohorts
the pooled figure can be carried by the largest one. External cohorts are marked everywhere
(docs/evaluation.md, "Per cohort").
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from gaitgrf.core.samples import TARGETS
from gaitgrf.pipeline.evaluate.metrics import PRIMARY, ModelResult
from gaitgrf.pipeline.evaluate.report import fmt
from gaitgrf.training.splits import cohort_of

#: A model's headline numbers: the best model's in metrics.json, each model's in the plots'
#: tables and summary.json's `cohorts` (every metric is in metrics.csv).
COMPACT: Final = (PRIMARY, *(f"{n}_rrmse" for n in TARGETS), *(f"{n}_r" for n in TARGETS))


def cohort_counts(result: ModelResult) -> dict[str, tuple[int, int]]:
    """Cohort -> (test subjects, test samples) of one model's evaluation."""
    cohorts = np.array([cohort_of(str(g)) for g in result.groups])
    return {
        name: (len(set(result.groups[cohorts == name].tolist())), int((cohorts == name).sum()))
        for name in sorted(set(cohorts.tolist()))
    }


def cohort_table(results: Sequence[ModelResult], external: Collection[str]) -> pd.DataFrame:
    """One row per model and cohort: counts, whether the cohort is external, every metric."""
    rows = []
    for res in results:
        counts = cohort_counts(res)
        for name, metrics in res.cohorts.items():
            rows.append(
                {
                    "architecture": res.architecture,
                    "condition": res.condition,
                    "cohort": name,
                    "external": name in external,
                    "subjects": counts[name][0],
                    "samples": counts[name][1],
                    **metrics,
                }
            )
    return pd.DataFrame(rows)


def cohort_long(results: Sequence[ModelResult]) -> pd.DataFrame:
    """The per-cohort pooled rows of metrics.csv (`subject` = pooled, `cohort` = the cohort)."""
    frames = [
        pd.DataFrame(
            {
                "architecture": res.architecture,
                "condition": res.condition,
                "cohort": name,
                "subject": "pooled",
                "metric": list(metrics),
                "value": list(metrics.values()),
            }
        )
        for res in results
        for name, metrics in res.cohorts.items()
    ]
    return pd.concat(frames, ignore_index=True)


def cohort_metrics_json(
    results: Sequence[ModelResult], external: Collection[str]
) -> dict[str, Any]:
    """summary.json's `cohorts`: per cohort its counts, `external`, and per study COMPACT."""
    out: dict[str, Any] = {}
    for res in results:
        counts = cohort_counts(res)
        for name, metrics in res.cohorts.items():
            entry = out.setdefault(
                name,
                {
                    "external": name in external,
                    "subjects": counts[name][0],
                    "samples": counts[name][1],
                    "models": {},
                },
            )
            entry["models"][res.study] = {
                k: round(metrics[k], 5) for k in COMPACT if np.isfinite(metrics.get(k, np.nan))
            }
    return dict(sorted(out.items()))


def cohort_plot_table(table: pd.DataFrame, order: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """plots/cohorts.csv, the DVC bar plot of every model on every cohort: `cohort_table`'s
    COMPACT columns, cohort by cohort in ranking `order`, labelled `<cohort>: <arch>/<cond>`
    (one bar each, as the chart has one axis of names)."""
    rank = {key: i for i, key in enumerate(order)}
    keys = list(zip(table["architecture"], table["condition"], strict=True))
    labelled = table.assign(
        model=table["cohort"] + ": " + table["architecture"] + "/" + table["condition"],
        _order=[rank.get(key, len(rank)) for key in keys],
    ).sort_values(["cohort", "_order"], kind="stable")
    columns = ["cohort", "external", "architecture", "condition", "subjects", *COMPACT, "model"]
    return labelled[columns]


def _label(name: str, external: Collection[str]) -> str:
    return f"{name} (external)" if name in external else name


def cohort_markdown(
    table: pd.DataFrame, order: Sequence[tuple[str, str]], external: Collection[str]
) -> list[str]:
    """The report's "Per cohort" section: `rrmse_mean` overview (rows: models in ranking
    `order`; columns: cohorts), then one table per cohort with the component metrics."""
    rows: dict[tuple[str, str, str], dict[Any, Any]] = {
        (str(r["architecture"]), str(r["condition"]), str(r["cohort"])): r
        for r in table.to_dict("records")
    }
    cohorts = sorted({key[2] for key in rows})
    lines = [
        "## Per cohort",
        "",
        "Metrics pooled over each cohort's test subjects. An external cohort "
        "(`tune.external_cohorts`) is test only: never tuned on, never refit on, not gated by "
        "promotion. Every metric per cohort: `reports/evaluation/metrics.csv`.",
        "",
        f"`{PRIMARY}` (%):",
        "",
        "| architecture | condition | " + " | ".join(_label(c, external) for c in cohorts) + " |",
        "|---|---|" + "---:|" * len(cohorts),
    ]
    for arch, cond in order:
        cells = [fmt(rows.get((arch, cond, c), {}).get(PRIMARY), 2) for c in cohorts]
        lines.append(f"| {arch} | {cond} | " + " | ".join(cells) + " |")
    for name in cohorts:
        mine = [(a, c, rows[(a, c, name)]) for a, c in order if (a, c, name) in rows]
        lines += [
            "",
            f"### {_label(name, external)}: {mine[0][2]['subjects']} subjects, "
            f"{mine[0][2]['samples']} samples",
            "",
            "| architecture | condition | rRMSE mean % | vertical r / rRMSE % | "
            "anterior r / rRMSE % | lateral r / rRMSE % | vertical RMSE BW |",
            "|---|---|---:|---|---|---|---:|",
        ]
        for arch, cond, row in mine:
            comps = " | ".join(
                f"{fmt(row[f'{n}_r'])} / {fmt(row[f'{n}_rrmse'], 1)}" for n in TARGETS
            )
            lines.append(
                f"| {arch} | {cond} | {fmt(row[PRIMARY], 2)} | {comps} | "
                f"{fmt(row['vertical_rmse'])} |"
            )
    return [*lines, ""]
