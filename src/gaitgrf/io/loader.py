"""Read raw cohorts and check them against the data contract (docs/data-contract.md).

Every stage reads raw data through this module. `load_cohort` checks a whole cohort folder and
reports *every* broken rule at once in one `ContractError`; `read_trial` returns one trial as
float64 arrays in canonical units (the unit conversion happens here and nowhere else);
`check_trial` lets an importer validate a `Trial` before writing it.

Each violation carries a rule id; the ids and what they mean are listed in the "Rules" section of
docs/data-contract.md, which is kept in step with this module.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gaitgrf.core import contract as c
from gaitgrf.core.config import ContractConfig
from gaitgrf.core.errors import ContractError, Violation
from gaitgrf.io.cohort_store import cohort_files, sha256_file
from gaitgrf.io.trial_file import Stream, Trial

_DEFAULT_RULES = ContractConfig()
#: subjects.csv columns holding numbers (exactly those with a plausible range).
_NUMERIC_COLUMNS = tuple(c.SUBJECT_RANGES)
_REQUIRED_CHANNELS = c.REQUIRED_ACC_CHANNELS + c.REQUIRED_ANGLE_CHANNELS + c.REQUIRED_GRF_CHANNELS
_MANIFEST_REQUIRED = ("cohort_id", "contract_version", "created_at", "source", "checksums")
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")
_VERSION = re.compile(r"^\d+(\.\d+)*$")
#: What reading a broken file may raise (pyarrow's ArrowInvalid is also a ValueError).
_READ_ERRORS = (OSError, ValueError, pa.ArrowException)
_CHANNEL_NAMING = (
    "acc_<location>_<axis>, angle_<joint>_<side>_<plane>, grf_<side>_<axis> or cop_<side>_<axis>"
)


# --- public types ----------------------------------------------------------------------------
@dataclass(frozen=True)
class TrialRef:
    """A trial found in a cohort, not yet read: ids from its metadata and where it lies."""

    trial_id: str
    subject_id: str
    cohort_id: str
    kind: str
    path: Path
    #: The trial's metadata document as stored (channels, units, rates, extras).
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, eq=False)
class Cohort:
    """A checked cohort: its subjects table, its trials (not read) and its manifest.

    `subjects` has the contract's columns in contract order; numbers are float64 with NaN where
    the cell was empty, text columns hold None where the cell was empty. Nothing is filled in.
    """

    cohort_id: str
    root: Path
    subjects: pd.DataFrame
    trials: tuple[TrialRef, ...]
    manifest: dict[str, Any]

    def subject(self, subject_id: str) -> dict[str, Any]:
        """One row of subjects.csv as a dict; empty cells are None. KeyError if unknown."""
        rows = self.subjects.loc[self.subjects["subject_id"] == subject_id]
        if rows.empty:
            raise KeyError(f"cohort {self.cohort_id!r} has no subject {subject_id!r}")
        return {str(k): _plain(v) for k, v in rows.iloc[0].items()}


# --- public functions ------------------------------------------------------------------------
def load_cohort(
    root: Path, rules: ContractConfig = _DEFAULT_RULES, *, read_trials: bool = True
) -> Cohort:
    """Check the cohort folder `root` and return it; raise one ContractError listing all problems.

    With `read_trials` every trial is read in full and its data checked (time bases, rates, NaN
    runs); without, only subjects.csv, the manifest and each trial's Parquet metadata are checked,
    which costs a footer read per trial. Checksums are verified when `rules.verify_checksums`.
    """
    root = Path(root)
    if not root.is_dir():
        raise ContractError(
            [Violation(str(root), "file_missing", "cohort folder not found")],
            context=f"cohort at {root}",
        )
    cohort_id = root.name
    found: list[Violation] = []
    if not c.COHORT_ID_PATTERN.match(cohort_id):
        found.append(
            Violation(
                str(root),
                "cohort_id",
                f"folder name {cohort_id!r} is not a valid cohort id "
                f"(pattern {c.COHORT_ID_PATTERN.pattern}: lower-case letters, digits, '_', '-')",
            )
        )

    subjects, problems = _read_subjects(root / c.SUBJECTS_FILE, cohort_id)
    found += problems
    manifest, problems = _read_manifest(root / c.MANIFEST_FILE, cohort_id)
    found += problems
    if manifest is not None:
        found += _check_checksums(root, manifest, verify=rules.verify_checksums)

    known_subjects: set[str] | None = None
    if subjects is not None and "subject_id" in subjects.columns:
        known_subjects = {s for s in subjects["subject_id"] if isinstance(s, str)}

    refs: list[TrialRef] = []
    trials_dir = root / c.TRIALS_DIR
    if not trials_dir.is_dir():
        found.append(
            Violation(
                str(trials_dir), "file_missing", f"no {c.TRIALS_DIR}/ folder with the trial files"
            )
        )
    else:
        paths = _trial_paths(trials_dir)
        if not paths:
            found.append(
                Violation(
                    str(trials_dir),
                    "empty_cohort",
                    f"no trial files (*{c.TRIAL_SUFFIX}); a cohort needs at least one trial",
                )
            )
        files_of_trial: dict[str, list[Path]] = defaultdict(list)
        for path in paths:
            result = _inspect(path, rules, read_data=read_trials, convert=False)
            found += result.violations
            meta = result.metadata
            if meta is None:
                continue
            file = str(path)
            tid, sid, cid, kind = (_str_or_none(meta.get(k)) for k in _ID_KEYS)
            if tid is not None:
                files_of_trial[tid].append(path)
            if sid is not None and known_subjects is not None and sid not in known_subjects:
                found.append(
                    Violation(
                        file,
                        "unknown_subject",
                        f"subject_id {sid!r} is not in {c.SUBJECTS_FILE}",
                        subject=sid,
                    )
                )
            if cid is not None and cid != cohort_id:
                found.append(
                    Violation(
                        file,
                        "cohort_id",
                        f"metadata cohort_id {cid!r} differs from the cohort folder {cohort_id!r}",
                        subject=sid,
                    )
                )
            if tid is not None and sid is not None and cid is not None and kind is not None:
                refs.append(TrialRef(tid, sid, cid, kind, path, meta))
        for tid, dup_paths in sorted(files_of_trial.items()):
            if len(dup_paths) > 1:
                names = ", ".join(p.name for p in dup_paths)
                for path in dup_paths:
                    found.append(
                        Violation(
                            str(path),
                            "duplicate_trial",
                            f"trial_id {tid!r} is used by {len(dup_paths)} files: {names}",
                        )
                    )

    if subjects is not None and subjects.empty:
        found.append(
            Violation(
                str(root / c.SUBJECTS_FILE),
                "empty_cohort",
                "no subject rows; a cohort needs at least one subject",
            )
        )

    found = _dedupe(found)
    if found:
        raise ContractError(found, context=f"cohort {cohort_id!r} at {root}")
    assert subjects is not None and manifest is not None  # a missing one is a violation
    return Cohort(cohort_id, root, subjects, tuple(refs), manifest)


def load_cohorts(
    raw_dir: Path, rules: ContractConfig = _DEFAULT_RULES, *, read_trials: bool = True
) -> list[Cohort]:
    """Every cohort folder under `raw_dir`, sorted by id.

    Hidden entries (`.staging-*` folders of an interrupted write, `.gitignore`), DVC pointer
    files (`*.dvc`) and plain files are skipped. Problems of all cohorts are collected into one
    ContractError.
    """
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise ContractError(
            [Violation(str(raw_dir), "file_missing", "raw data folder not found")],
            context=f"raw data at {raw_dir}",
        )
    cohorts: list[Cohort] = []
    found: list[Violation] = []
    for entry in sorted(raw_dir.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.suffix == ".dvc" or not entry.is_dir():
            continue
        try:
            cohorts.append(load_cohort(entry, rules, read_trials=read_trials))
        except ContractError as exc:
            found += exc.violations
    if found:
        raise ContractError(found, context=f"raw data at {raw_dir}")
    return cohorts


def read_trial(ref: TrialRef | Path, rules: ContractConfig = _DEFAULT_RULES) -> Trial:
    """Read and check one trial file; data come back float64 in canonical units.

    `Stream.units` then name the canonical units (m/s^2, deg, N, m); the units the file declared
    stay in the file's metadata. Raises ContractError with every problem of the file.
    """
    path = ref.path if isinstance(ref, TrialRef) else Path(ref)
    result = _inspect(path, rules, read_data=True, convert=True)
    if result.violations:
        raise ContractError(result.violations, context=f"trial {path}")
    assert result.trial is not None
    return result.trial


def check_trial(trial: Trial, file: str, rules: ContractConfig = _DEFAULT_RULES) -> list[Violation]:
    """Every contract violation of an in-memory trial, reported against `file`.

    Meant for importers: validate before writing. Units may be any accepted unit (they are not
    converted). Checks ids and kind, channel names, streams and units, required channels, and
    each stream's time base, sampling rate and NaN runs.
    """
    found = _id_violations(
        {
            "trial_id": trial.trial_id,
            "subject_id": trial.subject_id,
            "cohort_id": trial.cohort_id,
            "kind": trial.kind,
        },
        file,
    )
    found += _check_streams(trial, file, rules)
    return _dedupe(found)


# --- subjects.csv ----------------------------------------------------------------------------
def _read_subjects(path: Path, cohort_id: str) -> tuple[pd.DataFrame | None, list[Violation]]:
    file = str(path)
    if not path.is_file():
        return None, [Violation(file, "file_missing", f"{c.SUBJECTS_FILE} not found")]
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, ValueError) as exc:  # parser, empty-file and decoding errors
        return None, [Violation(file, "file_unreadable", f"cannot be read as CSV: {_line(exc)}")]
    raw.columns = pd.Index([str(col).strip() for col in raw.columns])
    raw = raw.fillna("").astype(str).apply(lambda col: col.str.strip())

    found: list[Violation] = []
    missing = [col for col in c.SUBJECT_COLUMNS if col not in raw.columns]
    extra = [col for col in raw.columns if col not in c.SUBJECT_COLUMNS]
    if missing:
        found.append(Violation(file, "subjects_schema", f"missing column(s): {', '.join(missing)}"))
    if extra:
        found.append(
            Violation(
                file,
                "subjects_schema",
                f"unexpected column(s): {', '.join(extra)} "
                f"(allowed: {', '.join(c.SUBJECT_COLUMNS)})",
            )
        )

    ids = raw["subject_id"] if "subject_id" in raw.columns else None

    def bad(rows: Iterable[int], rule: str, column: str, detail: str) -> None:
        """One violation per offending row; `{value}` in `detail` becomes the cell."""
        for i in rows:
            sid = ids.iat[i] if ids is not None else ""
            text = detail.replace("{value}", repr(raw[column].iat[i]))
            found.append(Violation(file, rule, f"line {i + 2}: {text}", subject=sid or None))

    for column in [col for col in c.SUBJECT_COLUMNS if col in raw.columns]:
        cells = raw[column]
        empty = (cells == "").to_numpy()
        if column in c.SUBJECT_REQUIRED_VALUES:
            bad(np.flatnonzero(empty), "subject_value", column, f"{column} is empty but required")
        if column in _NUMERIC_COLUMNS:
            numbers = pd.to_numeric(cells.mask(empty), errors="coerce").to_numpy(dtype=float)
            lo, hi = c.SUBJECT_RANGES[column]
            bad(
                np.flatnonzero(~empty & np.isnan(numbers)),
                "subject_value",
                column,
                f"{column} {{value}} is not a number",
            )
            outside = ~np.isnan(numbers) & ((numbers < lo) | (numbers > hi))
            bad(
                np.flatnonzero(outside),
                "subject_value",
                column,
                f"{column} {{value}} is outside the plausible range {lo:g} to {hi:g}",
            )
        allowed = {"sex": c.SEXES, "affected_side": c.AFFECTED_SIDES}.get(column)
        if allowed is not None:
            wrong = ~empty & ~cells.isin(allowed).to_numpy()
            bad(
                np.flatnonzero(wrong),
                "subject_value",
                column,
                f"{column} {{value}} is not one of {', '.join(allowed)}"
                + (" (or empty when unknown)" if column == "sex" else ""),
            )
        if column == "subject_id":
            wrong = ~empty & ~cells.str.match(c.SUBJECT_ID_PATTERN.pattern).to_numpy(dtype=bool)
            bad(
                np.flatnonzero(wrong),
                "subject_value",
                column,
                f"subject_id {{value}} does not match {c.SUBJECT_ID_PATTERN.pattern}",
            )
        if column == "cohort_id":
            wrong = ~empty & (cells != cohort_id).to_numpy()
            bad(
                np.flatnonzero(wrong),
                "cohort_id",
                column,
                f"cohort_id {{value}} differs from the cohort folder {cohort_id!r}",
            )

    if ids is not None:
        dup = ids[(ids != "") & ids.duplicated(keep=False)]
        for sid, lines in dup.groupby(dup).groups.items():
            at = ", ".join(str(int(i) + 2) for i in lines)
            found.append(
                Violation(
                    file,
                    "duplicate_subject",
                    f"subject_id {sid!r} appears on lines {at}",
                    subject=str(sid),
                )
            )

    subjects = pd.DataFrame(index=pd.RangeIndex(len(raw)))
    for col in c.SUBJECT_COLUMNS:
        if col not in raw.columns:
            continue
        cells = raw[col]
        if col in _NUMERIC_COLUMNS:
            subjects[col] = pd.to_numeric(cells.mask(cells == ""), errors="coerce").astype(float)
        else:  # empty cells are unknown: None, never "" or a guess
            subjects[col] = pd.Series([v or None for v in cells], dtype=object)
    return subjects, found


# --- manifest.json and checksums -------------------------------------------------------------
def _read_manifest(path: Path, cohort_id: str) -> tuple[dict[str, Any] | None, list[Violation]]:
    file = str(path)
    if not path.is_file():
        return None, [Violation(file, "file_missing", f"{c.MANIFEST_FILE} not found")]
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None, [Violation(file, "file_unreadable", f"not valid JSON: {_line(exc)}")]
    if not isinstance(manifest, dict):
        return None, [Violation(file, "file_unreadable", "not a JSON object")]
    found: list[Violation] = []
    missing = [k for k in _MANIFEST_REQUIRED if k not in manifest]
    if missing:
        found.append(Violation(file, "metadata", f"missing key(s): {', '.join(missing)}"))
    if "contract_version" in manifest:
        found += _version_violations(manifest["contract_version"], file, None)
    if "cohort_id" in manifest and manifest["cohort_id"] != cohort_id:
        found.append(
            Violation(
                file,
                "cohort_id",
                f"manifest cohort_id {manifest['cohort_id']!r} differs from the cohort folder "
                f"{cohort_id!r}",
            )
        )
    if "checksums" in manifest and not isinstance(manifest["checksums"], dict):
        found.append(
            Violation(file, "metadata", "checksums must map relative paths to 'sha256:<hex>'")
        )
    return manifest, found


def _check_checksums(root: Path, manifest: Mapping[str, Any], *, verify: bool) -> list[Violation]:
    """Listed files must exist, existing data files must be listed, and (if `verify`) match."""
    listed = manifest.get("checksums")
    if not isinstance(listed, dict):
        return []
    present = {p.relative_to(root).as_posix(): p for p in cohort_files(root)}
    found: list[Violation] = []
    for rel, digest in sorted(listed.items()):
        file = str(root / rel)
        if not isinstance(digest, str) or not _SHA256.match(digest):
            found.append(
                Violation(
                    file,
                    "checksum",
                    f"manifest entry is {digest!r}, expected 'sha256:' and 64 hex digits",
                )
            )
        elif rel not in present:
            found.append(
                Violation(file, "checksum", f"listed in {c.MANIFEST_FILE} but not in the cohort")
            )
        elif verify and sha256_file(present[rel]) != digest.removeprefix("sha256:"):
            found.append(
                Violation(
                    file,
                    "checksum",
                    f"sha256 differs from {c.MANIFEST_FILE}: the file changed after the cohort "
                    "was written",
                )
            )
    for rel in sorted(set(present) - set(listed)):
        found.append(
            Violation(
                str(present[rel]),
                "checksum",
                f"not listed in {c.MANIFEST_FILE}: added after the cohort was written",
            )
        )
    return found


# --- one trial file --------------------------------------------------------------------------
_ID_KEYS = ("trial_id", "subject_id", "cohort_id", "kind")


@dataclass(frozen=True)
class _Planned:
    """A channel as its metadata declares it."""

    stream: str
    unit: str
    rate_hz: float


@dataclass
class _Inspected:
    metadata: dict[str, Any] | None
    trial: Trial | None
    violations: list[Violation]


def _trial_paths(trials_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in trials_dir.iterdir()
        if p.suffix == c.TRIAL_SUFFIX and not p.name.startswith(".") and p.is_file()
    )


def _inspect(path: Path, rules: ContractConfig, *, read_data: bool, convert: bool) -> _Inspected:
    """Check one trial file: metadata always, the data too when `read_data`."""
    file = str(path)
    if not path.is_file():
        return _Inspected(None, None, [Violation(file, "file_missing", "trial file not found")])
    try:
        parquet = pq.ParquetFile(path)
    except _READ_ERRORS as exc:
        return _Inspected(
            None, None, [Violation(file, "file_unreadable", f"not a Parquet file: {_line(exc)}")]
        )
    try:
        return _inspect_open(parquet, path, rules, read_data=read_data, convert=convert)
    finally:
        parquet.close()


def _inspect_open(
    parquet: pq.ParquetFile, path: Path, rules: ContractConfig, *, read_data: bool, convert: bool
) -> _Inspected:
    file = str(path)
    schema = parquet.schema_arrow
    meta, found = _parse_metadata(schema, file)
    if meta is None:
        return _Inspected(None, None, found)
    subject = _str_or_none(meta.get("subject_id"))
    found += _id_violations(meta, file)
    tid = meta.get("trial_id")
    if isinstance(tid, str) and tid != path.stem:
        found.append(
            Violation(
                file,
                "trial_id",
                f"file name {path.name!r} does not match the metadata trial_id {tid!r} "
                f"(expected {tid}{c.TRIAL_SUFFIX})",
                subject=subject,
            )
        )
    plan, problems = _check_declared(meta, schema.names, file, subject)
    found += problems
    if not read_data or any(v.rule == "file_unreadable" for v in found):
        return _Inspected(meta, None, _dedupe(found))

    try:
        table = parquet.read()
    except _READ_ERRORS as exc:
        found.append(Violation(file, "file_unreadable", f"data cannot be read: {_line(exc)}"))
        return _Inspected(meta, None, _dedupe(found))
    streams, problems = _assemble_streams(table, plan, file, subject)
    found += problems
    trial = Trial(
        trial_id=_str_or_none(meta.get("trial_id")) or "",
        subject_id=subject or "",
        cohort_id=_str_or_none(meta.get("cohort_id")) or "",
        kind=_str_or_none(meta.get("kind")) or "",
        streams=streams,
        extra={k: v for k, v in meta.items() if k not in c.TRIAL_METADATA_REQUIRED},
    )
    # Missing channels were judged on the file's columns and metadata above: a required channel
    # whose entry is broken is reported as broken, not also as missing.
    found += _check_streams(trial, file, rules, check_missing=False)
    found = _dedupe(found)
    if found or not convert:
        return _Inspected(meta, None, found)
    return _Inspected(meta, _to_canonical(trial), found)


def _parse_metadata(schema: pa.Schema, file: str) -> tuple[dict[str, Any] | None, list[Violation]]:
    raw = (schema.metadata or {}).get(c.TRIAL_METADATA_KEY)
    key = c.TRIAL_METADATA_KEY.decode()
    if raw is None:
        return None, [Violation(file, "metadata", f"no {key!r} entry in the Parquet metadata")]
    try:
        meta = json.loads(raw)
    except ValueError as exc:
        return None, [Violation(file, "metadata", f"{key!r} metadata is not JSON: {_line(exc)}")]
    if not isinstance(meta, dict):
        return None, [Violation(file, "metadata", f"{key!r} metadata is not a JSON object")]
    return meta, []


def _check_declared(
    meta: Mapping[str, Any], columns: list[str], file: str, subject: str | None
) -> tuple[dict[str, _Planned], list[Violation]]:
    """Metadata-level checks; returns the channels that are declared well enough to be read."""
    found: list[Violation] = []
    missing = [k for k in c.TRIAL_METADATA_REQUIRED if k not in meta]
    if missing:
        found.append(
            Violation(file, "metadata", f"missing key(s): {', '.join(missing)}", subject=subject)
        )
    if "contract_version" in meta:
        found += _version_violations(meta["contract_version"], file, subject)
    for key in _ID_KEYS:
        if key in meta and not isinstance(meta[key], str):
            found.append(
                Violation(file, "metadata", f"{key} {meta[key]!r} is not a string", subject)
            )
    for col in (c.STREAM_COLUMN, c.TIME_COLUMN):
        if col not in columns:
            found.append(
                Violation(file, "file_unreadable", f"not a trial table: no {col!r} column", subject)
            )

    channels = meta.get("channels", {})
    if not isinstance(channels, dict):
        found.append(
            Violation(file, "metadata", "channels must map channel names to {unit, rate_hz}")
        )
        channels = {}
    data_columns = [n for n in columns if n not in (c.STREAM_COLUMN, c.TIME_COLUMN)]
    plan: dict[str, _Planned] = {}
    for name in data_columns + [n for n in channels if n not in data_columns]:
        planned, problems = _declared_channel(
            name, channels.get(name), name in columns, file, subject
        )
        found += problems
        if planned is not None:
            plan[name] = planned

    rates: dict[str, dict[float, list[str]]] = defaultdict(lambda: defaultdict(list))
    for name, planned in plan.items():
        rates[planned.stream][planned.rate_hz].append(name)
    for stream, by_rate in rates.items():
        if len(by_rate) > 1:
            parts = [f"{r:g} Hz ({_some(names)})" for r, names in by_rate.items()]
            found.append(
                Violation(
                    file,
                    "sampling_rate",
                    f"channels of stream {stream!r} declare different rates: {'; '.join(parts)}",
                    subject,
                )
            )
    found += _missing_channels({*data_columns, *channels}, file, subject)
    return plan, found


def _declared_channel(
    name: str, entry: Any, has_column: bool, file: str, subject: str | None
) -> tuple[_Planned | None, list[Violation]]:
    """Check one channel's metadata entry; the plan for reading it, or None if it cannot be."""
    family = c.family_of(name)

    def problem(detail: str) -> tuple[None, list[Violation]]:
        unknown = _channel_violations(name, None, None, file, subject)
        return None, [*unknown, Violation(file, "metadata", detail, subject, name)]

    if entry is None:
        return problem("the table has this column but the metadata 'channels' has no entry")
    if not has_column:
        return problem("declared in the metadata 'channels' but the table has no such column")
    if not isinstance(entry, dict):
        return problem(f"entry {entry!r} is not an object with unit and rate_hz")
    lacking = [k for k in c.CHANNEL_METADATA_REQUIRED if k not in entry]
    if lacking:
        return problem(f"channel entry lacks {', '.join(lacking)}")
    unit, rate, stream = entry["unit"], entry["rate_hz"], entry.get("stream")
    if not isinstance(unit, str):
        return problem(f"unit {unit!r} is not a string")
    if not _positive_number(rate):
        return problem(f"rate_hz {rate!r} is not a positive number")
    if stream is None and family is not None:
        stream = family.stream
    if stream is not None and not isinstance(stream, str):
        return problem(f"stream {stream!r} is not a string")
    found = _channel_violations(name, unit, stream, file, subject)
    if stream is None:  # an unknown channel that does not say where it is stored
        return None, found
    return _Planned(stream, unit, float(rate)), found


