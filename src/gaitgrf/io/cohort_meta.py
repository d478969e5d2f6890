"""A cohort's own files, checked against the contract: subjects.csv, manifest.json, checksums.

The readers return what could be read together with every violation found, so that the loader
can report the problems of all files of a cohort at once instead of stopping at the first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from gaitgrf.core import contract as c
from gaitgrf.core.errors import Violation
from gaitgrf.io.checks import first_line, version_violations
from gaitgrf.io.cohort_store import cohort_files, sha256_file

#: subjects.csv columns holding numbers (exactly those with a plausible range).
_NUMERIC_COLUMNS = tuple(c.SUBJECT_RANGES)
_MANIFEST_REQUIRED = ("cohort_id", "contract_version", "created_at", "source", "checksums")
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


# --- subjects.csv ----------------------------------------------------------------------------
def read_subjects(path: Path, cohort_id: str) -> tuple[pd.DataFrame | None, list[Violation]]:
    """subjects.csv as the contract's typed table (or None if unreadable) and its violations."""
    file = str(path)
    if not path.is_file():
        return None, [Violation(file, "file_missing", f"{c.SUBJECTS_FILE} not found")]
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, ValueError) as exc:  # parser, empty-file and decoding errors
        return None, [
            Violation(file, "file_unreadable", f"cannot be read as CSV: {first_line(exc)}")
        ]
    raw.columns = pd.Index([str(col).strip() for col in raw.columns])
    raw = raw.fillna("").astype(str).apply(lambda col: col.str.strip())

    found = _schema_violations(raw, file)
    ids = raw["subject_id"] if "subject_id" in raw.columns else None
    for column in [col for col in c.SUBJECT_COLUMNS if col in raw.columns]:
        found += _column_violations(raw, column, ids, file, cohort_id)
    if ids is not None:
        found += _duplicate_subjects(ids, file)
    return _typed_subjects(raw), found


def _schema_violations(raw: pd.DataFrame, file: str) -> list[Violation]:
    """Columns missing from, or not allowed in, subjects.csv."""
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
    return found


def _row_violations(
    raw: pd.DataFrame,
    ids: pd.Series[str] | None,
    file: str,
    rows: Iterable[int],
    rule: str,
    column: str,
    detail: str,
) -> list[Violation]:
    """One violation per offending row, located by line; `{value}` in `detail` becomes the cell."""
    found: list[Violation] = []
    for i in rows:
        sid = cast(str, ids.iat[i]) if ids is not None else ""  # cells are text (dtype=str)
        text = detail.replace("{value}", repr(raw[column].iat[i]))
        found.append(Violation(file, rule, f"line {i + 2}: {text}", subject=sid or None))
    return found


def _column_violations(
    raw: pd.DataFrame, column: str, ids: pd.Series[str] | None, file: str, cohort_id: str
) -> list[Violation]:
    """Every rule on the cells of one column: required, numeric range, allowed values, ids."""
    found: list[Violation] = []

    def bad(rows: Iterable[int], rule: str, detail: str) -> None:
        found.extend(_row_violations(raw, ids, file, rows, rule, column, detail))

    cells = raw[column]
    empty = (cells == "").to_numpy()
    if column in c.SUBJECT_REQUIRED_VALUES:
        bad(np.flatnonzero(empty), "subject_value", f"{column} is empty but required")
    if column in _NUMERIC_COLUMNS:
        numbers = pd.to_numeric(cells.mask(empty), errors="coerce").to_numpy(dtype=float)
        lo, hi = c.SUBJECT_RANGES[column]
        bad(
            np.flatnonzero(~empty & np.isnan(numbers)),
            "subject_value",
            f"{column} {{value}} is not a number",
        )
        outside = ~np.isnan(numbers) & ((numbers < lo) | (numbers > hi))
        bad(
            np.flatnonzero(outside),
            "subject_value",
            f"{column} {{value}} is outside the plausible range {lo:g} to {hi:g}",
        )
    allowed = {"sex": c.SEXES, "affected_side": c.AFFECTED_SIDES}.get(column)
    if allowed is not None:
        wrong = ~empty & ~cells.isin(allowed).to_numpy()
        bad(
            np.flatnonzero(wrong),
            "subject_value",
            f"{column} {{value}} is not one of {', '.join(allowed)}"
            + (" (or empty when unknown)" if column == "sex" else ""),
        )
    if column == "subject_id":
        wrong = ~empty & ~cells.str.match(c.SUBJECT_ID_PATTERN.pattern).to_numpy(dtype=bool)
        bad(
            np.flatnonzero(wrong),
            "subject_value",
            f"subject_id {{value}} does not match {c.SUBJECT_ID_PATTERN.pattern}",
        )
    if column == "cohort_id":
        wrong = ~empty & (cells != cohort_id).to_numpy()
        bad(
            np.flatnonzero(wrong),
            "cohort_id",
            f"cohort_id {{value}} differs from the cohort folder {cohort_id!r}",
        )
    return found


def _duplicate_subjects(ids: pd.Series[str], file: str) -> list[Violation]:
    """One violation per subject_id used on more than one line, naming all its lines."""
    found: list[Violation] = []
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
    return found


def _typed_subjects(raw: pd.DataFrame) -> pd.DataFrame:
    """The contract's columns in contract order: numbers float64 (NaN when empty), text or None."""
    subjects = pd.DataFrame(index=pd.RangeIndex(len(raw)))
    for col in c.SUBJECT_COLUMNS:
        if col not in raw.columns:
            continue
        cells = raw[col]
        if col in _NUMERIC_COLUMNS:
            subjects[col] = pd.to_numeric(cells.mask(cells == ""), errors="coerce").astype(float)
        else:  # empty cells are unknown: None, never "" or a guess
            subjects[col] = pd.Series([v or None for v in cells], dtype=object)
    return subjects


# --- manifest.json and checksums -------------------------------------------------------------
def read_manifest(path: Path, cohort_id: str) -> tuple[dict[str, Any] | None, list[Violation]]:
    """manifest.json as a dict (or None if it is no JSON object) and its violations."""
    file = str(path)
    if not path.is_file():
        return None, [Violation(file, "file_missing", f"{c.MANIFEST_FILE} not found")]
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None, [Violation(file, "file_unreadable", f"not valid JSON: {first_line(exc)}")]
    if not isinstance(manifest, dict):
        return None, [Violation(file, "file_unreadable", "not a JSON object")]
    found: list[Violation] = []
    missing = [k for k in _MANIFEST_REQUIRED if k not in manifest]
    if missing:
        found.append(Violation(file, "metadata", f"missing key(s): {', '.join(missing)}"))
    if "contract_version" in manifest:
        found += version_violations(manifest["contract_version"], file, None)
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


def check_checksums(root: Path, manifest: Mapping[str, Any], *, verify: bool) -> list[Violation]:
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
