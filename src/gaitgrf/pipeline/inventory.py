"""What the raw data holds: cohorts, subjects, trials and walking time (the `inventory` stage).

`build_inventory` loads every cohort with the full contract check and `summarize` turns the
checked cohorts into a flat, JSON-ready dict of numbers that DVC shows as metrics.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gaitgrf.core import contract as c
from gaitgrf.core.errors import GaitGrfError

if TYPE_CHECKING:
    from gaitgrf.core.config import ContractConfig
    from gaitgrf.io.loader import Cohort


class NoCohortError(GaitGrfError):
    hint = "run `gaitgrf bootstrap` (synthetic cohort) or add a cohort under the raw data folder"


def trial_duration_s(path: Path) -> float:
    """Time span of a trial file, from the Parquet statistics of its time column.

    Only the footer is read; the column is read when a writer stored no statistics.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    meta = parquet.metadata
    index = parquet.schema_arrow.get_field_index(c.TIME_COLUMN)
    lows: list[float] = []
    highs: list[float] = []
    for group in range(meta.num_row_groups):
        stats = meta.row_group(group).column(index).statistics
        if stats is None or not stats.has_min_max:
            column = parquet.read(columns=[c.TIME_COLUMN]).column(0)
            bounds = pc.min_max(column)
            return float(bounds["max"].as_py()) - float(bounds["min"].as_py())
        lows.append(float(stats.min))
        highs.append(float(stats.max))
    return max(highs) - min(lows) if lows else 0.0


def summarize(cohorts: Sequence[Cohort]) -> dict[str, Any]:
    """Counts over checked cohorts: the `reports/inventory.json` metrics.

    Groups absent from the data are still listed (with 0) so that the metric keys are stable.
    """
    groups: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    walking_s = 0.0
    subjects = 0
    for cohort in cohorts:
        subjects += len(cohort.subjects)
        groups.update(str(g) for g in cohort.subjects["group"])
        for trial in cohort.trials:
            kinds[trial.kind] += 1
            if trial.kind == "walking":
                walking_s += trial_duration_s(trial.path)
    per_group = {name: 0 for name in ("healthy", "knee_oa", "post_surgery")}
    per_group.update(groups)
    return {
        "cohorts": len(cohorts),
        "subjects": subjects,
        "walking_trials": kinds.get("walking", 0),
        "static_trials": kinds.get("static", 0),
        "subjects_per_group": dict(sorted(per_group.items())),
        "walking_minutes": round(walking_s / 60.0, 2),
    }


def build_inventory(raw_dir: Path, rules: ContractConfig) -> dict[str, Any]:
    """Load every cohort under `raw_dir` (full contract check) and summarise them.

    Raises ContractError listing every violation, or NoCohortError when there is no cohort.
    """
    from gaitgrf.io.loader import load_cohorts

    if not raw_dir.is_dir():
        raise NoCohortError(f"{raw_dir}: raw data folder not found")
    cohorts = load_cohorts(raw_dir, rules)
    if not cohorts:
        raise NoCohortError(f"{raw_dir}: no cohort folder")
    return summarize(cohorts)


def write_inventory(inventory: dict[str, Any], path: Path) -> Path:
    """Write the inventory to `path` (the stage's DVC metrics file); returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(inventory, indent=2) + "\n")
    return path


def summary_lines(inventory: dict[str, Any], path: Path) -> list[str]:
    """What the `inventory` stage prints: the counts and where they were written."""
    return [
        f"inventory: {inventory['cohorts']} cohort(s), {inventory['subjects']} subjects, "
        f"{inventory['walking_trials']} walking / {inventory['static_trials']} static trials, "
        f"{inventory['walking_minutes']} min of walking -> {path}"
    ]
