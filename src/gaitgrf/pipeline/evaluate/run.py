"""Held-out test evaluation: the study's comparison of architectures and conditions.

Metrics per force component (vertical, anterior, lateral), per test subject and pooled over all
test samples (docs/evaluation.md):
* `rmse` in body weights; `rrmse` (%) = RMSE / mean peak-to-peak range of the measured and
  predicted curves (the field's definition, so components of different size compare);
* `r` (Pearson) and `r2` over the concatenated curves;
* peak errors on stance-normalised samples (mean absolute error, BW): vertical first and second
  peak (maximum of the first / second half of stance), anterior braking (minimum of the first
  half) and propulsive (maximum of the second half) peaks.
The primary metric is `rrmse_mean`, the mean rRMSE of the three components: lower is better and
the medio-lateral force, the hardest, weighs as much as the others.

Whether subject features help is answered per architecture from paired per-subject primary
metrics (Wilcoxon signed-rank, matched-pairs rank-biserial effect size, bootstrap CI of the mean
difference), and across architectures with a Friedman test per condition.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from gaitgrf.core.errors import GaitGrfError
from gaitgrf.core.samples import TARGETS

if TYPE_CHECKING:
    from gaitgrf.predictor import GrfPredictor

PRIMARY: Final = "rrmse_mean"
PEAKS: Final = ("vertical_peak1", "vertical_peak2", "anterior_braking", "anterior_propulsive")


class EvaluationError(GaitGrfError):
    hint = "run the tune stages first (`dvc repro`); evaluation reads data/tuned/*/"


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


# --- statistics --------------------------------------------------------------------------------
def paired_comparison(
    base: pd.Series, subject: pd.Series, *, bootstrap: int, alpha: float, seed: int = 0
) -> dict[str, Any]:
    """Does `subject` (with features) beat `base` on the same subjects? Lower is better.

    Difference = subject - base (negative: the features help). Wilcoxon signed-rank (two-sided),
    matched-pairs rank-biserial correlation (-1: every subject improves), and a percentile
    bootstrap CI of the mean difference.
    """
    from scipy import stats

    both = pd.concat([base.rename("base"), subject.rename("subject")], axis=1).dropna()
    diff = (both["subject"] - both["base"]).to_numpy()
    n = diff.size
    out: dict[str, Any] = {"subjects": int(n), "mean_diff": float(diff.mean()) if n else None}
    if n < 2 or np.allclose(diff, 0):
        return {**out, "p_value": None, "effect_size": None, "ci": None, "helps": False}
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
    }


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


# --- the comparison ----------------------------------------------------------------------------
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


def evaluate_model(
    predictor: GrfPredictor,
    inputs: np.ndarray,
    static: np.ndarray,
    targets: np.ndarray,
    groups: np.ndarray,
    summary: Mapping[str, Any],
) -> ModelResult:
    predicted = predictor.predict_arrays(inputs, static)
    stance = predictor.layout == "stance"
    return ModelResult(
        study=str(summary["study"]),
        architecture=predictor.architecture,
        condition=predictor.condition,
        cv_val_loss=float(summary.get("cv_val_loss") or np.nan),
        pooled=sample_metrics(targets, predicted, stance=stance),
        subjects=per_subject(groups, targets, predicted, stance=stance),
        profile=compute_profile(predictor, inputs, static),
        predicted=predicted,
        measured=targets,
        groups=groups,
        summary=dict(summary),
    )


def ranking(results: Sequence[ModelResult]) -> pd.DataFrame:
    """The comparison table, best first (primary metric on the test subjects)."""
    rows = []
    for res in results:
        row: dict[str, Any] = {
            "architecture": res.architecture,
            "condition": res.condition,
            "cv_val_loss": res.cv_val_loss,
            **res.pooled,
            **res.profile,
        }
        rows.append(row)
    table = pd.DataFrame(rows).sort_values(PRIMARY, kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


def long_metrics(results: Sequence[ModelResult]) -> pd.DataFrame:
    """Every metric of every model, per subject and pooled: the CSV of all metrics."""
    frames = []
    for res in results:
        per = res.subjects.reset_index().melt(id_vars="subject", var_name="metric")
        pooled = pd.DataFrame(
            {"subject": "pooled", "metric": list(res.pooled), "value": list(res.pooled.values())}
        )
        both = pd.concat([per, pooled], ignore_index=True)
        both.insert(0, "condition", res.condition)
        both.insert(0, "architecture", res.architecture)
        frames.append(both)
    return pd.concat(frames, ignore_index=True)


def feature_effects(
    results: Sequence[ModelResult], *, bootstrap: int, alpha: float
) -> dict[str, dict[str, Any]]:
    by_key = {(r.architecture, r.condition): r for r in results}
    out = {}
    for arch in dict.fromkeys(r.architecture for r in results):
        if (arch, "base") in by_key and (arch, "subject") in by_key:
            out[arch] = paired_comparison(
                by_key[(arch, "base")].subjects[PRIMARY],
                by_key[(arch, "subject")].subjects[PRIMARY],
                bootstrap=bootstrap,
                alpha=alpha,
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


# --- report ------------------------------------------------------------------------------------
def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 else f"{value:.{digits}f}"
    return str(value)


def markdown_report(
    table: pd.DataFrame,
    effects: Mapping[str, Mapping[str, Any]],
    friedman_tests: Mapping[str, Mapping[str, Any]],
    context: Mapping[str, Any],
) -> str:
    lines = [
        "# Evaluation on held-out test subjects",
        "",
        f"Test subjects: {context['test_subjects']} ({context['test_samples']} samples, layout "
        f"`{context['layout']}`), never seen by tuning or training. Data version "
        f"`{context['data_version']}`. Primary metric: `{PRIMARY}` (mean rRMSE of the three "
        "components, %, lower is better).",
        "",
        "## Ranking",
        "",
        "| rank | architecture | condition | rRMSE mean % | vertical r / rRMSE % | "
        "anterior r / rRMSE % | lateral r / rRMSE % | vertical RMSE BW | cv val loss | "
        "parameters | latency ms |",
        "|---:|---|---|---:|---|---|---|---:|---:|---:|---:|",
    ]
    for row in table.to_dict("records"):
        comps = " | ".join(f"{_fmt(row[f'{n}_r'])} / {_fmt(row[f'{n}_rrmse'], 1)}" for n in TARGETS)
        lines.append(
            f"| {row['rank']} | {row['architecture']} | {row['condition']} | "
            f"{_fmt(row[PRIMARY], 2)} | {comps} | {_fmt(row['vertical_rmse'])} | "
            f"{_fmt(row['cv_val_loss'])} | {row['parameters']:,} | {_fmt(row['latency_ms'], 1)} |"
        )
    if any(p in table.columns for p in (f"{n}_abs_err" for n in PEAKS)):
        lines += [
            "",
            "## Peak errors (mean absolute, BW)",
            "",
            "| architecture | condition | " + " | ".join(PEAKS) + " |",
            "|---|---|" + "---:|" * len(PEAKS),
        ]
        for row in table.to_dict("records"):
            lines.append(
                f"| {row['architecture']} | {row['condition']} | "
                + " | ".join(_fmt(row.get(f"{p}_abs_err")) for p in PEAKS)
                + " |"
            )
    lines += [
        "",
        "## Do subject features help? (paired, per test subject)",
        "",
        "Difference = rRMSE mean with subject features - without (negative: they help). "
        "Wilcoxon signed-rank test, rank-biserial effect size, bootstrap 95% CI of the mean.",
        "",
        "| architecture | subjects | mean diff | 95% CI | p | effect size | helps |",
        "|---|---:|---:|---|---:|---:|---|",
    ]
    for arch, eff in effects.items():
        ci = eff.get("ci")
        ci_text = f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "-"
        lines.append(
            f"| {arch} | {eff['subjects']} | {_fmt(eff['mean_diff'], 2)} | {ci_text} | "
            f"{_fmt(eff['p_value'])} | {_fmt(eff['effect_size'], 2)} | "
            f"{'yes' if eff['helps'] else 'no'} |"
        )
    lines += ["", "## Across architectures (Friedman test per condition)", ""]
    for condition, test in friedman_tests.items():
        if test.get("p_value") is None:
            lines.append(f"- `{condition}`: not enough architectures or subjects for the test")
            continue
        best = ", ".join(f"{k} ({v:.1f})" for k, v in list(test["mean_rank"].items())[:3])
        lines.append(
            f"- `{condition}`: chi2 = {test['statistic']:.2f}, p = {_fmt(test['p_value'])} "
            f"over {test['subjects']} subjects; best mean ranks: {best}"
        )
    lines += [
        "",
        "Compute: parameters of the network; latency = median CPU time to predict one sample "
        "(batch of 1, normalisation included) on the machine that ran the evaluation.",
        "",
    ]
    return "\n".join(lines)


# --- plots -------------------------------------------------------------------------------------
def plot_curves(result: ModelResult, subject: str, path: Path, title: str) -> Path:
    """Measured vs predicted mean curve (+- 1 SD band) of one subject, per component."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mask = result.groups == subject
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), constrained_layout=True)
    t = np.linspace(0, 100, result.measured.shape[2])
    for k, (ax, name) in enumerate(zip(axes, TARGETS, strict=True)):
        for data, label, colour in (
            (result.measured[mask, k], "measured", "black"),
            (result.predicted[mask, k], "predicted", "tab:red"),
        ):
            mean, sd = data.mean(axis=0), data.std(axis=0)
            ax.plot(t, mean, color=colour, label=label)
            ax.fill_between(t, mean - sd, mean + sd, color=colour, alpha=0.2)
        ax.set_title(name)
        ax.set_xlabel("% stance" if result.summary.get("layout") == "stance" else "% window")
        ax.set_ylabel("GRF (BW)")
    axes[0].legend()
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_bars(table: pd.DataFrame, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pivot = table.pivot_table(index="architecture", columns="condition", values=PRIMARY)
    pivot = pivot.loc[pivot.mean(axis=1).sort_values().index]
    fig, ax = plt.subplots(figsize=(9, 3.6), constrained_layout=True)
    width = 0.8 / max(len(pivot.columns), 1)
    x = np.arange(len(pivot))
    for j, condition in enumerate(pivot.columns):
        ax.bar(x + j * width, pivot[condition], width, label=condition)
    ax.set_xticks(x + width * (len(pivot.columns) - 1) / 2, pivot.index, rotation=30)
    ax.set_ylabel("mean rRMSE (%)")
    ax.legend(title="condition")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_outputs(
    results: Sequence[ModelResult],
    out_dir: Path,
    report_path: Path,
    context: Mapping[str, Any],
    *,
    bootstrap: int,
    alpha: float,
) -> dict[str, Any]:
    """Write the report, CSVs, plots and DVC metrics; return the metrics dict."""
    if not results:
        raise EvaluationError("no tuned model to evaluate")
    out_dir.mkdir(parents=True, exist_ok=True)
    table = ranking(results)
    effects = feature_effects(results, bootstrap=bootstrap, alpha=alpha)
    tests = friedman_by_condition(results)
    table.to_csv(out_dir / "ranking.csv", index=False)
    long_metrics(results).to_csv(out_dir / "metrics.csv", index=False)
    plots = out_dir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    table[["architecture", "condition", PRIMARY]].assign(
        model=table["architecture"] + "/" + table["condition"]
    ).to_csv(plots / "scores.csv", index=False)
    best = min(results, key=lambda r: r.pooled[PRIMARY])
    by_subject = best.subjects[PRIMARY].sort_values()
    plot_curves(
        best,
        str(by_subject.index[0]),
        plots / "curves_best_subject.png",
        f"{best.study}: best test subject {by_subject.index[0]}",
    )
    plot_curves(
        best,
        str(by_subject.index[-1]),
        plots / "curves_worst_subject.png",
        f"{best.study}: worst test subject {by_subject.index[-1]}",
    )
    plot_bars(table, plots / "architectures.png")
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(markdown_report(table, effects, tests, context))
    metrics = {
        "best": {"study": best.study, PRIMARY: best.pooled[PRIMARY]},
        "models": {
            r.study: {k: round(v, 5) for k, v in r.pooled.items() if np.isfinite(v)}
            for r in results
        },
        "feature_effects": effects,
        "friedman": tests,
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


# --- loading the tuned models ------------------------------------------------------------------
def evaluate_studies(
    tuned_dir: Path,
    fused_dir: Path,
    subjects: pd.DataFrame,
    cfg: Any,
    studies: Sequence[str],
    log: Any = print,
) -> tuple[list[ModelResult], dict[str, Any]]:
    """Evaluate every study's refit model on the held-out test subjects.

    `cfg` is the TuneConfig whose seed and fraction drew the hold-out: the test subjects are
    drawn again here and must equal those each study recorded, or its model is stale.
    """
    from gaitgrf.core.samples import SampleSet
    from gaitgrf.pipeline.tune.run import BUNDLE_DIR, SUMMARY_FILE
    from gaitgrf.predictor import GrfPredictor
    from gaitgrf.training.splits import sample_index, split_subjects

    results: list[ModelResult] = []
    loaded: dict[str, SampleSet] = {}
    context: dict[str, Any] = {}
    for study in studies:
        folder = tuned_dir / study
        try:
            summary = json.loads((folder / SUMMARY_FILE).read_text())
        except FileNotFoundError:
            raise EvaluationError(f"{folder}: no {SUMMARY_FILE}; run `dvc repro` to tune") from None
        condition = summary["condition"]
        if condition not in loaded:
            loaded[condition] = SampleSet.load(fused_dir / cfg.layout / f"{condition}.npz")
        samples = loaded[condition]
        split = split_subjects(samples, subjects, cfg)
        if sorted(summary["subjects"]["test"]) != sorted(split.test):
            raise EvaluationError(
                f"{folder / SUMMARY_FILE}: its test subjects differ from the current hold-out "
                "(data or split changed since tuning); re-run the tune stage"
            )
        idx = sample_index(samples.groups, split.test)
        predictor = GrfPredictor.load(folder / BUNDLE_DIR)
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
        )
        results.append(result)
        context = {
            "test_subjects": len(split.test),
            "test_samples": int(idx.size),
            "layout": cfg.layout,
            "data_version": summary.get("data_version"),
            "test_subject_ids": list(split.test),
        }
    return results, context


def log_to_mlflow(
    tracker: Any,
    results: Sequence[ModelResult],
    artifacts: Sequence[Path],
    context: Mapping[str, Any],
) -> str:
    """One evaluation run per model + a `comparison` run holding the report; returns its id."""
    from gaitgrf.tracking import EVALUATION_EXPERIMENT

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
            },
        )
        tracker.log_params(run, {"architecture": res.architecture, "condition": res.condition})
        finite = {k: v for k, v in res.pooled.items() if np.isfinite(v)}
        tracker.log_metrics(run, {**finite, **res.profile, "cv_val_loss": res.cv_val_loss})
        tracker.end_run(run)
    run = tracker.start_run(
        EVALUATION_EXPERIMENT, "comparison", {**data_tags, "gaitgrf.role": "comparison"}
    )
    tracker.log_artifacts(run, list(artifacts))
    tracker.end_run(run)
    return str(run)
