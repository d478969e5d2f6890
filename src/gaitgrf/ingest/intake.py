"""New cohorts arriving: validated first, then added, versioned and committed, or rejected whole.

`add_cohort(src, ...)` takes a folder in the contract format (subjects.csv, manifest.json,
trials/) or a folder of lab recordings (imported through `gaitgrf.ingest.cohort`) and:

1. builds the candidate cohort in a scratch folder (never under `data/raw/`);
2. refuses a cohort id that exists already (folder or `.dvc` file): adding twice is an error;
3. validates the candidate alone with the project's Great Expectations suites; if the stage
   would fail (schema broken, too many trials quarantined) the cohort is rejected with the
   validation report, and `data/raw/` is untouched;
4. copies it to `data/raw/<id>/` (staged, one rename), `dvc add` + `dvc push` (its own
   `<id>.dvc`), and commits the `.dvc` file and `data/raw/.gitignore` to git. If any of that
   fails, the copy is removed again.

`ready_cohorts(incoming)` is what the watcher polls: a sub-folder of `data/incoming/` counts as
complete when it holds the marker file (`READY`) or when its listing (names, sizes, mtimes) has not
changed for `settle_s` seconds, so a folder still being copied is never taken.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from gaitgrf.core import contract as c
from gaitgrf.core.config import ContractConfig, ValidateConfig
from gaitgrf.core.errors import GaitGrfError

READY_MARKER: Final = "READY"
Report = Callable[[str], None]


class IntakeError(GaitGrfError):
    hint = "nothing under data/raw changed; fix the source and run `gaitgrf cohort add` again"


class CohortRejected(IntakeError):
    """The candidate failed validation; `report_dir` holds the full validation report."""

    def __init__(self, message: str, report_dir: Path) -> None:
        super().__init__(message)
        self.report_dir = report_dir
        self.hint = (
            f"the validation report is in {report_dir} (summary.json, data_docs/index.html); "
            "nothing under data/raw changed"
        )


@dataclass
class Added:
    cohort_id: str
    folder: Path
    dvc_file: Path
    commit: str | None
    trials: int
    quarantined: list[dict[str, Any]] = field(default_factory=list)


def _noop(_: str) -> None:
    pass


def is_contract_cohort(src: Path) -> bool:
    return (src / c.SUBJECTS_FILE).is_file() and (src / c.MANIFEST_FILE).is_file()


def contract_cohort_id(src: Path) -> str:
    try:
        manifest = json.loads((src / c.MANIFEST_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise IntakeError(f"{src / c.MANIFEST_FILE}: cannot be read ({exc})") from None
    cohort_id = manifest.get("cohort_id")
    if not isinstance(cohort_id, str) or not cohort_id:
        raise IntakeError(f"{src / c.MANIFEST_FILE}: no cohort_id")
    return cohort_id


def check_absent(raw_dir: Path, cohort_id: str) -> None:
    from gaitgrf.workspace import dvc_file

    if not c.COHORT_ID_PATTERN.match(cohort_id):
        raise IntakeError(
            f"cohort id {cohort_id!r} must match {c.COHORT_ID_PATTERN.pattern}",
        )
    folder = raw_dir / cohort_id
    if folder.exists() or dvc_file(folder).exists():
        raise IntakeError(
            f"cohort {cohort_id!r} already exists in {raw_dir} (adding the same cohort twice is "
            "refused)"
        )


def _candidate(
    src: Path,
    scratch: Path,
    cohort_id: str | None,
    subjects_file: Path | None,
    report: Report,
) -> tuple[str, Path]:
    """Build the candidate cohort under `scratch/raw/<id>`; return (id, folder)."""
    raw = scratch / "raw"
    raw.mkdir(parents=True)
    if is_contract_cohort(src):
        found = contract_cohort_id(src)
        if cohort_id is not None and cohort_id != found:
            raise IntakeError(
                f"{src}: manifest says cohort {found!r}, --cohort says {cohort_id!r}; a contract "
                "cohort keeps its id (its manifest and trial files name it)"
            )
        shutil.copytree(src, raw / found, ignore=shutil.ignore_patterns(READY_MARKER))
        return found, raw / found
    if cohort_id is None:
        raise IntakeError(
            f"{src}: not a contract cohort (no {c.SUBJECTS_FILE} + {c.MANIFEST_FILE}); to import "
            "recordings give the new cohort an id with --cohort"
        )
    from gaitgrf.ingest.cohort import import_recordings

    report(f"importing recordings from {src} as cohort {cohort_id}")
    import_recordings(src, cohort_id, raw, subjects_file)
    return cohort_id, raw / cohort_id


def add_cohort(
    src: Path,
    *,
    root: Path,
    raw_dir: Path,
    contract: ContractConfig,
    rules: ValidateConfig,
    rejected_dir: Path,
    cohort_id: str | None = None,
    subjects_file: Path | None = None,
    commit: bool = True,
    report: Report = _noop,
) -> Added:
    """Validate `src` as a new cohort, then add, track, push and commit it (see module doc)."""
    from gaitgrf.pipeline.validate.run import ValidationFailed, validate_cohorts
    from gaitgrf.workspace import git_commit_paths, track_cohort

    src = Path(src)
    if not src.is_dir():
        raise IntakeError(f"{src}: not a folder")
    with tempfile.TemporaryDirectory(prefix="gaitgrf-intake-") as tmp:
        scratch = Path(tmp)
        new_id, candidate = _candidate(src, scratch, cohort_id, subjects_file, report)
        check_absent(raw_dir, new_id)
        report(f"validating cohort {new_id} on its own")
        try:
            summary = validate_cohorts(
                scratch / "raw", scratch / "validated", scratch / "reports", contract, rules
            )
        except ValidationFailed as exc:
            kept = rejected_dir / new_id
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(scratch / "reports", kept)
            raise CohortRejected(f"cohort {new_id} rejected: {exc}", kept) from None
        quarantined = [
            {"trial": key, "reasons": reasons}
            for key, reasons in summary.quarantined_trials.items()
        ]
        check_absent(raw_dir, new_id)  # again, right before writing
        raw_dir.mkdir(parents=True, exist_ok=True)
        staging = raw_dir / f".adding-{new_id}"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(candidate, staging)
        folder = raw_dir / new_id
        staging.rename(folder)
    try:
        tracked = track_cohort(root, folder, report=report)
        sha = None
        if commit:
            ignore = raw_dir / ".gitignore"
            sha = git_commit_paths(
                root, [tracked, ignore], f"Add cohort {new_id} ({summary.trials} trials)"
            )
            report(f"committed {tracked.name} ({sha[:10]})")
    except BaseException:
        _undo(root, folder)
        raise
    return Added(new_id, folder, tracked, sha, summary.trials, quarantined)


def _undo(root: Path, folder: Path) -> None:
    """Remove a half-added cohort: its folder, its `.dvc` file, its .gitignore line."""
    from gaitgrf.workspace import dvc_file

    shutil.rmtree(folder, ignore_errors=True)
    dvc_file(folder).unlink(missing_ok=True)
    ignore = folder.parent / ".gitignore"
    if ignore.is_file():
        lines = [ln for ln in ignore.read_text().splitlines() if ln.strip() != f"/{folder.name}"]
        ignore.write_text("".join(f"{ln}\n" for ln in lines))


# --- the incoming folder -----------------------------------------------------------------------
def listing_digest(folder: Path) -> str:
    """Names, sizes and mtimes of every file: changes while a copy is still running."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def ready_cohorts(
    incoming: Path,
    state: Mapping[str, Any],
    *,
    settle_s: float,
    now: float | None = None,
) -> tuple[list[Path], dict[str, Any]]:
    """Complete, not yet announced folders under `incoming`, and the watcher's new state.

    `state` maps folder name -> {"digest", "since", "announced"}; a folder is complete when it
    holds READY, or when its digest has stayed the same for `settle_s` seconds. A folder is
    announced once per content: if it changes later (a re-delivery), it is announced again.
    """
    now = time.time() if now is None else now
    new_state: dict[str, Any] = {}
    ready: list[Path] = []
    if not incoming.is_dir():
        return ready, new_state
    for folder in sorted(
        p for p in incoming.iterdir() if p.is_dir() and not p.name.startswith(".")
    ):
        digest = listing_digest(folder)
        old = state.get(folder.name, {})
        since = old.get("since", now) if old.get("digest") == digest else now
        announced = old.get("announced") == digest
        complete = (folder / READY_MARKER).is_file() or now - since >= settle_s
        if complete and not announced:
            ready.append(folder)
            announced = True
        new_state[folder.name] = {
            "digest": digest,
            "since": since,
            "announced": digest if announced else None,
        }
    return ready, new_state