def _assemble_streams(
    table: pa.Table, plan: Mapping[str, _Planned], file: str, subject: str | None
) -> tuple[dict[str, Stream], list[Violation]]:
    """Split the stream-tagged table into one Stream per stream, vectorised (no row loops)."""
    found: list[Violation] = []
    n_rows = table.num_rows
    tags_col = table.column(c.STREAM_COLUMN)
    if pa.types.is_dictionary(tags_col.type):
        tags_col = tags_col.cast(pa.string())
    if not (pa.types.is_string(tags_col.type) or pa.types.is_large_string(tags_col.type)):
        found.append(
            Violation(file, "file_unreadable", f"column {c.STREAM_COLUMN!r} is not text", subject)
        )
        return {}, found
    encoded = pc.dictionary_encode(tags_col.combine_chunks())
    names = [str(s) for s in encoded.dictionary.to_pylist()]
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    untagged = int(np.count_nonzero(codes < 0))
    if untagged:
        found.append(
            Violation(file, "stream", f"{untagged} row(s) have no {c.STREAM_COLUMN!r} tag", subject)
        )
    time_col = table.column(c.TIME_COLUMN)
    if not (pa.types.is_floating(time_col.type) or pa.types.is_integer(time_col.type)):
        found.append(
            Violation(file, "file_unreadable", f"column {c.TIME_COLUMN!r} is not numeric", subject)
        )
        return {}, found
    time = np.asarray(time_col.to_numpy(), dtype=np.float64)  # nulls become NaN
    rows = {name: np.flatnonzero(codes == k) for k, name in enumerate(names)}
    no_rows = np.empty(0, dtype=np.intp)

    values: dict[str, np.ndarray] = {}
    for name, planned in plan.items():
        col = table.column(name)
        if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
            found.append(
                Violation(
                    file, "file_unreadable", f"column type {col.type} is not numeric", subject, name
                )
            )
            continue
        own = _take(col, rows.get(planned.stream, no_rows))
        elsewhere = (n_rows - col.null_count) - (len(own) - own.null_count)
        if elsewhere:
            found.append(
                Violation(
                    file,
                    "stream",
                    f"declared in stream {planned.stream!r} but has values in {elsewhere} "
                    "row(s) tagged with another stream",
                    subject,
                    name,
                )
            )
        # A null in the channel's own rows is a missing sample: NaN, like a stored NaN.
        values[name] = np.asarray(own.to_numpy(), dtype=np.float64)

    ordered = [s for s in c.STREAMS if s in rows or any(p.stream == s for p in plan.values())]
    ordered += sorted({*rows, *(p.stream for p in plan.values())} - set(ordered))
    streams: dict[str, Stream] = {}
    for stream in ordered:
        idx = rows.get(stream, no_rows)
        chans = [ch for ch in values if plan[ch].stream == stream]
        if not chans:
            if stream not in c.STREAMS:
                found.append(
                    Violation(
                        file,
                        "stream",
                        f"{idx.size} row(s) are tagged with unknown stream {stream!r} "
                        f"(streams: {', '.join(c.STREAMS)})",
                        subject,
                    )
                )
            continue
        data = np.empty((idx.size, len(chans)), dtype=np.float64)
        for j, ch in enumerate(chans):
            data[:, j] = values[ch]
        rate = Counter(plan[ch].rate_hz for ch in chans).most_common(1)[0][0]
        streams[stream] = Stream(
            stream, rate, time[idx], tuple(chans), data, tuple(plan[ch].unit for ch in chans)
        )
    return streams, found


