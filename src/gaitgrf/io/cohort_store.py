"""Writing cohorts: staged in a temporary folder, then moved into place in one rename.

A stored cohort is immutable. Writers never touch an existing `data/raw/<cohort_id>/`; a cohort
that fails half-way leaves only its staging folder (removed on the next attempt), never a partial
cohort under its real name.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gaitgrf.core import contract as c
from gaitgrf.core.errors import CohortExistsError
from gaitgrf.core.fsutil import staged_dir

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def cohort_files(root: Path) -> list[Path]:
    """Data files of a cohort (everything but the manifest), sorted for stable checksums."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.name != c.MANIFEST_FILE and not p.name.startswith(".")
    )


def write_subjects(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """subjects.csv with the contract's columns; None becomes an empty cell (unknown)."""
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(c.SUBJECT_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in c.SUBJECT_COLUMNS})


def write_manifest(
    root: Path, cohort_id: str, source: Mapping[str, Any], *, created_at: str | None = None
) -> dict[str, Any]:
    """Write the manifest of the cohort at `root`: checksums of its files, where it came from.

    `created_at` defaults to now (a new delivery); a derived copy passes its source's time, so
    that writing it again from the same input gives the same bytes (DVC sees no change).
    """
    manifest = {
        "cohort_id": cohort_id,
        "contract_version": c.CONTRACT_VERSION,
        "created_at": created_at or datetime.now(UTC).isoformat(timespec="seconds"),
        "source": dict(source),
        "checksums": {
            p.relative_to(root).as_posix(): f"sha256:{sha256_file(p)}" for p in cohort_files(root)
        },
    }
    (root / c.MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def check_new_cohort(out_dir: Path, cohort_id: str) -> None:
    if not c.COHORT_ID_PATTERN.match(cohort_id):
        raise ValueError(f"cohort id {cohort_id!r} must match {c.COHORT_ID_PATTERN.pattern}")
    if out_dir.exists():
        raise CohortExistsError(f"{out_dir}: cohort {cohort_id!r} already exists")


@contextmanager
def staged_cohort(out_dir: Path, cohort_id: str) -> Iterator[Path]:
    """Yield a staging folder; on success it becomes `out_dir` atomically.

    The final check for an existing cohort happens again right before the rename, so two writers
    racing for the same id cannot overwrite each other.
    """
    check_new_cohort(out_dir, cohort_id)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with staged_dir(out_dir, replace=False) as staging:  # data/raw/.staging-<cohort_id>
        yield staging
        if out_dir.exists():
            raise CohortExistsError(f"{out_dir}: cohort {cohort_id!r} appeared while writing")
