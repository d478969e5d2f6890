"""The `validate` stage: physical plausibility of raw cohorts, checked with Great Expectations.

    validate_cohorts(raw_dir, validated_dir, report_dir, contract, rules) -> ValidationSummary

1. Every cohort is read through the contract loader. A contract violation is not data to
   quarantine but a broken delivery: the loader's ContractError is raised (all trials' problems in
   one), before anything is written. No cohort at all is an error too.
2. Each trial becomes one row of numbers (`gaitgrf.pipeline.validate.trial_metrics`); the rows form
one table that
   one GX suite (`trials`) checks with row-level expectations, so the unexpected rows name the
   trials. A second suite (`subjects`) checks the subjects tables of all cohorts.
3. A trial failing any expectation is quarantined: reported with readable reasons, left untouched
   in raw, not copied. Passing trials are written to `validated_dir/<cohort_id>/` in the contract
   format (canonical units), with a manifest that points back to the raw cohort.
4. `report_dir` gets summary.json, trial_metrics.csv, metrics.json (DVC) and the GX Data Docs site
   (`data_docs/index.html`). Then ValidationFailed is raised if the subjects suite failed or a
   cohort lost more than `rules.max_fail_fraction` of its trials.

`raw_dir` is only read. `validated_dir` is derived: it is built in a hidden sibling folder and
swapped in only when validation succeeds; on any failure it is left as it was.
Great Expectations is imported inside the functions that use it (it takes ~3 s to import).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pandas as pd

from gaitgrf.core import contract as c
from gaitgrf.core.config import ConfigError, ContractConfig, ValidateConfig
from gaitgrf.core.errors import ContractError, GaitGrfError, Violation
from gaitgrf.io.cohort_store import sha256_file, write_manifest, write_subjects
from gaitgrf.io.loader import Cohort, load_cohorts, read_trial
from gaitgrf.io.trial_file import Trial, write_trial
from gaitgrf.pipeline.inventory import NoCohortError
from gaitgrf.pipeline.validate.trial_metrics import ACC_RANGE_G, METRIC_COLUMNS, trial_metrics

__all__ = [
    "DATA_DOCS_DIR",
    "Check",
    "ValidationFailed",
    "ValidationSummary",
    "subject_checks",
    "trial_checks",
    "trial_metrics",
    "validate_cohorts",
]

DATA_DOCS_DIR: Final = "data_docs"
SUMMARY_FILE: Final = "summary.json"
METRICS_FILE: Final = "metrics.json"
METRICS_TABLE_FILE: Final = "trial_metrics.csv"
_TEXT_COLUMNS: Final = frozenset(
    {"trial_key", "cohort_id", "subject_id", "trial_id", "kind", "rate_error_stream"}
    | {col for col in METRIC_COLUMNS if col.endswith(("_sensor", "_channel"))}
    | {"dead_sensors"}
)

Progress = Callable[[int, int], None]
#: Trials read ahead of the background writer (each ~1-2 MB in memory).
_WRITE_QUEUE: Final = 4


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
        return self.quarantined / self.trials if self.trials else 0.0

    @property
    def quarantined_trials(self) -> dict[str, list[str]]:
        """`cohort_id/trial_id` -> readable reasons, for every quarantined trial."""
        return {
            f"{t['cohort_id']}/{t['trial_id']}": [f["reason"] for f in t["failed_expectations"]]
            for t in self.report["trials"]
            if not t["passed"]
        }


# --- the checks ------------------------------------------------------------------------------
Hint = Callable[[Any, Mapping[str, Any]], str | None]

#: GRF a few newtons below zero is plate noise; more is a flipped or unzeroed plate.
GRF_Z_MIN_N: Final = -50.0
#: Below this std (m/s^2) a sensor's output is constant: stuck, even for a subject standing still.
STUCK_STD: Final = 1e-4


@dataclass(frozen=True)
class Check:
    """One expectation of a suite, with what a user needs to read its failure."""

    id: str
    column: str
    #: between, in_set, not_null, regex, table_columns, compound_unique, row_count
    test: str
    min_value: float | None = None
    max_value: float | None = None
    values: tuple[Any, ...] = ()
    #: Only rows of this trial kind (walking/static) are checked.
    kind: str | None = None
    unit: str = ""
    notes: str = ""
    hint: Hint | None = None

    def expectation(self) -> Any:
        """The GX expectation (imports great_expectations)."""
        import great_expectations.expectations as gxe
        from great_expectations.expectations.row_conditions import Column

        common: dict[str, Any] = {"meta": {"check": self.id, "rule": self.rule()}}
        if self.notes:
            common["notes"] = self.notes
        if self.kind is not None:
            common["row_condition"] = Column("kind") == self.kind
        col: dict[str, Any] = {"column": self.column}
        match self.test:
            case "between":
                return gxe.ExpectColumnValuesToBeBetween(
                    **col, min_value=self.min_value, max_value=self.max_value, **common
                )
            case "in_set":
                return gxe.ExpectColumnValuesToBeInSet(**col, value_set=list(self.values), **common)
            case "not_null":
                return gxe.ExpectColumnValuesToNotBeNull(**col, **common)
            case "regex":
                return gxe.ExpectColumnValuesToMatchRegex(**col, regex=self.values[0], **common)
            case "table_columns":
                return gxe.ExpectTableColumnsToMatchSet(
                    column_set=list(self.values), exact_match=True, **common
                )
            case "compound_unique":
                return gxe.ExpectCompoundColumnsToBeUnique(column_list=list(self.values), **common)
            case "row_count":
                return gxe.ExpectTableRowCountToBeBetween(
                    min_value=int(self.min_value or 0), **common
                )
        raise ValueError(f"unknown test {self.test!r}")

    def rule(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.test == "between":
            if self.min_value is not None and self.max_value is not None:
                return f"in [{self.min_value:g}, {self.max_value:g}]{unit}"
            if self.min_value is not None:
                return f">= {self.min_value:g}{unit}"
            return f"<= {self.max_value:g}{unit}"
        if self.test == "not_null":
            return "present"
        if self.test == "in_set":
            return f"in {{{', '.join(map(str, self.values))}}}"
        return f"{self.test} {list(self.values)}"

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "column": self.column, "rule": self.rule(), "kind": self.kind}

    def failure(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The JSON entry and readable reason for a row that failed this check."""
        value = row.get(self.column)
        unit = f" {self.unit}" if self.unit else ""
        shown = f"{self.column} = {_fmt(value)}"
        lo, hi = self.min_value, self.max_value
        if _missing(value):
            reason = f"{self.column} is missing but {self.kind or 'every'} trials need it"
        elif self.test != "between":
            reason = f"{shown}, expected {self.rule()}"
        elif lo is not None and hi is not None:
            reason = f"{shown}{unit} outside [{lo:g}, {hi:g}]"
        elif lo is not None:
            reason = f"{shown}{unit} below the minimum {lo:g}"
        else:
            reason = f"{shown}{unit} above the maximum {hi:g}"
        hint = self.hint(value, row) if self.hint is not None and not _missing(value) else None
        return {
            "expectation": _GX_NAMES.get(self.test, self.test),
            "check": self.id,
            "column": self.column,
            "value": _jsonable(None if _missing(value) else value),
            "rule": self.rule(),
            "reason": reason + (f" ({hint})" if hint else ""),
        }


