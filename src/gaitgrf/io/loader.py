"""Read raw cohorts and check them against the data contract (docs/data-contract.md).

Every stage reads raw data through this module. `load_cohort` checks a whole cohort folder and
reports *every* broken rule at once in one `ContractError`; `read_trial` returns one trial as
float64 arrays in canonical units (the unit conversion happens in `gaitgrf.io.trial_reader` and
nowhere else); `check_trial` lets an importer validate a `Trial` before writing it.

Each violation carries a rule id; the ids and what they mean are listed in the "Rules" section of
docs/data-contract.md, which is kept in step with the rules in `gaitgrf.io.checks`,
`gaitgrf.io.cohort_meta` (subjects.csv, manifest) and `gaitgrf.io.trial_reader` (trial files).
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gaitgrf.core import contract as c
from gaitgrf.core.config import ContractConfig
from gaitgrf.core.errors import ContractError, Violation
from gaitgrf.io.checks import ID_KEYS, check_streams, dedupe, id_violations, str_or_none
from gaitgrf.io.cohort_meta import check_checksums, read_manifest, read_subjects
from gaitgrf.io.trial_file import Trial
from gaitgrf.io.trial_reader import inspect_trial_file, trial_paths

_DEFAULT_RULES = ContractConfig()


# --- public types ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TrialRef:
    """A trial found in a cohort, not yet read: ids from its metadata and where it lies.

    A ref holds its ids, its path and the names of its declared channels, nothing else: a
    stage keeps the refs of every trial for its whole run, so what a ref holds is what memory
    grows by per trial (issue 16). The metadata document itself stays in the file and is read
    when asked for (`read_metadata`), as `read_trial` reads it again with the data.
    """

    trial_id: str
    subject_id: str
    cohort_id: str
    kind: str
    path: Path
    #: The channel names its metadata declares (the keys of its channel table). Refs of one
    #: scan that declare the same names share one frozenset.
    channels: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def read_metadata(self) -> dict[str, Any]:
        """The trial's metadata document as stored (channels, units, rates, extras), read from
        its file's Parquet footer now; raises ContractError if there is none to read."""
        result = inspect_trial_file(self.path, _DEFAULT_RULES, read_data=False, convert=False)
        if result.metadata is None:
            raise ContractError(result.violations, context=f"trial {self.path}")
        return result.metadata


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
    found = _cohort_id_violations(root, cohort_id)

    subjects, problems = read_subjects(root / c.SUBJECTS_FILE, cohort_id)
    found += problems
    manifest, problems = read_manifest(root / c.MANIFEST_FILE, cohort_id)
    found += problems
    if manifest is not None:
        found += check_checksums(root, manifest, verify=rules.verify_checksums)

    known_subjects: set[str] | None = None
    if subjects is not None and "subject_id" in subjects.columns:
        known_subjects = {s for s in subjects["subject_id"] if isinstance(s, str)}

    refs, problems = _scan_trials(
        root / c.TRIALS_DIR, cohort_id, known_subjects, rules, read_trials=read_trials
    )
    found += problems

    if subjects is not None and subjects.empty:
        found.append(
            Violation(
                str(root / c.SUBJECTS_FILE),
                "empty_cohort",
                "no subject rows; a cohort needs at least one subject",
            )
        )

    found = dedupe(found)
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
    result = inspect_trial_file(path, rules, read_data=True, convert=True)
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
    found = id_violations(
        {
            "trial_id": trial.trial_id,
            "subject_id": trial.subject_id,
            "cohort_id": trial.cohort_id,
            "kind": trial.kind,
        },
        file,
    )
    found += check_streams(trial, file, rules)
    return dedupe(found)


# --- the trials of a cohort ------------------------------------------------------------------
def _cohort_id_violations(root: Path, cohort_id: str) -> list[Violation]:
    """The folder name is the cohort id, so it must be a valid one."""
    if c.COHORT_ID_PATTERN.match(cohort_id):
        return []
    return [
        Violation(
            str(root),
            "cohort_id",
            f"folder name {cohort_id!r} is not a valid cohort id "
            f"(pattern {c.COHORT_ID_PATTERN.pattern}: lower-case letters, digits, '_', '-')",
        )
    ]


def _scan_trials(
    trials_dir: Path,
    cohort_id: str,
    known_subjects: set[str] | None,
    rules: ContractConfig,
    *,
    read_trials: bool,
) -> tuple[list[TrialRef], list[Violation]]:
    """Check every trial file of the cohort; the refs of those whose ids could be read."""
    found: list[Violation] = []
    refs: list[TrialRef] = []
    if not trials_dir.is_dir():
        found.append(
            Violation(
                str(trials_dir), "file_missing", f"no {c.TRIALS_DIR}/ folder with the trial files"
            )
        )
        return refs, found
    paths = trial_paths(trials_dir)
    if not paths:
        found.append(
            Violation(
                str(trials_dir),
                "empty_cohort",
                f"no trial files (*{c.TRIAL_SUFFIX}); a cohort needs at least one trial",
            )
        )
    files_of_trial: dict[str, list[Path]] = defaultdict(list)
    names_seen: dict[frozenset[str], frozenset[str]] = {}  # channel name sets, by content
    for path in paths:
        result = inspect_trial_file(path, rules, read_data=read_trials, convert=False)
        found += result.violations
        meta = result.metadata
        if meta is None:
            continue
        tid, sid, cid, kind = (str_or_none(meta.get(k)) for k in ID_KEYS)
        if tid is not None:
            files_of_trial[tid].append(path)
        found += _membership_violations(str(path), sid, cid, cohort_id, known_subjects)
        if tid is not None and sid is not None and cid is not None and kind is not None:
            refs.append(_ref(tid, sid, cid, kind, path, meta, names_seen))
    found += _duplicate_trials(files_of_trial)
    return refs, found


def _ref(
    tid: str,
    sid: str,
    cid: str,
    kind: str,
    path: Path,
    meta: dict[str, Any],
    seen: dict[frozenset[str], frozenset[str]],
) -> TrialRef:
    """The ref of one trial: its ids and path, and its channel names shared with the refs
    before it that declare the same ones; the decoded metadata is let go.

    Refs stay in memory for a whole stage: each holding its decoded metadata (~11 KB, and
    ~20 KB more for its channel table) made a stage's memory grow with the cohort (issue 16).
    The ids that repeat (subject, cohort, kind) are interned: one string per value, not per
    trial.
    """
    table = meta.get("channels")
    names = frozenset(table) if isinstance(table, dict) else frozenset()
    return TrialRef(
        tid,
        sys.intern(sid),
        sys.intern(cid),
        sys.intern(kind),
        path,
        seen.setdefault(names, names),
    )


def _membership_violations(
    file: str, sid: str | None, cid: str | None, cohort_id: str, known_subjects: set[str] | None
) -> list[Violation]:
    """A trial belongs to a subject of subjects.csv and to the cohort whose folder holds it."""
    found: list[Violation] = []
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
    return found


def _duplicate_trials(files_of_trial: dict[str, list[Path]]) -> list[Violation]:
    """Every file of a trial_id used by more than one file, each naming all of them."""
    found: list[Violation] = []
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
    return found


# --- small helpers ---------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """pandas/numpy scalars to plain Python; NaN and None to None."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
