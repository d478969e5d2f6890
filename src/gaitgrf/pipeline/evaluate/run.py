"""The `evaluate` stage: every study's refit model on the held-out test subjects, compared.

`evaluate_studies` loads each tuned model and scores it (`metrics`), `write_outputs` writes the
ranking, statistics (`stats`), report and plots (`report`, `cd_plot`), summary.json and the
headline DVC metrics (`headline`), and `log_to_mlflow` records the same in MLflow
(docs/evaluation.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gaitgrf.core.artifacts import SUMMARY_FILE, Artifacts
from gaitgrf.core.errors import GaitGrfError
from gaitgrf.pipeline.evaluate.cd_plot import CD_PLOT, plot_critical_difference
from gaitgrf.pipeline.evaluate.cohorts import (
    COMPACT,
    cohort_long,
    cohort_markdown,
    cohort_metrics_json,
    cohort_plot_table,
    cohort_table,
)
from gaitgrf.pipeline.evaluate.divergence import converged
from gaitgrf.pipeline.evaluate.headline import DIGITS, headline_metrics
from gaitgrf.pipeline.evaluate.metrics import PRIMARY, ModelResult, evaluate_model
from gaitgrf.pipeline.evaluate.nested import nested_results, nested_section
from gaitgrf.pipeline.evaluate.physics_row import physics_baseline
from gaitgrf.pipeline.evaluate.report import (
    budget_lines,
    long_metrics,
    markdown_report,
    plot_bars,
    plot_curves,
    ranked_rows,
    ranking,
)
from gaitgrf.pipeline.evaluate.stats import feature_effects, friedman_by_condition

if TYPE_CHECKING:
    from gaitgrf.core.config import Params


class EvaluationError(GaitGrfError):
    hint = "run the tune stages first (`dvc repro`); evaluation reads data/tuned/*/"


def write_outputs(
    results: Sequence[ModelResult],
    artifacts: Artifacts,
    context: Mapping[str, Any],
    *,
    bootstrap: int,
    alpha: float,
    nested: Sequence[ModelResult] | None = None,
) -> dict[str, Any]:
    """Write the report, CSVs, plots, summary.json and the DVC metrics; return the summary.

    `nested`: the out-of-fold results of nested cross-validation (`nested.py`), given in
    `tune.evaluation: nested` mode: their own section of the report and of summary.json.

    summary.json holds every number and name of the comparison (best study, every model's
    pooled metrics, diverged studies, per cohort, physics baseline, statistics); metrics.json
    only its headline numbers (`headline.py`), so `dvc exp show` stays readable.

    Diverged models (`divergence.py`) are in the CSVs and listed in the report, but kept out of
    the ranks, the statistics, the per-cohort tables and the plots (the critical-difference plot
    included): their saturated rRMSE would rank them above converged models and their errors
    would set the charts' scales.
    """
    if not results:
        raise EvaluationError("no tuned model to evaluate")
    kept = converged(results)
    if not kept:
        raise EvaluationError(
            "every model diverged on the test subjects, nothing to compare: "
            + "; ".join(f"{r.study}: {r.diverged}" for r in results)
        )
    out_dir, report_path = artifacts.evaluation_dir(), artifacts.evaluation_report()
    out_dir.mkdir(parents=True, exist_ok=True)
    table = ranking(results)
    effects = feature_effects(results, bootstrap=bootstrap, alpha=alpha)
    tests = friedman_by_condition(kept, alpha)
    external = list(context.get("external_cohorts") or [])
    table.to_csv(out_dir / "ranking.csv", index=False)
    pd.concat([long_metrics(results), cohort_long(results)], ignore_index=True).to_csv(
        out_dir / "metrics.csv", index=False
    )
    best = min(kept, key=lambda r: r.pooled[PRIMARY])
    ranked = ranked_rows(table)
    order = list(zip(ranked["architecture"], ranked["condition"], strict=True))
    per_cohort = cohort_table(kept, external)
    _write_plots(ranked, per_cohort, best, out_dir / "plots")
    plot_critical_difference(tests, out_dir / "plots" / CD_PLOT, alpha)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    baseline = context.get("physics_baseline", {})
    context = {
        **context,
        "alpha": alpha,
        "budget_lines": budget_lines(results),
        "cohort_lines": cohort_markdown(per_cohort, order, external),
    }
    nested_summary, nested_lines = nested_section(
        nested, out_dir / "plots", bootstrap=bootstrap, alpha=alpha
    )
    report_path.write_text(
        markdown_report(table, effects, tests, context) + "\n".join(nested_lines)
    )
    summary = {
        "best": {"study": best.study, PRIMARY: best.pooled[PRIMARY]},
        "models": {
            r.study: {k: round(v, DIGITS) for k, v in r.pooled.items() if np.isfinite(v)}
            for r in results
        },
        "diverged": [r.study for r in results if r.diverged is not None],
        "cohorts": cohort_metrics_json(results, external),
        "physics_baseline": {
            k: round(v, DIGITS) if isinstance(v, float) else v
            for k, v in baseline.items()
            if not isinstance(v, float) or np.isfinite(v)
        },
        "feature_effects": effects,
        "friedman": tests,
        "nested": nested_summary,
    }
    (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    metrics = headline_metrics(results, kept, effects, tests, baseline)
    artifacts.evaluation_metrics().write_text(json.dumps(metrics, indent=2) + "\n")
    return summary


def _write_plots(
    ranked: pd.DataFrame, per_cohort: pd.DataFrame, best: ModelResult, plots: Path
) -> None:
    """The DVC plots' tables (every ranked model's headline numbers, pooled and per cohort:
    the per-model matrices kept out of metrics.json), the bar chart (ranked models only: their
    scale) and the best model's curves on its best and worst test subject."""
    plots.mkdir(parents=True, exist_ok=True)
    ranked[["architecture", "condition", *COMPACT]].assign(
        model=ranked["architecture"] + "/" + ranked["condition"]
    ).to_csv(plots / "scores.csv", index=False)
    order = list(zip(ranked["architecture"], ranked["condition"], strict=True))
    cohort_plot_table(per_cohort, order).to_csv(plots / "cohorts.csv", index=False)
    by_subject = best.subjects[PRIMARY].sort_values()
    for which, subject in (("best", by_subject.index[0]), ("worst", by_subject.index[-1])):
        plot_curves(
            best,
            str(subject),
            plots / f"curves_{which}_subject.png",
            f"{best.study}: {which} test subject {subject}",
        )
    plot_bars(ranked, plots / "architectures.png")