def _take(col: pa.ChunkedArray, idx: np.ndarray) -> pa.ChunkedArray:
    """Rows `idx` of a column: a zero-copy slice when they are contiguous (as written)."""
    if idx.size and int(idx[-1]) - int(idx[0]) + 1 == idx.size:
        return col.slice(int(idx[0]), idx.size)
    return col.take(pa.array(idx))


def _to_canonical(trial: Trial) -> Trial:
    streams = {}
    for name, s in trial.streams.items():
        families = [c.family_of(ch) for ch in s.channels]
        canonical = tuple(f.unit for f in families if f is not None)
        factors = np.array(
            [c.UNIT_FACTORS[f.unit][u] for f, u in zip(families, s.units, strict=True) if f]
        )
        data = np.asarray(s.data, dtype=np.float64)
        data *= factors
        streams[name] = Stream(name, s.rate_hz, s.time, s.channels, data, canonical)
    return Trial(
        trial.trial_id, trial.subject_id, trial.cohort_id, trial.kind, streams, trial.extra
    )


# --- shared checks ---------------------------------------------------------------------------
def _id_violations(meta: Mapping[str, Any], file: str) -> list[Violation]:
    tid, sid, cid, kind = (_str_or_none(meta.get(k)) for k in _ID_KEYS)
    found: list[Violation] = []
    if "kind" in meta and kind is not None and kind not in c.TRIAL_KINDS:
        found.append(
            Violation(
                file, "metadata", f"kind {kind!r} is not one of {', '.join(c.TRIAL_KINDS)}", sid
            )
        )
    if "trial_id" in meta and tid is not None and not c.TRIAL_ID_PATTERN.match(tid):
        found.append(
            Violation(
                file,
                "trial_id",
                f"trial_id {tid!r} does not match {c.TRIAL_ID_PATTERN.pattern}",
                sid,
            )
        )
    if "cohort_id" in meta and cid is not None and not c.COHORT_ID_PATTERN.match(cid):
        found.append(
            Violation(
                file,
                "cohort_id",
                f"cohort_id {cid!r} does not match {c.COHORT_ID_PATTERN.pattern}",
                sid,
            )
        )
    return found