_GX_NAMES: Final = {
    "between": "expect_column_values_to_be_between",
    "in_set": "expect_column_values_to_be_in_set",
    "not_null": "expect_column_values_to_not_be_null",
}


def _peak_hint(v: float, row: Mapping[str, Any]) -> str:
    if _flipped(row):
        return "z axis flipped: see grf_z_min_n"
    if v < 1e-4:
        return "no vertical force: plates not recorded?"
    if v < 0.01:
        return "about 1000x too small: GRF in kN declared as N?"
    if v > 100:
        return "about 1000x too large: GRF in N declared as kN, or a wrong mass_kg?"
    if v < 1:
        return "low: mass_kg in subjects.csv too high, or the foot only partly on a plate?"
    return "high: mass_kg in subjects.csv too low (lb?), running, or plate crosstalk?"


def _flipped(row: Mapping[str, Any]) -> bool:
    low = row.get("grf_z_min_n")
    return low is not None and not _missing(low) and low < GRF_Z_MIN_N


def _contact_hint(v: float, row: Mapping[str, Any]) -> str:
    missing = [name for side, name in c.SIDE_NAMES.items() if not row[f"stance_count_{side}"]]
    feet = " and ".join(missing) + (" foot" if len(missing) == 1 else " feet")
    if _flipped(row):
        cause = "z axis flipped"
    elif (row.get("grf_peak_bw") or 0.0) < 0.1:
        cause = "force never above 20 N, see grf_peak_bw"
    else:
        cause = "plate not recorded, or the foot missed the plates?"
    return f"missing foot contact: no complete stance of the {feet} on the plates; {cause}"