# --- loading the tuned models ------------------------------------------------------------------
def evaluate_studies(
    artifacts: Artifacts,
    subjects: pd.DataFrame,
    cfg: Any,
    studies: Sequence[str],
    log: Any = print,
    progress: Callable[[int, int, str], None] | None = None,
) -> tuple[list[ModelResult], dict[str, Any]]:
    """Evaluate every study's refit model on the held-out test subjects.

    `progress(done, total, what)` is called before each study (`total`: the studies).

    `cfg` is the TuneConfig whose seed and fraction drew the hold-out: the test subjects are
    drawn again here and must equal those each study recorded, or its model is stale.
    """
    from gaitgrf.core.samples import SampleSet
    from gaitgrf.predictor import GrfPredictor
    from gaitgrf.training.splits import sample_index, split_subjects

    results: list[ModelResult] = []
    baseline: dict[str, Any] = {}
    loaded: dict[str, SampleSet] = {}
    context: dict[str, Any] = {}
    for done, study in enumerate(studies):
        if progress is not None:
            progress(done, len(studies), f"evaluating {study} on the test subjects")
        folder, summary_path = artifacts.study_dir(study), artifacts.study_summary(study)
        try:
            summary = json.loads(summary_path.read_text())
        except FileNotFoundError:
            raise EvaluationError(
                f"{folder}: no {summary_path.name}; run `dvc repro` to tune"
            ) from None
        condition = summary["condition"]
        if condition not in loaded:
            loaded[condition] = SampleSet.load(artifacts.fused_set(cfg.layout, condition))
        samples = loaded[condition]
        split = split_subjects(samples, subjects, cfg)
        recorded = summary["subjects"]
        if sorted(recorded["test"]) != sorted(split.test) or sorted(
            recorded.get("external", [])
        ) != sorted(split.external):
            raise EvaluationError(
                f"{summary_path}: its test subjects differ from the current hold-out "
                "(data, split or external cohorts changed since tuning); re-run the tune stage"
            )
        # The hold-out and every external cohort: per cohort and pooled (`cohorts.py`).
        idx = sample_index(samples.groups, split.evaluated)
        predictor = GrfPredictor.load(artifacts.study_bundle(study))
        result = evaluate_model(
            predictor,
            samples.inputs[idx],
            samples.static[idx],
            samples.targets[idx],
            samples.groups[idx],
            summary,
        )
        log(
            f"{study}: {PRIMARY} {result.pooled[PRIMARY]:.2f} %, vertical r "
            f"{result.pooled['vertical_r']:.3f} ({result.profile['parameters']:,} parameters)"
            + (f"; DIVERGED, not ranked: {result.diverged}" if result.diverged else "")
        )
        results.append(result)
        if not baseline:  # the same samples for every study: scored once
            baseline = physics_baseline(artifacts.resampled_set(cfg.layout), samples, idx)
        context = {
            "physics_baseline": baseline,
            "test_subjects": len(split.evaluated),
            "test_samples": int(idx.size),
            "layout": cfg.layout,
            "data_version": summary.get("data_version"),
            "test_subject_ids": list(split.evaluated),
            "external_cohorts": list(split.external_cohorts),
            "external_subjects": len(split.external),
        }
    return results, context