def _version_violations(version: Any, file: str, subject: str | None) -> list[Violation]:
    if not isinstance(version, str) or not _VERSION.match(version):
        return [
            Violation(file, "metadata", f"contract_version {version!r} is not like '1.0'", subject)
        ]
    major, ours = version.split(".")[0], c.CONTRACT_VERSION.split(".")[0]
    if int(major) != int(ours):
        return [
            Violation(
                file,
                "metadata",
                f"contract_version {version} is incompatible with this loader's "
                f"{c.CONTRACT_VERSION} (major version differs)",
                subject,
            )
        ]
    return []


def _channel_violations(
    name: str, unit: str | None, stream: str | None, file: str, subject: str | None
) -> list[Violation]:
    family = c.family_of(name)
    if family is None:
        return [
            Violation(
                file,
                "unknown_channel",
                f"{name!r} is not a channel of the contract (names: {_CHANNEL_NAMING})",
                subject,
                name,
            )
        ]
    found = []
    if stream is not None and stream != family.stream:
        found.append(
            Violation(
                file,
                "stream",
                f"stored in stream {stream!r}, but {family.name} channels belong to stream "
                f"{family.stream!r}",
                subject,
                name,
            )
        )
    accepted = c.UNIT_FACTORS[family.unit]
    if unit is not None and unit not in accepted:
        found.append(
            Violation(
                file,
                "unknown_unit",
                f"unit {unit!r} is not accepted for {family.name} channels; accepted: "
                f"{', '.join(accepted)} (canonical {family.unit})",
                subject,
                name,
            )
        )
    return found


