"""What the `evaluate` stage shows: the ranking table, all metrics long, the Markdown report
and the plots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gaitgrf.core.samples import TARGETS
from gaitgrf.pipeline.evaluate.cd_plot import CD_PLOT
from gaitgrf.pipeline.evaluate.divergence import diverged_lines
from gaitgrf.pipeline.evaluate.metrics import PEAKS, PRIMARY, ModelResult
from gaitgrf.pipeline.evaluate.physics_row import physics_line
from gaitgrf.pipeline.evaluate.stats import cd_groups, smallest_holm_p, verdict
from gaitgrf.training.splits import cohort_of


# --- tables ------------------------------------------------------------------------------------
def ranking(results: Sequence[ModelResult]) -> pd.DataFrame:
    """The comparison table: converged models best first (primary metric on the test
    subjects), then the diverged ones without a rank (`diverged` says why, `divergence.py`):
    a diverged model's rRMSE saturates and would rank it above converged ones."""
    rows = []
    for res in results:
        row: dict[str, Any] = {
            "architecture": res.architecture,
            "condition": res.condition,
            "diverged": res.diverged or "",
            "cv_val_loss": res.cv_val_loss,
            **res.pooled,
            **res.profile,
        }
        rows.append(row)
    table = pd.DataFrame(rows)
    ok = table["diverged"] == ""
    ranked = table[ok].sort_values(PRIMARY, kind="stable")
    table = pd.concat([ranked, table[~ok]], ignore_index=True)
    ranks = [*range(1, len(ranked) + 1), *[None] * int((~ok).sum())]
    table.insert(0, "rank", pd.Series(ranks, index=table.index, dtype="Int64"))
    return table


def ranked_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of `ranking` that have a rank: what the report's tables and the plots show."""
    return table[table["rank"].notna()]


def long_metrics(results: Sequence[ModelResult]) -> pd.DataFrame:
    """Every metric of every model, per subject and pooled: the CSV of all metrics.

    `cohort` is the subject's cohort, `all` on the rows pooled over every test sample; the rows
    pooled per cohort come from `cohorts.cohort_long`.
    """
    frames = []
    for res in results:
        per = res.subjects.reset_index().melt(id_vars="subject", var_name="metric")
        per.insert(0, "cohort", [cohort_of(str(s)) for s in per["subject"]])
        pooled = pd.DataFrame(
            {
                "cohort": "all",
                "subject": "pooled",
                "metric": list(res.pooled),
                "value": list(res.pooled.values()),
            }
        )
        both = pd.concat([per, pooled], ignore_index=True)
        both.insert(0, "condition", res.condition)
        both.insert(0, "architecture", res.architecture)
        frames.append(both)
    return pd.concat(frames, ignore_index=True)


# --- report ------------------------------------------------------------------------------------
def _budget_text(summary: Mapping[str, Any]) -> str:
    """One study's effective trial/epoch budget in words (its profile's `budget` with the
    architecture's override applied)."""
    budget = summary.get("budget", {})
    folds, used = summary.get("folds"), budget.get("folds_used")
    if used is None:
        on = f"all {folds} folds" if folds is not None else "every fold"
    else:
        on = f"{used} of {folds} folds" if folds is not None else f"{used} fold(s)"
    cap = budget.get("max_train_samples")
    patience = budget.get("patience")
    stop = {None: "", 0: " (no early stopping)"}.get(patience, f" (patience {patience})")
    return (
        f"{budget.get('n_trials', '?')} trial(s) x {budget.get('epochs', '?')} epoch(s) on "
        f"{on}{stop}, {cap if cap is not None else 'all'} training samples per fold"
    )


def profile_line(results: Sequence[ModelResult]) -> str:
    """Which budget profile (`tune.profile`) produced the tuned models, and whether it is fair.

    Bundles tuned before profiles existed record none ("unrecorded"); studies tuned under
    different profiles are named as mixed, as their ranks are then not comparable.
    """
    by_profile: dict[str, list[str]] = {}
    fair: dict[str, bool] = {}
    for res in results:
        name = str(res.summary.get("profile") or "unrecorded")
        by_profile.setdefault(name, []).append(res.study)
        fair[name] = bool(res.summary.get("fair", False))

    def described(name: str) -> str:
        kind = (
            "fair: every architecture the same budget"
            if fair[name]
            else ("not fair: budgets differ by architecture")
        )
        return f"`{name}` ({kind})" if name != "unrecorded" else "unrecorded"

    if len(by_profile) == 1:
        (name,) = by_profile
        return f"Budget profile (`tune.profile`): {described(name)}."
    parts = [
        f"{described(n)}: {len(s)} stud{'y' if len(s) == 1 else 'ies'}"
        for n, s in by_profile.items()
    ]
    return (
        "Budget profile (`tune.profile`): **mixed**, the studies were tuned under different "
        f"profiles ({'; '.join(parts)}), so their budgets are not comparable."
    )