def _weight_hint(v: float, row: Mapping[str, Any]) -> str:
    if v < 0 or _flipped(row):
        return "z axis flipped: GRF must be the force on the subject, z up"
    if v < 0.01:
        return "GRF in kN declared as N, or no plate under the feet?"
    return (
        f"the plates weigh {v * row['mass_kg']:.1f} kg but subjects.csv says "
        f"{row['mass_kg']:g} kg: wrong mass, a foot off the plates, or plates not zeroed?"
    )


def _acc_median_hint(sensor_col: str) -> Hint:
    def hint(v: float, row: Mapping[str, Any]) -> str:
        sensor = row.get(sensor_col)
        if v < 0.05:
            return f"sensor {sensor} reads ~0: dead or disconnected?"
        if 0.07 < v < 0.15:
            return f"sensor {sensor} ~9.81x too small: data in g declared as m/s^2?"
        if 7 < v < 13:
            return f"sensor {sensor} ~9.81x too large: data in m/s^2 declared as g?"
        return f"sensor {sensor} miscalibrated or loose?"

    return hint


def _hints() -> dict[str, Hint]:
    """What a failure of each trial check most likely means, given the value and its row."""
    return {
        "time_monotonic": lambda v, r: "time of a stream repeats or goes back",
        "rate_error": lambda v, r: f"stream {r['rate_error_stream']} not at its declared rate",
        "duration": lambda v, r: "longer than a lab trial: concatenated recordings or export?",
        "nan_fraction": lambda v, r: (
            f"{r['nan_fraction_channel']} misses {v:.1%} of its samples: sensor dropouts"
        ),
        "acc_range": lambda v, r: "beyond a +-16 g body-worn sensor: data in m/s^2 declared as g?",
        "acc_clipping": lambda v, r: (
            f"sensor {r['acc_clipped_sensor']} saturates at +-16 g for {v:.2%} of the samples"
        ),
        "acc_median_low": _acc_median_hint("acc_median_g_min_sensor"),
        "acc_median_high": _acc_median_hint("acc_median_g_max_sensor"),
        "dead_sensor": lambda v, r: (
            f"dead sensor: {r['dead_sensors'] or r['acc_std_min_sensor']} hardly moves while "
            "walking: disconnected or stuck?"
        ),
        "stuck_sensor": lambda v, r: f"sensor {r['acc_std_min_sensor']} output is constant",
        "angle_range": lambda v, r: (
            f"{r['angle_abs_max_channel']}: "
            + ("degrees declared as rad?" if v > 1000 else "angle wraps at +-180 deg?")
        ),
        "grf_not_negative": lambda v, r: (
            "vertical axis flipped: force on the plate instead of on the subject? "
            "or plate not zeroed"
        ),
        "grf_peak": _peak_hint,
        "stance_duration": lambda v, r: (
            "short contacts: running or a noisy plate?"
            if v < 1
            else "long contacts: both feet on one plate, or plate drift?"
        ),
        "foot_contact": _contact_hint,
        "static_weight": _weight_hint,
    }


