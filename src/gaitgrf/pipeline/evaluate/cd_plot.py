"""The critical-difference plot (Demšar 2006): architectures on their Friedman mean-rank axis,
bars joining those whose mean ranks differ by less than the Nemenyi critical difference.

One figure, one panel per condition, so the file (and its entry in dvc.yaml's plots) does not
depend on which conditions params lists. A ranking table says who is first; this plot says
which of the ranks the data can tell apart, the study's question across architectures.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gaitgrf.pipeline.evaluate.stats import cd_groups

#: The plot's file name under reports/evaluation/plots/ (listed in dvc.yaml's evaluate plots).
CD_PLOT = "critical_difference.png"


def plot_critical_difference(
    tests: Mapping[str, Mapping[str, Any]], path: Path, alpha: float
) -> Path:
    """Write the critical-difference figure of `stats.friedman_by_condition`'s `tests`.

    A condition without a Friedman test (fewer than 3 converged architectures or 2 subjects)
    gets a panel saying so: the file always exists, as DVC expects of a stage's plot.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conditions = list(tests) or ["(none)"]
    heights = [_height(tests.get(c, {})) for c in conditions]
    fig, axes = plt.subplots(
        len(conditions),
        1,
        figsize=(9, 0.6 * sum(heights) + 0.4),
        squeeze=False,
        gridspec_kw={"height_ratios": heights},
    )
    for ax, condition in zip(axes[:, 0], conditions, strict=True):
        test = tests.get(condition, {})
        if test.get("cd") is None:
            ax.set_axis_off()
            ax.text(0.5, 0.5, f"{condition}: not enough architectures or subjects", ha="center")
            continue
        _panel(ax, condition, test, alpha)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


#: Vertical layout of a panel, in data units: the label rows and the group bars' spacing.
_ROW, _BAR = 0.4, 0.15


def _height(test: Mapping[str, Any]) -> float:
    """A panel's height in data units: title and CD scale above, bars and label rows below."""
    if test.get("cd") is None:
        return 1.0
    names = len(test["mean_rank"])
    groups = len(cd_groups(test["mean_rank"], float(test["cd"])))
    return 1.4 + _BAR * groups + _ROW * ((names + 1) // 2 + 1)


def _panel(ax: Any, condition: str, test: Mapping[str, Any], alpha: float) -> None:
    """One condition, as in Demšar's figures: the rank axis (1 = best, left) with the CD as a
    scale bar above it; below, one bar per group of architectures `cd_groups` cannot tell apart,
    then a label per architecture (the better half to the left, the worse to the right)."""
    ranks: dict[str, float] = dict(test["mean_rank"])
    cd, k = float(test["cd"]), int(test["architectures"])
    groups = cd_groups(ranks, cd)
    names = sorted(ranks, key=lambda a: ranks[a])
    ax.set_xlim(0.3, k + 0.7)
    ax.set_ylim(1.4 - _height(test), 1.4)
    ax.axhline(0, xmin=0.05, xmax=0.95, color="black", lw=1)
    for r in range(1, k + 1):
        ax.plot([r, r], [0, 0.1], color="black", lw=1)
        ax.text(r, 0.15, str(r), ha="center", va="bottom", fontsize=8)
    ax.plot([1, 1 + cd], [0.75, 0.75], color="tab:red", lw=2)
    ax.text(1 + cd + 0.1, 0.75, f"CD = {cd:.2f}", va="center", fontsize=8, color="tab:red")
    for g, group in enumerate(groups):
        y = -_BAR * (g + 1)
        ax.plot([ranks[group[0]] - 0.05, ranks[group[-1]] + 0.05], [y, y], color="black", lw=3)
    top = -_BAR * (len(groups) + 1)
    half = (len(names) + 1) // 2
    for j, name in enumerate(names):
        left = j < half
        level = top - _ROW * (j if left else len(names) - 1 - j)
        x_label = 0.5 if left else k + 0.5
        ax.plot([ranks[name], ranks[name], x_label], [0, level, level], color="tab:blue", lw=0.8)
        ax.text(
            x_label + (-0.05 if left else 0.05),
            level,
            f"{name} ({ranks[name]:.2f})",
            ha="right" if left else "left",
            va="center",
            fontsize=8,
        )
    ax.set_axis_off()
    ax.set_title(
        f"{condition}: mean rank over {test['subjects']} subjects (1 = best); Friedman p = "
        f"{test['p_value']:.3g}; Nemenyi alpha = {alpha:g}",
        fontsize=9,
    )