def budget_lines(results: Sequence[ModelResult]) -> list[str]:
    """The report header's account of the profile and what each study ran, and any study a
    wall clock cut.

    The budget decides how far a model could get (one epoch of a 24 M-parameter backbone is
    not its best), so the header says it beside the ranks: grouped, as most studies share it.
    """
    by_budget: dict[str, list[str]] = {}
    for res in results:
        by_budget.setdefault(_budget_text(res.summary), []).append(res.study)
    lines = [
        profile_line(results),
        "",
        "Effective tuning budget per study (the profile's `budget` with its `overrides`): "
        + "; ".join(f"{text}: {', '.join(studies)}" for text, studies in by_budget.items())
        + ".",
        "",
    ]
    return lines + _trial_lines(results)


def _trial_lines(results: Sequence[ModelResult]) -> list[str]:
    """Trials each study ran against its budget, and the studies a wall-clock limit cut."""
    parts, cut = [], []
    for res in results:
        trials = res.summary.get("trials", {})
        budget = res.summary.get("budget", {})
        ran = trials.get("COMPLETE", 0) + trials.get("PRUNED", 0)
        parts.append(f"{res.study} {ran}/{budget.get('n_trials', '?')}")
        if res.summary.get("timeout_cut"):
            cut.append(f"{res.study} ({ran} of {budget.get('n_trials')} trials)")
    lines = [
        "Trials per study (complete + pruned / budget `n_trials`): " + ", ".join(parts) + ".",
        "",
    ]
    if cut:
        lines += [
            f"**Wall-clock limit:** the profile's `budget.timeout_s` stopped {len(cut)} stud"
            f"{'y' if len(cut) == 1 else 'ies'} before the trial budget: {', '.join(cut)}. "
            "Their results depend on the machine's load; set `timeout_s: null` to compare "
            "budgets that count trials and epochs only.",
            "",
        ]
    return lines


def _external_lines(context: Mapping[str, Any]) -> list[str]:
    """The header's note on external cohorts: what the pooled numbers include, and the gate."""
    external = context.get("external_cohorts") or []
    if not external:
        return []
    return [
        f"External cohort(s) {', '.join(f'`{c}`' for c in external)} "
        f"({context['external_subjects']} of the test subjects): test only, never tuned or "
        "refit on. The ranking pools every test subject; see *Per cohort* for each cohort "
        "alone. Promotion gates on the internal hold-out only.",
        "",
    ]


def fmt(value: Any, digits: int = 3) -> str:
    """A report cell: `-` for missing or non-finite, tiny values in significant digits."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 else f"{value:.{digits}f}"
    return str(value)


def _peak_lines(table: pd.DataFrame) -> list[str]:
    """The peak-error table (stance layout only: windows have no defined peaks)."""
    if not any(p in table.columns for p in (f"{n}_abs_err" for n in PEAKS)):
        return []
    lines = [
        "",
        "## Peak errors (mean absolute, BW)",
        "",
        "| architecture | condition | " + " | ".join(PEAKS) + " |",
        "|---|---|" + "---:|" * len(PEAKS),
    ]
    for row in table.to_dict("records"):
        lines.append(
            f"| {row['architecture']} | {row['condition']} | "
            + " | ".join(fmt(row.get(f"{p}_abs_err")) for p in PEAKS)
            + " |"
        )
    return lines


def effect_lines(
    effects: Mapping[str, Mapping[str, Any]],
    alpha: float,
    heading: str = "## Do subject features help? (paired, per test subject)",
) -> list[str]:
    """The feature-effect table: a two-sided test, so its verdict names harm as well as help
    (a significant harm read "no" when the column was a yes/no "helps"); raw and Holm p side
    by side, since the verdict goes with the adjusted one and a reader may want the other."""
    lines = [
        heading,
        "",
        "Difference = rRMSE mean with subject features - without (negative: they help). "
        f"Wilcoxon signed-rank test (p), Holm-corrected across the {_tested(effects)} tested "
        "architectures (p Holm); effect sizes: matched-pairs rank-biserial correlation (r, -1: "
        "every subject improves) and Cohen's d_z (mean / SD of the differences); bootstrap "
        f"{1 - alpha:.0%} CI of the mean. Verdict: *helps* / *hurts* when p Holm < {alpha:g} "
        "and the mean difference is negative / positive, else *no evidence* either way.",
        *_power_note(effects, alpha),
        "",
        f"| architecture | subjects | mean diff | {1 - alpha:.0%} CI | p | p Holm | r | d_z | "
        "verdict |",
        "|---|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for arch, eff in effects.items():
        ci = eff.get("ci")
        ci_text = f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "-"
        lines.append(
            f"| {arch} | {eff['subjects']} | {fmt(eff['mean_diff'], 2)} | {ci_text} | "
            f"{fmt(eff['p_value'])} | {fmt(eff.get('p_holm'))} | {fmt(eff['effect_size'], 2)} | "
            f"{fmt(eff.get('cohens_dz'), 2)} | {verdict(eff)} |"
        )
    return lines


def _tested(effects: Mapping[str, Mapping[str, Any]]) -> int:
    return sum(e.get("p_value") is not None for e in effects.values())


def _power_note(effects: Mapping[str, Mapping[str, Any]], alpha: float) -> list[str]:
    """A warning when no verdict is reachable: too few subjects for the Holm family's size."""
    tested = _tested(effects)
    subjects = max((int(e["subjects"]) for e in effects.values()), default=0)
    floor = smallest_holm_p(subjects, tested)
    if not tested or floor < alpha:
        return []
    return [
        "",
        f"**No verdict is reachable here:** with {subjects} subjects the smallest exact "
        f"Wilcoxon p is {2.0 ** (1 - subjects):.3g}, so over {tested} architectures the "
        f"smallest Holm p is {floor:.3g} >= {alpha:g}, whatever the data. Test more subjects.",
    ]