_NOTES: Final = {
    "rate_error": "relative error of the measured vs declared sampling rate, worst stream",
    "nan_fraction": "largest share of missing samples over accelerometer and angle channels",
    "acc_clipping": "share of samples with an axis at >= 15.5 g, worst sensor",
    "acc_median_low": "median |a| of the pelvis/thigh/shank sensor with the lowest median",
    "acc_median_high": "median |a| of the pelvis/thigh/shank sensor with the highest median",
    "dead_sensor": "std of |a| of the flattest sensor while walking",
    "stuck_sensor": "a live sensor always shows some noise, even standing still",
    "grf_peak": "largest vertical GRF of either foot / (mass_kg * g)",
    "stance_duration": "median duration of complete stances (Fz > 20 N), both feet",
    "foot_contact": "complete stances of the foot with fewer of them",
    "static_weight": "mean total vertical GRF while standing / (mass_kg * g)",
}

#: Metrics every trial has; a missing one would let the range checks skip the trial.
_ALWAYS_MEASURED: Final = (
    "duration_s",
    "rate_error_max",
    "nan_fraction_max",
    "acc_abs_max_g",
    "acc_median_g_min",
    "acc_std_min",
    "angle_abs_max_deg",
)


def trial_checks(contract: ContractConfig, rules: ValidateConfig) -> list[Check]:
    """The `trials` suite: row-level expectations on the metrics table."""
    lo_g, hi_g = rules.acc_median_g
    tol = rules.static_weight_tolerance
    walk, static = "walking", "static"
    # id, column, test, min, max, trial kind, unit
    table: list[tuple[str, str, str, float | None, float | None, str | None, str]] = [
        ("time_monotonic", "time_monotonic", "in_set", None, None, None, ""),
        ("rate_error", "rate_error_max", "between", 0.0, contract.rate_tolerance, None, ""),
        ("duration", "duration_s", "between", 0.0, rules.max_duration_s, None, "s"),
        ("nan_fraction", "nan_fraction_max", "between", 0.0, rules.max_nan_fraction, None, ""),
        ("acc_range", "acc_abs_max_g", "between", None, ACC_RANGE_G * 1.01, None, "g"),
        ("acc_clipping", "acc_clipped_fraction", "between", 0.0, rules.max_clipped_fraction,
         None, ""),
        ("acc_median_low", "acc_median_g_min", "between", lo_g, hi_g, None, "g"),
        ("acc_median_high", "acc_median_g_max", "between", lo_g, hi_g, None, "g"),
        ("dead_sensor", "acc_std_min", "between", rules.acc_min_std, None, walk, "m/s^2"),
        ("stuck_sensor", "acc_std_min", "between", STUCK_STD, None, static, "m/s^2"),
        ("angle_range", "angle_abs_max_deg", "between", None, rules.max_abs_angle_deg, None,
         "deg"),
        ("grf_not_negative", "grf_z_min_n", "between", GRF_Z_MIN_N, None, None, "N"),
        ("grf_peak_present", "grf_peak_bw", "not_null", None, None, walk, ""),
        ("grf_peak", "grf_peak_bw", "between", *rules.grf_peak_bw, walk, "BW"),
        ("stance_duration", "stance_median_s", "between", *rules.stance_s, walk, "s"),
        ("foot_contact_present", "stance_count_min", "not_null", None, None, walk, ""),
        ("foot_contact", "stance_count_min", "between", 1, None, walk, ""),
        ("static_weight_present", "static_weight_ratio", "not_null", None, None, static, ""),
        ("static_weight", "static_weight_ratio", "between", 1 - tol, 1 + tol, static, ""),
    ]  # fmt: skip
    hints = _hints()
    checks = [Check(f"{col}_present", col, "not_null") for col in _ALWAYS_MEASURED]
    for check_id, col, test, lo, hi, kind, unit in table:
        checks.append(
            Check(
                check_id,
                col,
                test,
                lo,
                hi,
                values=(True,) if test == "in_set" else (),
                kind=kind,
                unit=unit,
                notes=_NOTES.get(check_id, ""),
                hint=hints.get(check_id),
            )
        )
    return checks


