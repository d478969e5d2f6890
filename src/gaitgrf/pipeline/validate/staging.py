"""Reading every trial once, and staging what passes as the validated copy of the raw data.

Each trial is read through the contract loader, measured, and written (canonical units) into a
hidden staging folder on a background thread; after the suites ran, quarantined trials are
dropped, subjects and a manifest pointing back to raw are added; the caller then swaps the folder
in for `validated_dir` (`gaitgrf.core.fsutil.staged_dir`). Raw data are only read.
"""

from __future__ import annotations

import shutil
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import pandas as pd

from gaitgrf.core import contract as c
from gaitgrf.core.config import ContractConfig, ValidateConfig
from gaitgrf.core.errors import ContractError, Violation
from gaitgrf.io.cohort_store import sha256_file, write_manifest, write_subjects
from gaitgrf.io.loader import Cohort, read_trial
from gaitgrf.io.trial_file import Trial, write_trial
from gaitgrf.pipeline.validate.report import Clock, ValidationSummary
from gaitgrf.pipeline.validate.trial_metrics import METRIC_COLUMNS, trial_metrics

_TEXT_COLUMNS: Final = frozenset(
    {"trial_key", "cohort_id", "subject_id", "trial_id", "kind", "rate_error_stream"}
    | {col for col in METRIC_COLUMNS if col.endswith(("_sensor", "_channel"))}
    | {"dead_sensors", "static_weight_skipped"}
)

Progress = Callable[[int, int], None]
#: Trials read ahead of the background writer (each ~1-2 MB in memory).
_WRITE_QUEUE: Final = 4


def read_and_stage(
    cohorts: list[Cohort],
    staging: Path,
    contract: ContractConfig,
    rules: ValidateConfig,
    progress: Progress | None,
    clock: Clock,
) -> pd.DataFrame:
    """Read every trial once: measure it, and stage it (canonical units) for validated_dir.

    Writing (zstd) happens on one background thread while the next trial is read; at most
    `_WRITE_QUEUE` trials wait in memory.
    """
    total = sum(len(co.trials) for co in cohorts)
    rows: list[dict[str, Any]] = []
    broken: list[Violation] = []
    pending: deque[Future[float]] = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="validate-write") as writer:
        for cohort in cohorts:
            subjects = {sid: cohort.subject(sid) for sid in {r.subject_id for r in cohort.trials}}
            for ref in cohort.trials:
                try:
                    trial = read_trial(ref, contract)
                except ContractError as exc:
                    broken += exc.violations
                    trial = None
                clock.lap("read")
                if trial is not None:
                    rows.append(trial_metrics(trial, subjects[ref.subject_id], rules))
                    clock.lap("metrics")
                if trial is not None and not broken:  # no point writing once the run will fail
                    name = f"{ref.trial_id}{c.TRIAL_SUFFIX}"
                    path = staging / cohort.cohort_id / c.TRIALS_DIR / name
                    pending.append(writer.submit(_timed_write, trial, path))
                while pending and (len(pending) > _WRITE_QUEUE or pending[0].done()):
                    clock.add("write", pending.popleft().result())
                clock.lap("write_wait")
                if progress is not None:
                    progress(len(rows) + len({v.file for v in broken}), total)
        while pending:
            clock.add("write", pending.popleft().result())
        clock.lap("write_wait")
    if broken:
        raise ContractError(broken, context=f"raw data at {cohorts[0].root.parent}")
    table = pd.DataFrame(rows, columns=list(METRIC_COLUMNS))
    for col in METRIC_COLUMNS:
        if col == "time_monotonic":
            table[col] = table[col].astype(bool)
        elif col not in _TEXT_COLUMNS:
            table[col] = pd.to_numeric(table[col], errors="coerce").astype("float64")
    return table


def _timed_write(trial: Trial, path: Path) -> float:
    """Write one trial and return the seconds it took, for the `write` timing."""
    start = time.perf_counter()
    write_trial(trial, path)
    return time.perf_counter() - start


def finish_validated(
    cohorts: list[Cohort], summary: ValidationSummary, staging: Path, rules: ValidateConfig
) -> None:
    """Turn the staged trials into contract cohorts: drop quarantined, add subjects + manifest.

    Nothing written depends on when or where the stage ran (no clock, no absolute path), so a
    re-run on the same raw data leaves `dvc status` clean.
    """
    for cohort in cohorts:
        info = summary.report["cohorts"][cohort.cohort_id]
        root = staging / cohort.cohort_id
        if not info["written"]:  # nothing passed: an empty cohort would break the loader
            shutil.rmtree(root, ignore_errors=True)
            continue
        for trial_id in info["quarantined_trials"]:
            (root / c.TRIALS_DIR / f"{trial_id}{c.TRIAL_SUFFIX}").unlink(missing_ok=True)
        subjects = cohort.subjects.astype(object).where(cohort.subjects.notna(), None)
        rows = [{str(k): v for k, v in rec.items()} for rec in subjects.to_dict("records")]
        write_subjects(rows, root / c.SUBJECTS_FILE)
        write_manifest(
            root,
            cohort.cohort_id,
            {
                "kind": "validated",
                "validator": "gaitgrf.pipeline.validate.run",
                "raw_cohort": cohort.cohort_id,
                "raw_manifest_sha256": sha256_file(cohort.root / c.MANIFEST_FILE),
                "quarantined": sorted(info["quarantined_trials"]),
                "rules": rules.model_dump(mode="json"),
            },
            # the raw cohort's time, not now: the same raw data give the same manifest bytes
            created_at=str(cohort.manifest["created_at"]),
        )
