"""The diagnosis over a set of recordings: how a model transfers to a lab, as one table.

`gaitgrf transfer` reads a recordings list (CSV: `recording`, `subject_id`), looks each subject
up in a subjects CSV (the importer's format), runs `diagnosis.diagnose_trial` on every
recording and writes one Markdown table (per recording: model and physics on wearable and plate
steps, event errors) with the **median** over recordings first, the figure the project's
targets are stated in (docs/inference.md, "Diagnosis").

Recording paths come from a file, so each is checked before it is opened: relative, resolving
under the root the caller names (default: the list's own folder), a regular file, no symbolic
link. A recording that cannot be read or diagnosed becomes a row with its one-line reason; the
others still run.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from gaitgrf.core.config import ResampleConfig
from gaitgrf.core.errors import GaitGrfError
from gaitgrf.core.samples import TARGETS
from gaitgrf.serving.diagnosis import Diagnosis, diagnose_trial
from gaitgrf.serving.inputs import InferenceError, read_input, subject_from_file

if TYPE_CHECKING:
    from gaitgrf.predictor import GrfPredictor

#: Rows of the table: (source, steps) in print order.
ROWS = (("model", "wearable"), ("model", "plates"), ("physics", "wearable"), ("physics", "plates"))


@dataclass(frozen=True)
class TransferResult:
    recording: str
    diagnosis: Diagnosis | None
    error: str | None = None


def read_recording_list(path: Path, root: Path | None = None) -> list[tuple[str, Path, str]]:
    """(name, checked path, subject_id) per row of the recordings CSV."""
    path = Path(path)
    base = (root or path.parent).resolve()
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InferenceError(f"{path}: not a readable CSV file ({exc})") from None
    out = []
    for number, row in enumerate(rows, start=2):
        name = (row.get("recording") or "").strip()
        subject_id = (row.get("subject_id") or "").strip()
        if not name or not subject_id:
            raise InferenceError(
                f"{path}, line {number}: columns recording and subject_id must both be given"
            )
        out.append((name, _checked(base, name, f"{path}, line {number}"), subject_id))
    return out


def _checked(base: Path, name: str, where: str) -> Path:
    """`base / name` when it is relative, stays under `base`, and is a plain file."""
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts:
        raise InferenceError(f"{where}: recording {name!r} must be a relative path under {base}")
    target = base
    for part in pure.parts:
        target = target / part
        if target.is_symlink():
            raise InferenceError(f"{where}: recording {name!r} is or passes a symbolic link")
    if not target.resolve().is_relative_to(base):
        raise InferenceError(f"{where}: recording {name!r} resolves outside {base}")
    if not target.is_file():
        raise InferenceError(f"{where}: recording {name!r} is not a file under {base}")
    return target


def transfer(
    predictor: GrfPredictor,
    recordings: Sequence[tuple[str, Path, str]],
    subjects: Path,
    cfg: ResampleConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[TransferResult]:
    """The diagnosis of every recording; failures are kept as rows with their reason."""
    out = []
    for name, path, subject_id in recordings:
        if progress:
            progress(name)
        try:
            given = subject_from_file(subjects, subject_id)
            loaded = read_input(path, given)
            subject = given.merged(loaded.subject)
            out.append(TransferResult(name, diagnose_trial(predictor, loaded.trial, subject, cfg)))
        except GaitGrfError as exc:
            out.append(TransferResult(name, None, str(exc).splitlines()[0]))
    return out


def _cell(diagnosis: Diagnosis, source: str, steps: str, target: str) -> tuple[float, float]:
    for row in diagnosis.rows:
        if (row.source, row.steps) == (source, steps) and row.metrics is not None:
            return row.metrics[f"{target}_r"], row.metrics[f"{target}_rrmse"]
    return float("nan"), float("nan")


def median_table(results: Sequence[TransferResult]) -> dict[str, dict[str, float]]:
    """`{"model/wearable": {"vertical_r": median, "vertical_rrmse": median, ...}, ...}`."""
    done = [r.diagnosis for r in results if r.diagnosis is not None]
    out: dict[str, dict[str, float]] = {}
    for source, steps in ROWS:
        cells: dict[str, float] = {}
        for target in TARGETS:
            values = np.array([_cell(d, source, steps, target) for d in done]).reshape(-1, 2)
            ok = np.isfinite(values).all(axis=1)
            med = np.median(values[ok], axis=0) if ok.any() else (np.nan, np.nan)
            cells[f"{target}_r"], cells[f"{target}_rrmse"] = float(med[0]), float(med[1])
        out[f"{source}/{steps}"] = cells
    return out


def median_timing_lines(results: Sequence[TransferResult]) -> list[str]:
    """The median vertical timing shift per step set (`timing.py`), one line each."""
    out = []
    for steps in ("wearable", "plates"):
        late = [
            s.late_percent
            for r in results
            if r.diagnosis is not None
            for s in r.diagnosis.timing
            if s.steps == steps
        ]
        if late:
            out.append(
                f"Vertical timing on {steps} steps, median over {len(late)} recording(s): "
                f"{float(np.median(late)):+.1f} % of stance (+: the model runs late)."
            )
    return out


def markdown(results: Sequence[TransferResult], title: str) -> str:
    """The report: medians over recordings, then one block per recording."""
    head = "| forces | steps | " + " | ".join(f"{t} r / rRMSE" for t in TARGETS) + " |"
    rule = "|---|---|" + "---|" * len(TARGETS)
    done = sum(r.diagnosis is not None for r in results)
    lines = [f"# {title}", "", f"Median over {done} recording(s) with plates and a body mass:", ""]
    lines += [head, rule]
    for key, cells in median_table(results).items():
        source, steps = key.split("/")
        parts = [f"{cells[f'{t}_r']:.2f} / {cells[f'{t}_rrmse']:.1f}%" for t in TARGETS]
        lines.append(f"| {source} | {steps} | " + " | ".join(parts) + " |")
    lines += ["", *median_timing_lines(results)]
    for result in results:
        lines += ["", f"## {result.recording}", ""]
        if result.diagnosis is None:
            lines.append(f"not diagnosed: {result.error}")
            continue
        lines += [f"    {line}" for line in result.diagnosis.lines()]
    return "\n".join(lines) + "\n"