def friedman_lines(
    tests: Mapping[str, Mapping[str, Any]],
    alpha: float,
    heading: str = "## Across architectures (Friedman test, Nemenyi critical difference)",
    plot: str = CD_PLOT,
) -> list[str]:
    """Per condition the Friedman test, every mean rank and the Nemenyi CD, and which
    architectures the CD cannot tell apart (the bars of the critical-difference plot)."""
    lines = [
        "",
        heading,
        "",
        f"Mean rank of `{PRIMARY}` per subject (1 = best). Two architectures differ at "
        f"{alpha:g} when their mean ranks differ by at least the Nemenyi CD; read it only "
        f"where the Friedman test rejects. Plot: `evaluation/plots/{plot}`.",
        "",
    ]
    for condition, test in tests.items():
        if test.get("p_value") is None:
            lines.append(f"- `{condition}`: not enough architectures or subjects for the test")
            continue
        ranks = ", ".join(f"{k} ({v:.2f})" for k, v in test["mean_rank"].items())
        groups = cd_groups(test["mean_rank"], test["cd"])
        alike = "; ".join("{" + ", ".join(g) + "}" for g in groups) or "none"
        lines.append(
            f"- `{condition}`: chi2 = {test['statistic']:.2f}, p = {fmt(test['p_value'])} "
            f"over {test['subjects']} subjects and {test['architectures']} architectures; "
            f"CD = {test['cd']:.2f} (q = {test['q_alpha']:.3f}); mean ranks: {ranks}; "
            f"not significantly different: {alike}"
        )
    return lines


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
        *_external_lines(context),
        *context.get("budget_lines", ()),
        "## Ranking",
        "",
        "| rank | architecture | condition | rRMSE mean % | vertical r / rRMSE % | "
        "anterior r / rRMSE % | lateral r / rRMSE % | vertical RMSE BW | cv val loss | "
        "parameters | latency ms |",
        "|---:|---|---|---:|---|---|---|---:|---:|---:|---:|",
    ]
    for row in ranked_rows(table).to_dict("records"):
        comps = " | ".join(f"{fmt(row[f'{n}_r'])} / {fmt(row[f'{n}_rrmse'], 1)}" for n in TARGETS)
        lines.append(
            f"| {row['rank']} | {row['architecture']} | {row['condition']} | "
            f"{fmt(row[PRIMARY], 2)} | {comps} | {fmt(row['vertical_rmse'])} | "
            f"{fmt(row['cv_val_loss'])} | {row['parameters']:,} | {fmt(row['latency_ms'], 1)} |"
        )
    if "physics_baseline" in context:
        lines += physics_line(context["physics_baseline"], fmt)
    lines += diverged_lines(table)
    lines += _peak_lines(ranked_rows(table))
    lines += ["", *context.get("cohort_lines", ())]
    lines += effect_lines(effects, float(context.get("alpha", 0.05)))
    lines += friedman_lines(friedman_tests, float(context.get("alpha", 0.05)))
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
