"""The catalogue of checks the validate stage runs, and how each failure reads.

A `Check` is one Great Expectations expectation plus what a user needs to act on its failure: the
rule in words, a unit, and a hint naming the likely cause (a unit mix-up, a flipped axis, a dead
sensor). `trial_checks` builds the `trials` suite on the metrics table, `subject_checks` the
`subjects` suite. Great Expectations is imported only when an expectation is built.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from gaitgrf.core import contract as c
from gaitgrf.core.config import ContractConfig, ValidateConfig
from gaitgrf.pipeline.validate.trial_metrics import ACC_RANGE_G

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
    #: A metrics column whose value, where set, is the reason this check does not apply to
    #: the row: the row is skipped, and the report lists the skip with that reason.
    skip_when: str | None = None
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
        if self.skip_when is not None:
            applies = Column(self.skip_when).is_null()
            row = common.get("row_condition")
            common["row_condition"] = applies if row is None else row & applies
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
        """The rule in words, as the report and the Data Docs show it."""
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
        """The check as summary.json lists it."""
        out = {"id": self.id, "column": self.column, "rule": self.rule(), "kind": self.kind}
        if self.skip_when is not None:
            out["skipped_when"] = self.skip_when
        return out

    def skipped(self, row: Mapping[str, Any]) -> dict[str, Any] | None:
        """The report's entry when this check does not apply to `row` (and why), else None."""
        if self.skip_when is None or (self.kind is not None and row.get("kind") != self.kind):
            return None
        reason = row.get(self.skip_when)
        if _missing(reason):
            return None
        return {"check": self.id, "column": self.column, "reason": str(reason)}

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
            "value": jsonable(None if _missing(value) else value),
            "rule": self.rule(),
            "reason": reason + (f" ({hint})" if hint else ""),
        }


_GX_NAMES: Final = {
    "between": "expect_column_values_to_be_between",
    "in_set": "expect_column_values_to_be_in_set",
    "not_null": "expect_column_values_to_not_be_null",
}


def _peak_hint(v: float, row: Mapping[str, Any]) -> str:
    """Why the GRF peak (body weights) is off: a flipped axis, a unit, or the subject's mass."""
    # A unit mix-up is ~1000x (2 BW read as ~2000); far beyond that the samples are not forces
    # at all: +inf or overflowed values in the file.
    if not math.isfinite(v) or v > 1e5:
        return "non-finite or overflowing vertical GRF samples (inf?): a broken export, not a unit"
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
    """Whether the vertical GRF goes clearly negative, which explains most other GRF failures."""
    low = row.get("grf_z_min_n")
    return low is not None and not _missing(low) and low < GRF_Z_MIN_N


def _contact_hint(v: float, row: Mapping[str, Any]) -> str:
    """Which foot has no complete stance on the plates, and the likely cause."""
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
    """Why standing GRF does not match the body weight: a flipped axis, kN, or a wrong mass."""
    if v < 0 or _flipped(row):
        return "z axis flipped: GRF must be the force on the subject, z up"
    if v < 0.01:
        return "GRF in kN declared as N, or no plate under the feet?"
    return (
        f"the plates weigh {v * row['mass_kg']:.1f} kg but subjects.csv says "
        f"{row['mass_kg']:g} kg: wrong mass, a foot off the plates, or plates not zeroed?"
    )


def _acc_median_hint(sensor_col: str) -> Hint:
    """A hint for the median |a| checks, naming the sensor held in column `sensor_col`."""

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

#: Checks that do not apply where a metrics column gives a reason (the report lists the skip):
#: a static trial recorded off the plates has no force to weigh.
_SKIP_WHEN: Final = {
    "static_weight_present": "static_weight_skipped",
    "static_weight": "static_weight_skipped",
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
                skip_when=_SKIP_WHEN.get(check_id),
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


# --- small helpers ---------------------------------------------------------------------------
def _missing(value: Any) -> bool:
    """None or NaN: a metric the trial could not give (a stream or a stance was absent)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _fmt(value: Any) -> str:
    """A value as a reason shows it: numbers to 4 significant digits, anything else as text."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.4g}"


def jsonable(value: Any) -> Any:
    """`value` as plain JSON: numpy scalars to Python, NaN and infinities to null."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
