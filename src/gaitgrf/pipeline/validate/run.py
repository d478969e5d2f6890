"""The `validate` stage: physical plausibility of raw cohorts, checked with Great Expectations.

    validate_cohorts(raw_dir, validated_dir, report_dir, contract, rules) -> ValidationSummary

1. Every cohort is read through the contract loader. A contract violation is not data to
   quarantine but a broken delivery: the loader's ContractError is raised (all trials' problems in
   one), before anything is written. No cohort at all is an error too.
2. Each trial becomes one row of numbers (`trial_metrics`); the rows form one table that one GX
   suite (`trials`, built in `checks`, run in `gx`) checks with row-level expectations, so the
   unexpected rows name the trials. A second suite (`subjects`) checks the subjects tables of all
   cohorts.
3. A trial failing any expectation is quarantined: reported with readable reasons, left untouched
   in raw, not copied. Passing trials are written to `validated_dir/<cohort_id>/` in the contract
   format (canonical units), with a manifest that points back to the raw cohort (`staging`).
4. `report_dir` gets summary.json, trial_metrics.csv, metrics.json (DVC) and the GX Data Docs site
   (`data_docs/index.html`), written by `report`. Then ValidationFailed is raised if the subjects
   suite failed or a cohort lost more than `rules.max_fail_fraction` of its trials.

`raw_dir` is only read. `validated_dir` is derived: it is built in a hidden sibling folder and
swapped in only when validation succeeds; on any failure it is left as it was.
Great Expectations is imported inside the functions that use it (it takes ~3 s to import).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from gaitgrf.core.config import ConfigError, ContractConfig, ValidateConfig
from gaitgrf.core.errors import GaitGrfError
from gaitgrf.core.fsutil import staged_dir
from gaitgrf.io.loader import Cohort, load_cohorts
from gaitgrf.pipeline.inventory import NoCohortError
from gaitgrf.pipeline.validate.checks import subject_checks, trial_checks
from gaitgrf.pipeline.validate.gx import run_suites
from gaitgrf.pipeline.validate.report import (
    DATA_DOCS_DIR,
    SUMMARY_FILE,
    Clock,
    ValidationSummary,
    summarize,
    write_reports,
)
from gaitgrf.pipeline.validate.staging import (
    Progress,
    finish_validated,
    read_and_stage,
)

__all__ = ["ValidationFailed", "validate_cohorts"]


class ValidationFailed(GaitGrfError):
    """The data are not fit to train on: too many trials quarantined, or bad subject rows."""

    def __init__(self, message: str, summary: ValidationSummary) -> None:
        super().__init__(message)
        self.summary = summary
        self.hint = (
            f"the report says why: {summary.report_dir / SUMMARY_FILE} and "
            f"{summary.data_docs}; fix the data as a new cohort, or review "
            "validate.* in params.yaml"
        )


def validate_cohorts(
    raw_dir: Path,
    validated_dir: Path,
    report_dir: Path,
    contract: ContractConfig,
    rules: ValidateConfig,
    *,
    progress: Progress | None = None,
) -> ValidationSummary:
    """Validate every cohort under `raw_dir`; see the module docstring for what happens."""
    raw_dir, validated_dir, report_dir = Path(raw_dir), Path(validated_dir), Path(report_dir)
    _check_paths(raw_dir, validated_dir, report_dir)
    try:
        _check_writable(report_dir, validated_dir.parent)
        return _validate(raw_dir, validated_dir, report_dir, contract, rules, progress)
    except OSError as exc:  # read-only or full file system, no permission: one line, not a trace
        where = exc.filename or report_dir
        raise ValidationIOError(f"{where}: cannot write ({exc.strerror or exc})") from None


class ValidationIOError(GaitGrfError):
    hint = "make the reports and validated folders writable (or free disk space) and run again"


def _check_writable(*folders: Path) -> None:
    """Fail before any work when an output folder cannot take a file (read-only, no space)."""
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"x")
        probe.unlink()


def _validate(
    raw_dir: Path,
    validated_dir: Path,
    report_dir: Path,
    contract: ContractConfig,
    rules: ValidateConfig,
    progress: Progress | None,
) -> ValidationSummary:
    clock = Clock()

    cohorts = load_cohorts(raw_dir, contract, read_trials=False)
    if not cohorts:
        raise NoCohortError(f"{raw_dir}: no cohort to validate")
    clock.lap("load")

    staging = validated_dir.parent / f".{validated_dir.name}.staging"
    with staged_dir(validated_dir, staging=staging):
        metrics = read_and_stage(cohorts, staging, contract, rules, progress, clock)
        checks = trial_checks(contract, rules)
        report_dir.mkdir(parents=True, exist_ok=True)
        gx_result = run_suites(
            pd.concat([co.subjects for co in cohorts], ignore_index=True),
            metrics,
            subject_checks(),
            checks,
            report_dir / DATA_DOCS_DIR,
            _input_time(cohorts),
        )
        clock.lap("gx")
        summary, failure = summarize(
            cohorts, metrics, gx_result, checks, rules, validated_dir, report_dir
        )
        if failure is not None:  # raising inside the block leaves validated_dir as it was
            clock.lap("finish")
            write_reports(summary, metrics, report_dir, clock)
            raise ValidationFailed(failure, summary)
        finish_validated(cohorts, summary, staging, rules)
    clock.lap("finish")
    write_reports(summary, metrics, report_dir, clock)
    return summary


def _input_time(cohorts: list[Cohort]) -> datetime:
    """The newest `created_at` of the raw cohorts: the time the Data Docs runs are named after.

    A time taken from the input, not the clock, so validating the same data again writes the
    same site. An unreadable time is skipped (the loader checked the manifest has one).
    """
    times = []
    for cohort in cohorts:
        try:
            stamp = datetime.fromisoformat(str(cohort.manifest["created_at"]))
        except (KeyError, ValueError):
            continue
        times.append(stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC))
    return max(times, default=datetime(1970, 1, 1, tzinfo=UTC))


def _check_paths(raw_dir: Path, validated_dir: Path, report_dir: Path) -> None:
    """validated_dir is replaced wholesale and report_dir written: neither may overlap raw."""
    raw, val, rep = (p.resolve() for p in (raw_dir, validated_dir, report_dir))
    clashes = [
        (val, raw, "validated"),
        (rep, raw, "report"),
    ]
    for out, src, name in clashes:
        if out == src or out.is_relative_to(src) or src.is_relative_to(out):
            raise ConfigError(
                f"the {name} folder {out} overlaps the raw data folder {src}; "
                "validation never writes inside raw data"
            )
    if rep.is_relative_to(val) or val.is_relative_to(rep):
        raise ConfigError(
            f"the report folder {rep} and the validated folder {val} overlap; "
            "the validated folder is replaced as a whole"
        )
