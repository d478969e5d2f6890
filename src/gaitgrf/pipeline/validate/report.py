"""The validate stage's report: summary.json, metrics.json and the trial_metrics.csv table.

`summarize` turns the suites' results into one entry per trial with readable reasons and decides
whether the run failed (too many trials quarantined in a cohort, or bad subject rows);
`write_reports` writes the files. What is written depends only on the stage's inputs (no wall
times, no absolute paths), so re-running it on the same data leaves `dvc status` clean; the wall
time per phase that `Clock` booked is kept on the summary for the terminal only.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pandas as pd

from gaitgrf.core.config import ValidateConfig
from gaitgrf.io.loader import Cohort
from gaitgrf.pipeline.validate.checks import Check
from gaitgrf.pipeline.validate.gx import SuiteResults

DATA_DOCS_DIR: Final = "data_docs"
SUMMARY_FILE: Final = "summary.json"
METRICS_FILE: Final = "metrics.json"
METRICS_TABLE_FILE: Final = "trial_metrics.csv"


@dataclass(frozen=True)
class ValidationSummary:
    """What a validation run found; `report` is the content of summary.json."""

    trials: int
    passed: int
    quarantined: int
    subjects_ok: bool
    validated_dir: Path
    report_dir: Path
    data_docs: Path
    report: dict[str, Any] = field(repr=False)
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def quarantined_fraction(self) -> float:
        """Share of all trials quarantined; 0 for an empty run rather than a division error."""
        return self.quarantined / self.trials if self.trials else 0.0

    @property
    def quarantined_trials(self) -> dict[str, list[str]]:
        """`cohort_id/trial_id` -> readable reasons, for every quarantined trial."""
        return {
            f"{t['cohort_id']}/{t['trial_id']}": [f["reason"] for f in t["failed_expectations"]]
            for t in self.report["trials"]
            if not t["passed"]
        }


class Clock:
    """Accumulates wall time per phase: `lap(name)` books the time since the previous lap."""

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        """Book the time since the previous lap to phase `name` (phases may repeat, they add up)."""
        now = time.perf_counter()
        self.add(name, now - self._last)
        self._last = now

    def add(self, name: str, seconds: float) -> None:
        """Book time measured elsewhere (the writer thread), overlapping the laps."""
        self.laps[name] = round(self.laps.get(name, 0.0) + seconds, 3)


def summarize(
    cohorts: list[Cohort],
    metrics: pd.DataFrame,
    gx_result: SuiteResults,
    checks: list[Check],
    rules: ValidateConfig,
    validated_dir: Path,
    report_dir: Path,
) -> tuple[ValidationSummary, str | None]:
    """The summary (summary.json's content) and, if the run failed, the reason as one line."""
    trials = _trial_entries(metrics, gx_result, checks)
    per_cohort, problems = _cohort_entries(cohorts, trials, rules)
    if not gx_result.subjects_ok:
        what = "; ".join(
            f"{f['expectation']} on {f['column']}" for f in gx_result.subject_failures[:3]
        )
        problems.append(f"subjects suite failed: {what}")

    n_bad = sum(not t["passed"] for t in trials)
    docs = report_dir / DATA_DOCS_DIR / "index.html"
    report = {
        "success": not problems,
        "problems": problems,
        "trials_in": len(trials),
        "passed": len(trials) - n_bad,
        "quarantined": n_bad,
        "quarantined_fraction": round(n_bad / len(trials), 4) if trials else 0.0,
        "max_fail_fraction": rules.max_fail_fraction,
        "cohorts": per_cohort,
        "subjects_suite": {
            "success": gx_result.subjects_ok,
            "failed_expectations": gx_result.subject_failures,
        },
        "expectations_evaluated": gx_result.evaluated,
        "checks": [check.describe() for check in checks],
        "trials": trials,
        # relative to this file: an absolute path would change with the checkout's location
        "data_docs": docs.relative_to(report_dir).as_posix(),
    }
    summary = ValidationSummary(
        trials=len(trials),
        passed=len(trials) - n_bad,
        quarantined=n_bad,
        subjects_ok=gx_result.subjects_ok,
        validated_dir=validated_dir,
        report_dir=report_dir,
        data_docs=docs,
        report=report,
    )
    failure = "validation failed: " + " | ".join(problems) if problems else None
    return summary, failure


def _trial_entries(
    metrics: pd.DataFrame, gx_result: SuiteResults, checks: list[Check]
) -> list[dict[str, Any]]:
    """One report entry per trial, in table order, with the readable reason of each failure
    and of each check that did not apply to it (a skip is reported, never silent)."""
    records: list[dict[str, Any]] = [
        {str(k): v for k, v in rec.items()} for rec in metrics.to_dict("records")
    ]
    trials = []
    for row in records:
        failed = [
            check.failure(row) for check in gx_result.trial_failures.get(row["trial_key"], [])
        ]
        trials.append(
            {
                "trial_id": row["trial_id"],
                "cohort_id": row["cohort_id"],
                "subject_id": row["subject_id"],
                "kind": row["kind"],
                "passed": not failed,
                "failed_expectations": failed,
                "skipped_checks": [
                    skip for check in checks if (skip := check.skipped(row)) is not None
                ],
            }
        )
    return trials


def _cohort_entries(
    cohorts: list[Cohort], trials: list[dict[str, Any]], rules: ValidateConfig
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Per cohort: counts and quarantined trials; a problem for each losing too many trials."""
    per_cohort = {}
    problems = []
    for cohort in cohorts:
        mine = [t for t in trials if t["cohort_id"] == cohort.cohort_id]
        bad = [t for t in mine if not t["passed"]]
        fraction = len(bad) / len(mine) if mine else 0.0
        per_cohort[cohort.cohort_id] = {
            "trials": len(mine),
            "passed": len(mine) - len(bad),
            "quarantined": len(bad),
            "quarantined_fraction": round(fraction, 4),
            "quarantined_trials": [t["trial_id"] for t in bad],
            "written": len(bad) < len(mine),
        }
        if fraction > rules.max_fail_fraction:
            top = Counter(f["column"] for t in bad for f in t["failed_expectations"])
            reasons = ", ".join(f"{col} ({n})" for col, n in top.most_common(3))
            problems.append(
                f"cohort {cohort.cohort_id!r}: {len(bad)} of {len(mine)} trials quarantined "
                f"({fraction:.0%} > {rules.max_fail_fraction:.0%} allowed); top reasons: {reasons}"
            )
    return per_cohort, problems


def write_reports(
    summary: ValidationSummary, metrics: pd.DataFrame, report_dir: Path, clock: Clock
) -> None:
    """trial_metrics.csv (with `passed`), metrics.json for DVC, then summary.json.

    The timings go to `summary.timings_s` (printed by the console), never into a file: a DVC
    output that holds a wall time differs on every run.
    """
    passed = {f"{t['cohort_id']}/{t['trial_id']}": t["passed"] for t in summary.report["trials"]}
    table = metrics.assign(passed=metrics["trial_key"].map(passed))
    table.to_csv(report_dir / METRICS_TABLE_FILE, index=False, float_format="%.6g")
    small = {
        "trials": summary.trials,
        "passed": summary.passed,
        "quarantined": summary.quarantined,
        "quarantined_fraction": round(summary.quarantined_fraction, 4),
    }
    (report_dir / METRICS_FILE).write_text(json.dumps(small, indent=2) + "\n")
    clock.lap("report")
    summary.timings_s.update(clock.laps)
    (report_dir / SUMMARY_FILE).write_text(json.dumps(summary.report, indent=2) + "\n")