def _missing_channels(present: set[str], file: str, subject: str | None) -> list[Violation]:
    return [
        Violation(
            file,
            "missing_channel",
            f"required channel {name!r} is absent",
            subject,
            name,
        )
        for name in _REQUIRED_CHANNELS
        if name not in present
    ]


def _check_streams(
    trial: Trial, file: str, rules: ContractConfig, *, check_missing: bool = True
) -> list[Violation]:
    subject = trial.subject_id or None
    found: list[Violation] = []
    present: set[str] = set()
    for name, stream in trial.streams.items():
        if name not in c.STREAMS:
            found.append(
                Violation(
                    file,
                    "stream",
                    f"unknown stream {name!r} (streams: {', '.join(c.STREAMS)})",
                    subject,
                )
            )
        for ch, unit in zip(stream.channels, stream.units, strict=True):
            found += _channel_violations(ch, unit, name, file, subject)
        present.update(stream.channels)
        found += _check_stream(stream, file, subject, rules)
    if check_missing:
        found += _missing_channels(present, file, subject)
    return found


def _check_stream(
    stream: Stream, file: str, subject: str | None, rules: ContractConfig
) -> list[Violation]:
    """Time base, sampling rate and NaN runs of one stream; all vectorised."""
    name = stream.name
    found: list[Violation] = []
    rate: float | None = float(stream.rate_hz)
    if not _positive_number(rate):
        found.append(
            Violation(file, "metadata", f"stream {name!r} rate {rate!r} is not positive", subject)
        )
        rate = None
    t = np.asarray(stream.time, dtype=np.float64)
    n = t.shape[0]
    if n < 2:
        found.append(
            Violation(
                file,
                "empty_stream",
                f"stream {name!r} has {n} sample(s), at least 2 needed",
                subject,
            )
        )
        return found

    bad_time = ~np.isfinite(t)
    if bad_time.any():
        first = int(np.argmax(bad_time))
        found.append(
            Violation(
                file,
                "time_nan",
                f"time of stream {name!r} has {int(bad_time.sum())} NaN/infinite value(s), "
                f"first at sample {first}",
                subject,
            )
        )
    else:
        dt = np.diff(t)
        for kind, where in (("duplicated", dt == 0), ("decreasing", dt < 0)):
            hits = np.flatnonzero(where)
            if hits.size:
                i = int(hits[0]) + 1
                found.append(
                    Violation(
                        file,
                        "time_order",
                        f"time of stream {name!r} is not strictly increasing: {kind} at sample "
                        f"{i} (t={t[i]:.6g} s after {t[i - 1]:.6g} s); {hits.size} such sample(s)",
                        subject,
                    )
                )
        median = float(np.median(dt))
        if rate is not None and median > 0:
            measured = 1.0 / median
            if abs(measured - rate) / rate > rules.rate_tolerance:
                found.append(
                    Violation(
                        file,
                        "sampling_rate",
                        f"stream {name!r} declares {rate:g} Hz but its median sample interval "
                        f"{median * 1e3:.4g} ms means {measured:.4g} Hz "
                        f"(tolerance {rules.rate_tolerance:.1%})",
                        subject,
                    )
                )
        if rate is None and median > 0:
            rate = 1.0 / median

    if rate is not None:
        found += _nan_runs(stream, t, rate, file, subject, rules.max_nan_run_s)
    return found


