"""Writing a prediction: the long table, the plot of the curves, the lines the CLI prints."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np

from gaitgrf.core import contract as c
from gaitgrf.core.samples import TARGETS
from gaitgrf.serving.inference import Prediction
from gaitgrf.serving.inputs import InferenceError

TABLE_SUFFIXES: Final = (".csv", ".parquet")


def write_outputs(prediction: Prediction, out: Path, title: str | None = None) -> list[Path]:
    """The table at `out` (.csv or .parquet) and a PNG of the curves beside it (`<out>.png`)."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InferenceError(
            f"--out {out}: suffix {out.suffix or '(none)'} is not .csv or .parquet"
        )
    png = out.with_suffix(".png")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        table = prediction.table()
        if suffix == ".csv":
            table.to_csv(out, index=False, float_format="%.6g")
        else:
            table.to_parquet(out, index=False)
        plot_prediction(prediction, png, title or prediction.trial_id)
    except OSError as exc:  # read-only file system, full disk, no permission
        raise InferenceError(
            f"--out {out}: cannot write ({exc.strerror or exc}); choose a writable folder"
        ) from None
    return [out, png]


def plot_prediction(prediction: Prediction, path: Path, title: str) -> Path:
    """Predicted curves of every step (left blue, right orange), measured ones dashed black."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
    p = prediction.forces_bw.shape[2]
    phase = np.linspace(0, 100, p)
    colours = {"l": "tab:blue", "r": "tab:orange"}
    unit = "BW"
    for k, (ax, name) in enumerate(zip(axes, TARGETS, strict=True)):
        for i, side in enumerate(prediction.side):
            ax.plot(phase, prediction.forces_bw[i, k], color=colours.get(side, "grey"), lw=1.2)
            if prediction.measured_bw is not None and np.isfinite(prediction.measured_bw[i]).all():
                ax.plot(phase, prediction.measured_bw[i, k], color="black", ls="--", lw=1.0)
        ax.set_title(name)
        ax.set_xlabel("% stance")
        ax.set_ylabel(f"GRF ({unit})")
        ax.axhline(0.0, color="grey", lw=0.5)
    handles = [
        matplotlib.lines.Line2D([], [], color=colours["l"], label="left (predicted)"),
        matplotlib.lines.Line2D([], [], color=colours["r"], label="right (predicted)"),
    ]
    if prediction.measured_steps:
        handles.append(matplotlib.lines.Line2D([], [], color="black", ls="--", label="force plate"))
    axes[0].legend(handles=handles, fontsize=8)
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def summary_lines(prediction: Prediction) -> list[str]:
    """What the CLI prints: steps, units, notes, one error line per component."""
    counts = {s: int((prediction.side == s).sum()) for s in c.SIDES}
    lines = [
        f"{len(prediction.side)} steps ({counts['l']} left, {counts['r']} right), "
        f"{prediction.layout} model, forces in BW"
        + ("" if prediction.mass_kg is None else f" and N ({prediction.mass_kg:g} kg)")
    ]
    lines += prediction.notes
    if prediction.metrics is not None:
        lines.append(
            f"error against the force plates ({prediction.measured_steps} step(s) on a plate):"
        )
        lines += [f"  {line}" for line in prediction.error_lines()]
    return lines