def log_to_mlflow(
    tracker: Any,
    results: Sequence[ModelResult],
    artifacts: Sequence[Path],
    context: Mapping[str, Any],
) -> str:
    """One evaluation run per model + a `comparison` run holding the report; returns its id.

    Each model's run takes the study's logged pyfunc model as input (the run page's Logged
    models) and logs its test metrics on that model too (the logged model's Metrics, each with
    this run and the dataset), unless this store does not hold the model the summary names.
    """
    from gaitgrf.tracking.client import EVALUATION_EXPERIMENT, logged_model_id
    from gaitgrf.tracking.conventions import data_digest

    data_tags = {"gaitgrf.data_version": str(context.get("data_version"))}
    for res in results:
        run = tracker.start_run(
            EVALUATION_EXPERIMENT,
            res.study,
            {
                **data_tags,
                "gaitgrf.study": res.study,
                "gaitgrf.architecture": res.architecture,
                "gaitgrf.condition": res.condition,
                "gaitgrf.refit_run": str((res.summary.get("mlflow") or {}).get("refit_run_id")),
                **({"gaitgrf.diverged": res.diverged} if res.diverged else {}),
            },
            note=f"{res.study}'s refit model on the held-out test subjects "
            "(pooled and per-cohort metrics).",
        )
        tracker.log_params(run, {"architecture": res.architecture, "condition": res.condition})
        layout, data_version = str(context.get("layout")), str(context.get("data_version"))
        dataset = f"fused/{layout}/{res.condition}"
        tracker.log_dataset(
            run, dataset, data_version, "evaluation", f"{layout}/{res.condition}.npz"
        )
        model_id = logged_model_id(str((res.summary.get("mlflow") or {}).get("model_uri")))
        if model_id is not None and not tracker.log_model_input(run, model_id):
            model_id = None
        finite = {k: v for k, v in res.pooled.items() if np.isfinite(v)}
        finite.update(
            {
                f"cohort.{name}.{k}": metrics[k]
                for name, metrics in res.cohorts.items()
                for k in COMPACT
                if np.isfinite(metrics.get(k, np.nan))
            }
        )
        tracker.log_metrics(
            run, finite, model_id=model_id, dataset=(dataset, data_digest(data_version))
        )
        tracker.log_metrics(run, {**res.profile, "cv_val_loss": res.cv_val_loss})
        tracker.end_run(run)
    run = tracker.start_run(
        EVALUATION_EXPERIMENT,
        "comparison",
        {**data_tags, "gaitgrf.role": "comparison"},
        note="All studies compared on the same test subjects: the report, tables and plots "
        "are its artifacts (docs/evaluation.md).",
    )
    tracker.log_artifacts(run, list(artifacts))
    tracker.end_run(run)
    return str(run)


# --- the stage ---------------------------------------------------------------------------------
def evaluate_stage(
    params: Params,
    environ: Mapping[str, str],
    log: Callable[[str], None],
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """DVC stage `evaluate`: every study of params on the test subjects, written and logged
    (stores from params overridden by `environ`, `gaitgrf.runtime`); returns the summary
    (summary.json, `write_outputs`).

    `progress(done, total, what)` counts the studies, then the report, then the MLflow runs.
    """
    from gaitgrf.pipeline.fuse.features import read_subjects
    from gaitgrf.pipeline.tune.study import study_names
    from gaitgrf.runtime import open_tracker

    artifacts = Artifacts.from_paths(params.paths)
    studies = study_names(params.models.architectures, params.fuse.conditions)
    steps = len(studies) + 2  # every study, then the statistics and report, then MLflow

    def step(done: int, what: str) -> None:
        if progress is not None:
            progress(done, steps, what)

    results, info = evaluate_studies(
        artifacts,
        read_subjects(artifacts.subjects_table()),
        params.tune,
        studies,
        log=log,
        progress=lambda done, _, what: step(done, what),
    )
    step(len(studies), "statistics, plots and report")
    nested = None
    if params.tune.evaluation == "nested":  # every subject's out-of-fold prediction
        nested = nested_results(
            artifacts, read_subjects(artifacts.subjects_table()), params.tune, studies
        )
    summary = write_outputs(
        results,
        artifacts,
        info,
        bootstrap=params.evaluate.bootstrap,
        alpha=params.evaluate.alpha,
        nested=nested,
    )
    tracker = open_tracker(params, environ, "gaitgrf.pipeline.evaluate")
    report = [artifacts.evaluation_report(), artifacts.evaluation_dir()]
    step(len(studies) + 1, "logging the runs to MLflow")
    log_to_mlflow(tracker, results, report, info)
    step(steps, "done")
    return summary


def summary_lines(summary: Mapping[str, Any], report: Path) -> list[str]:
    """What the `evaluate` stage prints: the best model on the test subjects and the report."""
    best = summary["best"]
    lines = [
        f"evaluate: best on test subjects: {best['study']} ({PRIMARY} "
        f"{best[PRIMARY]:.2f} %); report -> {report}"
    ]
    nested = summary.get("nested")
    if nested:
        lines.append(
            f"evaluate: nested cross-validation over all {nested['subjects']} subjects "
            f"({nested['outer_folds']} outer folds): its own section of the report"
        )
    return lines