def _nan_runs(
    stream: Stream, t: np.ndarray, rate: float, file: str, subject: str | None, max_s: float
) -> list[Violation]:
    strict = [
        j
        for j, ch in enumerate(stream.channels)
        if (fam := c.family_of(ch)) is not None and not fam.nan_allowed
    ]
    if not strict:
        return []
    mask = np.isnan(stream.data[:, strict]).T  # channels x samples
    if not mask.any():
        return []
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    start_ch, start_i = np.nonzero(edges == 1)  # both sorted by channel, then sample
    _, stop_i = np.nonzero(edges == -1)
    length = stop_i - start_i
    too_long = length > max_s * rate + 1e-9
    found: list[Violation] = []
    for k in np.unique(start_ch[too_long]):
        runs = np.flatnonzero(too_long & (start_ch == k))
        worst = runs[np.argmax(length[runs])]
        i0, count = int(start_i[worst]), int(length[worst])
        channel = stream.channels[strict[int(k)]]
        more = f"; {runs.size} runs that long" if runs.size > 1 else ""
        found.append(
            Violation(
                file,
                "nan_run",
                f"{count} missing samples in a row ({count / rate:.3f} s) from sample {i0} "
                f"(t={t[i0]:.4g} s to {t[i0 + count - 1]:.4g} s); at most {max_s:g} s allowed"
                + more,
                subject,
                channel,
            )
        )
    return found


# --- small helpers ---------------------------------------------------------------------------
def _dedupe(found: list[Violation]) -> list[Violation]:
    return list(dict.fromkeys(found))


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _positive_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _plain(value: Any) -> Any:
    """pandas/numpy scalars to plain Python; NaN and None to None."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _some(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