def subject_checks() -> list[Check]:
    """The `subjects` suite over the subjects tables of every cohort, stacked."""
    checks = [
        Check("columns", "", "table_columns", values=c.SUBJECT_COLUMNS),
        Check("rows", "", "row_count", min_value=1),
        Check("unique_ids", "", "compound_unique", values=("cohort_id", "subject_id")),
        Check("subject_id_pattern", "subject_id", "regex", values=(c.SUBJECT_ID_PATTERN.pattern,)),
        Check("cohort_id_pattern", "cohort_id", "regex", values=(c.COHORT_ID_PATTERN.pattern,)),
        Check("sex", "sex", "in_set", values=c.SEXES, notes="empty (unknown) allowed"),
        Check("affected_side", "affected_side", "in_set", values=c.AFFECTED_SIDES),
    ]
    checks += [Check(f"{col}_present", col, "not_null") for col in c.SUBJECT_REQUIRED_VALUES]
    checks += [
        Check(f"{col}_range", col, "between", lo, hi) for col, (lo, hi) in c.SUBJECT_RANGES.items()
    ]
    return checks


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
    clock = _Clock()

    cohorts = load_cohorts(raw_dir, contract, read_trials=False)
    if not cohorts:
        raise NoCohortError(f"{raw_dir}: no cohort to validate")
    clock.lap("load")

    staging = _fresh_dir(validated_dir.parent / f".{validated_dir.name}.staging")
    try:
        metrics = _read_all(cohorts, staging, contract, rules, progress, clock)
        checks = trial_checks(contract, rules)
        report_dir.mkdir(parents=True, exist_ok=True)
        gx_result = _run_suites(
            pd.concat([co.subjects for co in cohorts], ignore_index=True),
            metrics,
            subject_checks(),
            checks,
            report_dir / DATA_DOCS_DIR,
        )
        clock.lap("gx")
        summary, failure = _summarize(
            cohorts, metrics, gx_result, checks, rules, validated_dir, report_dir
        )
        if failure is None:
            _finish_validated(cohorts, summary, staging, rules)
            _swap_in(staging, validated_dir)
        clock.lap("finish")
        _write_reports(summary, metrics, report_dir, clock)
        if failure is not None:
            raise ValidationFailed(failure, summary)
        return summary
    finally:
        if staging.exists():
            shutil.rmtree(staging)


