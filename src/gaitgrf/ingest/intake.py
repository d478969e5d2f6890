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

import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from gaitgrf.core import contract as c
from gaitgrf.core.config import ContractConfig, ValidateConfig
from gaitgrf.core.errors import GaitGrfError
from gaitgrf.core.fsutil import (
    UnsafePathError,
    check_id,
    child_path,
    fresh_dir,
    refuse_unsafe_entries,
)

READY_MARKER: Final = "READY"
#: In-progress names under data/raw (dot-names: cohort listings, git and DVC ignore them).
LOCK_FILE: Final = ".intake.lock"
SCRATCH_DIR: Final = ".intake-scratch"
JOURNAL_PREFIX: Final = ".adding-"
Report = Callable[[str], None]


class IntakeError(GaitGrfError):
    hint = "nothing under data/raw changed; fix the source and run `gaitgrf cohort add` again"


class IntakeBusy(IntakeError):
    """Another add holds the intake lock: try again later (the incoming folder stays put)."""

    hint = "nothing changed; run it again once the other `gaitgrf cohort add` has finished"


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
    """The manifest's cohort id, checked (pattern, no path escape) before any path uses it."""
    try:
        manifest = json.loads((src / c.MANIFEST_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise IntakeError(f"{src / c.MANIFEST_FILE}: cannot be read ({exc})") from None
    if not isinstance(manifest, dict):
        raise IntakeError(
            f"{src / c.MANIFEST_FILE}: expected a JSON object, found {type(manifest).__name__}"
        )
    cohort_id = manifest.get("cohort_id")
    if not isinstance(cohort_id, str) or not cohort_id:
        raise IntakeError(f"{src / c.MANIFEST_FILE}: no cohort_id")
    try:
        return check_id(cohort_id)
    except UnsafePathError as exc:
        raise IntakeError(f"{src / c.MANIFEST_FILE}: {exc}") from None


def check_absent(raw_dir: Path, cohort_id: str) -> None:
    from gaitgrf.workspace import dvc_file

    try:
        folder = child_path(raw_dir, cohort_id)
    except UnsafePathError as exc:
        raise IntakeError(str(exc)) from None
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
        shutil.copytree(src, child_path(raw, found), ignore=shutil.ignore_patterns(READY_MARKER))
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
    progress: Callable[[int, int, str], None] | None = None,
) -> Added:
    """Validate `src` as a new cohort, then add, track, push and commit it (see module doc).

    `progress(done, total, what)` follows the validation, which reads every trial (the long
    part); the other steps are `report` lines.
    """
    src = Path(src)
    if not src.is_dir():
        raise IntakeError(f"{src}: not a folder")
    try:
        if cohort_id is not None:
            check_id(cohort_id)
        refuse_unsafe_entries(src)
    except UnsafePathError as exc:
        raise IntakeError(str(exc)) from None
    raw_dir.mkdir(parents=True, exist_ok=True)
    with intake_lock(raw_dir):
        recover_interrupted(root, raw_dir, report=report)
        scratch = fresh_scratch(raw_dir)
        try:
            new_id, candidate = _candidate(src, scratch, cohort_id, subjects_file, report)
            check_absent(raw_dir, new_id)
            summary = _validate_alone(
                src, scratch, candidate, new_id, contract, rules, rejected_dir, report, progress
            )
            check_absent(raw_dir, new_id)  # again, right before writing
            folder = child_path(raw_dir, new_id)
            journal = begin(raw_dir, new_id, commit=commit)
            os.rename(candidate, folder)  # same file system: one atomic step
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        try:
            tracked, sha = _track_and_commit(root, raw_dir, folder, summary.trials, commit, report)
        except BaseException:
            _undo(root, folder)
            journal.unlink(missing_ok=True)
            raise
        journal.unlink(missing_ok=True)
    quarantined = [
        {"trial": key, "reasons": reasons} for key, reasons in summary.quarantined_trials.items()
    ]
    return Added(new_id, folder, tracked, sha, summary.trials, quarantined)


def _validate_alone(
    src: Path,
    scratch: Path,
    candidate: Path,
    new_id: str,
    contract: ContractConfig,
    rules: ValidateConfig,
    rejected_dir: Path,
    report: Report,
    progress: Callable[[int, int, str], None] | None,
) -> Any:
    """Validate the candidate on its own; errors name the source folder, never the scratch."""
    from gaitgrf.pipeline.validate.run import ValidationFailed, validate_cohorts

    def named(exc: Exception) -> str:
        # The user knows the source folder; the scratch copy is gone when they read this.
        text = str(exc).replace(str(candidate), str(src))
        return text.replace(f"raw data at {scratch / 'raw'}", f"cohort at {src}")

    report(f"validating cohort {new_id} on its own")
    try:
        return validate_cohorts(
            scratch / "raw",
            scratch / "validated",
            scratch / "reports",
            contract,
            rules,
            progress=None
            if progress is None
            else lambda done, total: progress(done, total, f"validating {new_id}: reading trials"),
        )
    except ValidationFailed as exc:
        kept = child_path(rejected_dir, new_id)
        shutil.rmtree(kept, ignore_errors=True)
        shutil.copytree(scratch / "reports", kept)
        raise CohortRejected(f"cohort {new_id} rejected: {named(exc)}", kept) from None
    except GaitGrfError as exc:
        raise IntakeError(f"cohort {new_id}: {named(exc)}") from None


def _track_and_commit(
    root: Path, raw_dir: Path, folder: Path, trials: int, commit: bool, report: Report
) -> tuple[Path, str | None]:
    from gaitgrf.workspace import git_commit_paths, track_cohort

    tracked = track_cohort(root, folder, report=report)
    if not commit:
        return tracked, None
    ignore = raw_dir / ".gitignore"
    sha = git_commit_paths(root, [tracked, ignore], f"Add cohort {folder.name} ({trials} trials)")
    report(f"committed {tracked.name} ({sha[:10]})")
    return tracked, sha


def _undo(root: Path, folder: Path) -> None:
    """Remove a half-added cohort: its folder, its `.dvc` file, its .gitignore line."""
    from gaitgrf.workspace import dvc_file

    shutil.rmtree(folder, ignore_errors=True)
    dvc_file(folder).unlink(missing_ok=True)
    ignore = folder.parent / ".gitignore"
    if ignore.is_file():
        lines = [ln for ln in ignore.read_text().splitlines() if ln.strip() != f"/{folder.name}"]
        ignore.write_text("".join(f"{ln}\n" for ln in lines))


# --- crash safety: one add at a time, a journal per add, scratch inside the project ------------
@contextmanager
def intake_lock(raw_dir: Path) -> Iterator[None]:
    """Hold `raw_dir/.intake.lock` for the whole add; a second add fails at once, in one line."""
    _ignore_in_progress_names(raw_dir)
    path = raw_dir / LOCK_FILE
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IntakeBusy(
                f"another `gaitgrf cohort add` is running on {raw_dir} (lock {path})"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ignore_in_progress_names(raw_dir: Path) -> None:
    """List the lock, scratch and journals in `raw_dir/.gitignore` (git status stays clean).

    That file is the one `dvc add` maintains and intake commits with each cohort, so the
    entries hold in any project, whatever its root .gitignore says; `.dvcignore` keeps them out
    of the `data/raw` hash.
    """
    ignore = raw_dir / ".gitignore"
    lines = ignore.read_text().splitlines() if ignore.is_file() else []
    wanted = [f"/{LOCK_FILE}", f"/{SCRATCH_DIR}", f"/{JOURNAL_PREFIX}*.json"]
    missing = [w for w in wanted if w not in lines]
    if missing:
        ignore.write_text("".join(f"{line}\n" for line in [*lines, *missing]))


def fresh_scratch(raw_dir: Path) -> Path:
    """An empty scratch folder inside `raw_dir` (same file system; ignored by git and DVC).

    Only the lock holder calls this, so anything already there was left by a killed add.
    """
    return fresh_dir(raw_dir / SCRATCH_DIR)


def journal_path(raw_dir: Path, cohort_id: str) -> Path:
    """Where the journal of an add of `cohort_id` lives while the add is unfinished."""
    return raw_dir / f"{JOURNAL_PREFIX}{cohort_id}.json"


def begin(raw_dir: Path, cohort_id: str, *, commit: bool) -> Path:
    """Write the journal of an add before the cohort folder appears under `raw_dir`."""
    journal = journal_path(raw_dir, cohort_id)
    journal.write_text(json.dumps({"cohort_id": cohort_id, "commit": commit}) + "\n")
    return journal


def recover_interrupted(root: Path, raw_dir: Path, *, report: Report = _noop) -> list[str]:
    """Finish or roll back adds that a crash interrupted; return the ids rolled back.

    A journal left behind means the add got as far as moving the cohort in, maybe further.
    When the cohort's `.dvc` file is committed (or was never to be committed and is tracked),
    the add had finished: only the journal goes. Otherwise the half-added cohort is removed, so
    that running the same `cohort add` again starts from a clean `data/raw`.
    """
    from gaitgrf.workspace import dvc_file, is_committed

    rolled_back = []
    for journal in sorted(raw_dir.glob(f"{JOURNAL_PREFIX}*.json")):
        try:
            entry = json.loads(journal.read_text())
            folder = child_path(raw_dir, entry["cohort_id"])
        except (OSError, ValueError, KeyError, TypeError, UnsafePathError):
            report(f"ignoring unreadable intake journal {journal}")
            continue
        tracked = dvc_file(folder)
        done = tracked.is_file() and (not entry.get("commit", True) or is_committed(root, tracked))
        if not done:
            _undo(root, folder)
            rolled_back.append(folder.name)
            report(f"rolled back the interrupted add of cohort {folder.name}")
        journal.unlink()
    return rolled_back


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
