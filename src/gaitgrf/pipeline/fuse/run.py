"""The `fuse` stage: model inputs per feature condition (docs/features.md).

For every resampled `<layout>.npz` the stage writes `<layout>/<condition>.npz` (+ `.json`), one
per condition of `FuseConfig.conditions` (what a condition holds: `gaitgrf.pipeline.fuse.features`),
the `inputs.npy` and `targets.npy` they share (streamed: `gaitgrf.pipeline.fuse.stream`), and a
`summary.json` over all layouts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gaitgrf.core.artifacts import SUBJECTS_TABLE, SUMMARY_FILE, set_file
from gaitgrf.core.config import FuseConfig
from gaitgrf.core.fsutil import staged_dir
from gaitgrf.io.cohort_store import sha256_file
from gaitgrf.pipeline.fuse.features import (
    FeatureError,
    check_conditions,
    read_subjects,
    selected_channel_names,
)
from gaitgrf.pipeline.fuse.stream import SHARED_FILES, fuse_layout


def fuse(
    resampled_dir: Path,
    out_dir: Path,
    cfg: FuseConfig,
    *,
    layouts: Sequence[str] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Write `out_dir/<layout>/<condition>.npz` (+ .json) for every `<layout>.npz` found.

    `layouts` restricts the layouts (each must exist); by default all found are fused. A layout's
    folder is written aside and swapped in at the end, so no stale condition file survives a
    config change. Returns the summary it also writes to `out_dir/summary.json`.
    `progress(done, total, what)` is called before each layout.
    """
    check_conditions(cfg.conditions)
    # config errors before any reading
    selected_channel_names(cfg.sensors, cfg.kinematics, cfg.physics)
    found, chosen = _chosen_layouts(resampled_dir, layouts)
    subjects_path = resampled_dir / SUBJECTS_TABLE
    subjects = read_subjects(subjects_path)
    subjects_sha = sha256_file(subjects_path)

    summary: dict[str, Any] = {
        "sensors": list(cfg.sensors),
        "kinematics": list(cfg.kinematics),
        "conditions": {k: list(v) for k, v in check_conditions(cfg.conditions).items()},
        "normalised": False,
        "layouts": {},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for done, layout in enumerate(chosen):
        if progress is not None:
            progress(done, len(chosen), f"fusing the {layout} samples")
        summary["layouts"][layout] = _fuse_one(
            found[layout], layout, out_dir, subjects, subjects_sha, cfg
        )
    (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _chosen_layouts(
    resampled_dir: Path, layouts: Sequence[str] | None
) -> tuple[dict[str, Path], list[str]]:
    """The `<layout>.npz` files found (layout -> path) and the layouts to fuse, in order.

    Raises when a requested layout is absent or nothing is found, before anything is read.
    """
    found = (
        {p.stem: p for p in sorted(resampled_dir.glob("*.npz"))} if resampled_dir.is_dir() else {}
    )
    if layouts is None:
        chosen = list(found)
    else:
        absent = [lay for lay in layouts if lay not in found]
        if absent:
            raise FeatureError(
                f"{resampled_dir}: no {', '.join(f'{a}.npz' for a in absent)} "
                f"(found: {', '.join(found) or 'none'})"
            )
        chosen = list(dict.fromkeys(layouts))
    if not chosen:
        raise FeatureError(
            f"{resampled_dir}: no resampled sample set (<layout>.npz) found",
        )
    return found, chosen


def _fuse_one(
    source: Path,
    layout: str,
    out_dir: Path,
    subjects: pd.DataFrame,
    subjects_sha: str,
    cfg: FuseConfig,
) -> dict[str, Any]:
    """Fuse one layout into a staging folder, then swap it in; returns its summary entry.

    The fused sets map the shared files; `_write_staging` lets go of them when it returns, so
    nothing holds the staging folder open when it replaces `out_dir/<layout>`.
    """
    with staged_dir(out_dir / layout) as staging:  # out_dir/.staging-<layout>
        entry = _write_staging(source, layout, staging, subjects, subjects_sha, cfg)
    return entry


def _write_staging(
    source: Path,
    layout: str,
    staging: Path,
    subjects: pd.DataFrame,
    subjects_sha: str,
    cfg: FuseConfig,
) -> dict[str, Any]:
    """Write every condition of `layout` into `staging`; returns the layout's summary entry."""
    fused, source_sha = fuse_layout(source, layout, staging, subjects, cfg)
    conditions: dict[str, Any] = {}
    for name, fused_set in fused.items():
        fused_set = replace(
            fused_set,
            provenance={
                **fused_set.provenance,
                "source_file": source.name,
                "source_sha256": source_sha,
                "subjects_sha256": subjects_sha,
            },
        )
        path = fused_set.save(set_file(staging, name), shared=SHARED_FILES)
        unknown = np.isnan(fused_set.static).sum(axis=0)
        conditions[name] = {
            "file": f"{layout}/{path.name}",
            "samples": len(fused_set),
            "static_names": list(fused_set.static_names),
            "static_unknown_samples": {
                n: int(unknown[i]) for i, n in enumerate(fused_set.static_names)
            },
            "bytes": path.stat().st_size,
        }
    first = next(iter(fused.values()))
    return {
        "source_file": source.name,
        "source_sha256": source_sha,
        "samples": len(first),
        "subjects": int(np.unique(first.groups).size),
        "time_points": int(first.inputs.shape[2]),
        "channels": list(first.channels),
        "shared_files": {file: (staging / file).stat().st_size for file in SHARED_FILES.values()},
        "conditions": conditions,
    }


def summary_lines(summary: dict[str, Any], summary_path: Path) -> list[str]:
    """What the `fuse` stage prints: per layout its samples and conditions, then the summary."""
    lines = []
    for layout, info in summary["layouts"].items():
        conditions = ", ".join(
            f"{name} (S={len(cond['static_names'])})" for name, cond in info["conditions"].items()
        )
        lines.append(
            f"fuse: {layout}: {info['samples']} samples of {info['subjects']} subjects, "
            f"{len(info['channels'])} channels x {info['time_points']} points -> {conditions}"
        )
    lines.append(f"fuse: summary -> {summary_path}")
    return lines