# --- reading and measuring -------------------------------------------------------------------
def _read_all(
    cohorts: list[Cohort],
    staging: Path,
    contract: ContractConfig,
    rules: ValidateConfig,
    progress: Progress | None,
    clock: _Clock,
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
    start = time.perf_counter()
    write_trial(trial, path)
    return time.perf_counter() - start


# --- Great Expectations ----------------------------------------------------------------------
@dataclass(frozen=True)
class _SuiteResults:
    subjects_ok: bool
    #: failed subject expectations, JSON-ready
    subject_failures: list[dict[str, Any]]
    #: trial_key -> the checks it failed
    trial_failures: dict[str, list[Check]]
    evaluated: dict[str, int]


def _run_suites(
    subjects: pd.DataFrame,
    metrics: pd.DataFrame,
    subject_specs: list[Check],
    trial_specs: list[Check],
    docs_dir: Path,
) -> _SuiteResults:
    """Run both suites once each (ephemeral GX context) and build the Data Docs site."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    if docs_dir.exists():
        shutil.rmtree(docs_dir)
    docs_site = {  # the only Data Docs site: a fixed folder instead of GX's temporary one
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(docs_dir.resolve()),
        },
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites={"validation": docs_site},
        progress_bars=ProgressBarsConfig(globally=False),
        analytics_enabled=False,
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    source = context.data_sources.add_pandas("gaitgrf")
    results = {}
    for name, frame, specs, index_cols in (
        ("subjects", subjects, subject_specs, ["cohort_id", "subject_id"]),
        ("trials", metrics, trial_specs, ["trial_key"]),
    ):
        batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
        suite = context.suites.add(gx.ExpectationSuite(name=name))
        for spec in specs:
            suite.add_expectation(spec.expectation())
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch, suite=suite)
        )
        results[name] = definition.run(
            batch_parameters={"dataframe": frame},
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": index_cols,
            },
        )
    context.build_data_docs()

    by_id = {spec.id: spec for spec in trial_specs}
    trial_failures: dict[str, list[Check]] = {}
    for res in results["trials"].results:
        _raise_if_errored(res)
        if res.success:
            continue
        spec = by_id[_config(res).meta["check"]]
        hits = res.result.get("unexpected_index_list") or []
        if not hits:  # a failure that names no trial would let every trial through
            raise RuntimeError(f"expectation {spec.id!r} failed without naming a trial")
        for hit in hits:
            trial_failures.setdefault(str(hit["trial_key"]), []).append(spec)

    subject_failures = []
    for res in results["subjects"].results:
        _raise_if_errored(res)
        if not res.success:
            cfg = _config(res)
            subject_failures.append(
                {
                    "expectation": cfg.type,
                    "column": cfg.kwargs.get("column") or cfg.kwargs.get("column_list"),
                    "rule": cfg.meta.get("rule"),
                    "observed": _jsonable(res.result.get("observed_value")),
                    "unexpected": _jsonable((res.result.get("unexpected_index_list") or [])[:20]),
                }
            )
    return _SuiteResults(
        subjects_ok=bool(results["subjects"].success),
        subject_failures=subject_failures,
        trial_failures=trial_failures,
        evaluated={name: len(r.results) for name, r in results.items()},
    )


def _config(res: Any) -> Any:
    if res.expectation_config is None:
        raise RuntimeError("Great Expectations returned a result without its expectation")
    return res.expectation_config


def _raise_if_errored(res: Any) -> None:
    """An expectation that raised is a bug or a broken table, never a quarantine reason."""
    info = res.exception_info or {}
    if info.get("raised_exception"):
        cfg = _config(res)
        raise RuntimeError(
            f"Great Expectations could not evaluate {cfg.type} "
            f"{cfg.kwargs.get('column')!r}: {info.get('exception_message')}"
        )


# --- report ----------------------------------------------------------------------------------
def _summarize(
    cohorts: list[Cohort],
    metrics: pd.DataFrame,
    gx_result: _SuiteResults,
    checks: list[Check],
    rules: ValidateConfig,
    validated_dir: Path,
    report_dir: Path,
) -> tuple[ValidationSummary, str | None]:
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
            }
        )
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
        "validated_dir": str(validated_dir),
        "data_docs": str(docs),
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


def _write_reports(
    summary: ValidationSummary, metrics: pd.DataFrame, report_dir: Path, clock: _Clock
) -> None:
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
    summary.report["timings_s"] = dict(clock.laps)
    (report_dir / SUMMARY_FILE).write_text(json.dumps(summary.report, indent=2) + "\n")


# --- validated cohorts -----------------------------------------------------------------------
def _finish_validated(
    cohorts: list[Cohort], summary: ValidationSummary, staging: Path, rules: ValidateConfig
) -> None:
    """Turn the staged trials into contract cohorts: drop quarantined, add subjects + manifest."""
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
        )


def _swap_in(staging: Path, target: Path) -> None:
    """Replace `target` by `staging` (two renames; the old copy is removed afterwards)."""
    old = target.parent / f".{target.name}.old"
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.rename(target, old)
    os.rename(staging, target)
    if old.exists():
        shutil.rmtree(old)


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


def _fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


# --- small helpers ---------------------------------------------------------------------------
class _Clock:
    """Accumulates wall time per phase: `lap(name)` books the time since the previous lap."""

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.add(name, now - self._last)
        self._last = now

    def add(self, name: str, seconds: float) -> None:
        """Book time measured elsewhere (the writer thread), overlapping the laps."""
        self.laps[name] = round(self.laps.get(name, 0.0) + seconds, 3)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.4g}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
