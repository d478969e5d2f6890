"""Bootstrap of a project folder: a git repository, DVC with a default remote, a cohort.

Every function takes explicit paths (the library never reads environment variables or
params.yaml), is idempotent, and tells what it did through a `report` callback, one
human-readable line per action. A failing `git` or `dvc` command raises a `WorkspaceError` naming
the command, the tail of its stderr and a hint.

DVC runs as `python -m dvc` with the interpreter running this code, so the DVC that belongs to
the project's environment is used whatever `PATH` says.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gaitgrf.core.errors import GaitGrfError

if TYPE_CHECKING:
    from gaitgrf.core.config import SynthConfig

Report = Callable[[str], None]
Progress = Callable[[int, int], None]

#: Name given to the remote `ensure_dvc` adds.
DEFAULT_REMOTE_NAME = "local"
#: Folder of the local DVC remote, relative to the project root.
DEFAULT_REMOTE_DIR = ".dvc-remote"
_IDENTITY = ("-c", "user.name=gaitgrf", "-c", "user.email=gaitgrf@localhost")
_STDERR_TAIL_LINES = 12


class WorkspaceError(GaitGrfError):
    """A git or DVC command failed, or the workspace is in a state bootstrap cannot fix."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class GitError(WorkspaceError):
    hint = "run the command by hand in the project folder to see the full output"


class DvcError(WorkspaceError):
    hint = "run the command by hand in the project folder (add -v for details)"


def _noop(_: str) -> None:
    pass


def _tail(text: str, lines: int = _STDERR_TAIL_LINES) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def _run(
    cmd: Sequence[str],
    cwd: Path,
    *,
    error: type[WorkspaceError],
    shown: str,
    hint: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_TERMINAL_PROMPT": "0"}
    try:
        proc = subprocess.run(
            list(cmd), cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
    except FileNotFoundError as exc:
        raise error(
            f"`{shown}` could not start: {exc.filename or cmd[0]} not found",
            hint=hint or f"install {cmd[0]} and make sure it is on PATH",
        ) from None
    if check and proc.returncode != 0:
        tail = _tail(proc.stderr) or _tail(proc.stdout) or "(no output)"
        raise error(f"`{shown}` failed in {cwd} (exit {proc.returncode}):\n{tail}", hint=hint)
    return proc


def _git(
    root: Path, *args: str, check: bool = True, hint: str | None = None
) -> subprocess.CompletedProcess[str]:
    shown = "git " + " ".join(a for a in args if a != "-c" and not a.startswith("user."))
    return _run(["git", *args], root, error=GitError, shown=shown, hint=hint, check=check)


def _dvc(
    root: Path, *args: str, check: bool = True, hint: str | None = None
) -> subprocess.CompletedProcess[str]:
    return _run(
        [sys.executable, "-m", "dvc", *args],
        root,
        error=DvcError,
        shown="dvc " + " ".join(args),
        hint=hint,
        check=check,
    )


def _rel(path: Path, root: Path) -> str:
    """`path` relative to `root` when it lies inside it (for messages and portable config)."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


# --- git -------------------------------------------------------------------------------------


def git_toplevel(root: Path) -> Path | None:
    """The top folder of the git work tree holding `root`, or None outside any work tree."""
    proc = _git(root, "rev-parse", "--show-toplevel", check=False)
    if proc.returncode != 0:
        return None
    return Path(proc.stdout.strip())


def _has_identity(root: Path) -> bool:
    return all(
        _git(root, "config", key, check=False).stdout.strip() for key in ("user.name", "user.email")
    )


def git_commit_paths(root: Path, paths: Sequence[Path], message: str) -> str:
    """Stage exactly `paths` and commit them (nothing else staged goes in); return the sha."""
    rels = [_rel(p, root.resolve()) for p in paths if p.exists()]
    _git(root, "add", "--", *rels)
    identity = () if _has_identity(root) else _IDENTITY
    _git(root, *identity, "commit", "--quiet", "--no-verify", "-m", message, "--", *rels)
    return _git(root, "rev-parse", "HEAD").stdout.strip()


def is_committed(root: Path, path: Path) -> bool:
    """True when `path` is in HEAD and its working copy equals the committed one."""
    rel = _rel(path, root.resolve())
    if _git(root, "ls-files", "--error-unmatch", "--", rel, check=False).returncode != 0:
        return False
    return _git(root, "diff", "--quiet", "HEAD", "--", rel, check=False).returncode == 0


def _initial_commit(root: Path) -> str:
    _git(root, "add", "-A")
    identity = () if _has_identity(root) else _IDENTITY
    _git(
        root,
        *identity,
        "commit",
        "--quiet",
        "--allow-empty",
        "--no-verify",
        "-m",
        "Initial commit (gaitgrf bootstrap)",
    )
    return _git(root, "rev-parse", "--short", "HEAD").stdout.strip()


def ensure_git_repo(root: Path, *, report: Report = _noop) -> bool:
    """Make `root` part of a git work tree with at least one commit; True if it made the commit.

    Outside any work tree: `git init`, add everything (.gitignore applies) and commit. In a
    repository without a commit yet: add everything and commit. Otherwise nothing happens. The
    commit uses a placeholder identity only when git has none configured.
    """
    root = root.resolve()
    top = git_toplevel(root)
    if top is None:
        _git(root, "init", "--quiet")
        sha = _initial_commit(root)
        report(f"git: initialised a repository, initial commit {sha}")
        return True
    if _git(root, "rev-parse", "--verify", "--quiet", "HEAD", check=False).returncode != 0:
        sha = _initial_commit(root)
        report(f"git: repository had no commit, initial commit {sha}")
        return True
    report("git: repo exists")
    return False


# --- DVC -------------------------------------------------------------------------------------


def default_remote(root: Path) -> str | None:
    """Name of the default DVC remote, or None when none is configured."""
    proc = _dvc(root, "remote", "default", check=False)
    name = proc.stdout.strip()
    return name if proc.returncode == 0 and name else None


def remote_url(root: Path, name: str) -> str | None:
    proc = _dvc(root, "remote", "list")
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == name:
            return parts[1]
    return None


def ensure_dvc(
    root: Path, remote_dir: Path | None = None, *, commit: bool = False, report: Report = _noop
) -> None:
    """Initialise DVC in `root` if needed and make sure a default remote exists.

    With no default remote configured, a local one named `local` is added at `remote_dir`
    (default `<root>/.dvc-remote`, created if missing). A remote inside the project is written
    relative to the config file, so the setting stays valid in every clone. With `commit`, DVC's
    own files (.dvc/config, .dvc/.gitignore, .dvcignore) are committed when this call created or
    changed them, e.g. right after `ensure_git_repo` made a new repository.
    """
    root = root.resolve()
    changed = False
    if not (root / ".dvc").is_dir():
        top = git_toplevel(root)
        subdir = ("--subdir",) if top is not None and top.resolve() != root else ()
        _dvc(root, "init", "--quiet", *subdir, hint="bootstrap needs a git repository first")
        _dvc(root, "config", "core.analytics", "false")
        report("dvc: initialised")
        changed = True
    else:
        report("dvc: already initialised")

    name = default_remote(root)
    if name is not None:
        url = remote_url(root, name) or "?"
        shown = _rel(Path(url), root) if "://" not in url else url
        report(f"dvc: default remote '{name}' -> {shown}")
    else:
        _add_default_remote(root, remote_dir, report)
        changed = True
    if commit and changed:
        files = [f for f in (".dvc/config", ".dvc/.gitignore", ".dvcignore") if (root / f).exists()]
        _git(root, "add", "--", *files)
        if _git(root, "diff", "--cached", "--quiet", "--", *files, check=False).returncode == 0:
            return
        identity = () if _has_identity(root) else _IDENTITY
        # A pathspec commit: whatever else the user has staged stays staged, uncommitted.
        _git(
            root,
            *identity,
            "commit",
            "--quiet",
            "--no-verify",
            "-m",
            "Set up DVC (gaitgrf)",
            "--",
            *files,
        )
        sha = _git(root, "rev-parse", "--short", "HEAD").stdout.strip()
        report(f"dvc: configuration committed ({sha})")


def _add_default_remote(root: Path, remote_dir: Path | None, report: Report) -> None:
    target = (remote_dir if remote_dir is not None else root / DEFAULT_REMOTE_DIR).resolve()
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    # `dvc remote add` resolves a relative path against its working directory (root) and
    # stores it relative to .dvc/; an absolute path would pin this machine's layout.
    url = _rel(target, root)
    existing = {line.split()[0] for line in _dvc(root, "remote", "list").stdout.splitlines()}
    if DEFAULT_REMOTE_NAME in existing:
        _dvc(root, "remote", "default", DEFAULT_REMOTE_NAME)
        report(f"dvc: remote '{DEFAULT_REMOTE_NAME}' made the default")
        return
    _dvc(root, "remote", "add", "--default", DEFAULT_REMOTE_NAME, url)
    report(
        f"dvc: default remote '{DEFAULT_REMOTE_NAME}' -> {url}"
        + (" (folder created)" if created else "")
    )


# --- cohorts ---------------------------------------------------------------------------------


def cohort_dirs(raw_dir: Path) -> list[Path]:
    """Cohort folders under `raw_dir`: its non-hidden sub-folders, sorted by name."""
    if not raw_dir.is_dir():
        return []
    return sorted(p for p in raw_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def dvc_file(cohort_dir: Path) -> Path:
    """The file that versions a cohort: `data/raw/<id>.dvc` beside `data/raw/<id>/`."""
    return cohort_dir.with_name(cohort_dir.name + ".dvc")


def _track(root: Path, cohort_dir: Path) -> Path:
    root = root.resolve()
    rel = _rel(cohort_dir, root)
    _dvc(root, "add", "--quiet", rel)
    target = dvc_file(cohort_dir.resolve())
    rel_target = _rel(target, root)
    _dvc(
        root,
        "push",
        "--quiet",
        rel_target,
        hint="check the default remote (`dvc remote list`) and that its folder is writable",
    )
    status = _dvc(root, "status", "--json", rel_target).stdout.strip() or "{}"
    if json.loads(status):
        raise DvcError(
            f"{rel_target}: `dvc status` is not clean after tracking: {status}",
            hint="inspect with `dvc status` and `dvc diff`",
        )
    return target


def track_cohort(root: Path, cohort_dir: Path, *, report: Report = _noop) -> Path:
    """`dvc add` a cohort folder (one `<id>.dvc` beside it) and `dvc push` it; return the file.

    Nothing is committed to git: `git add data/raw/<id>.dvc && git commit` versions the cohort.
    """
    target = _track(root, cohort_dir)
    report(f"cohort {cohort_dir.name}: tracked in {_rel(target, root)}, pushed")
    return target


def restore_cohorts(root: Path, raw_dir: Path, *, report: Report = _noop) -> list[Path]:
    """Check out tracked cohorts whose folder is missing (`dvc pull`); return those restored.

    A fresh clone holds `data/raw/<id>.dvc` but not the data: it comes from the DVC cache or the
    default remote. Missing data there is an error, never a reason to regenerate silently.
    """
    restored = []
    for tracked in sorted(raw_dir.glob("*.dvc")) if raw_dir.is_dir() else []:
        folder = tracked.with_suffix("")
        if folder.exists():
            continue
        rel = _rel(tracked, root)
        _dvc(
            root,
            "pull",
            "--quiet",
            rel,
            hint=(
                f"the data of {rel} is in neither the DVC cache nor the default remote: point "
                "the remote at the storage holding it (`dvc remote modify`), or remove "
                f"{rel} to drop that cohort"
            ),
        )
        report(f"cohort {folder.name}: restored from DVC ({rel})")
        restored.append(folder)
    return restored


def track_untracked_cohorts(root: Path, raw_dir: Path, *, report: Report = _noop) -> list[Path]:
    """Track every cohort folder that has no `.dvc` file yet (e.g. after an interrupted run).

    A folder whose `gaitgrf cohort add` was interrupted (its intake journal `.adding-<id>.json`
    is still there) is left alone: it was never validated to the end, and the next `cohort add`
    rolls it back.
    """
    from gaitgrf.ingest.intake import journal_path

    tracked = []
    for folder in cohort_dirs(raw_dir):
        if dvc_file(folder).exists():
            continue
        if journal_path(raw_dir, folder.name).exists():
            report(
                f"cohort {folder.name}: an interrupted `gaitgrf cohort add` left it half-added; "
                "not tracked (run the same `gaitgrf cohort add` again)"
            )
            continue
        tracked.append(track_cohort(root, folder, report=report))
    return tracked


def ensure_default_cohort(
    raw_dir: Path,
    synth_config: SynthConfig,
    *,
    root: Path,
    progress: Progress | None = None,
    report: Report = _noop,
    workers: int = 1,
) -> Path | None:
    """Generate and track the synthetic cohort, but only when `raw_dir` holds no cohort at all.

    Returns the new cohort folder, or None when cohorts were already present. `root` is the
    DVC project the cohort is tracked in.
    """
    present = cohort_dirs(raw_dir)
    if present:
        names = ", ".join(p.name for p in present)
        report(f"cohorts present: {names} — nothing to do")
        return None
    from gaitgrf.synth import generate_cohort

    out_dir = raw_dir / synth_config.cohort_id
    start = time.perf_counter()
    generate_cohort(synth_config, out_dir, progress=progress, workers=workers)
    elapsed = time.perf_counter() - start
    trials = synth_config.subjects * (synth_config.walking_trials + synth_config.static_trials)
    target = _track(root, out_dir)
    report(
        f"cohort {synth_config.cohort_id}: generated {trials} trials in {elapsed:.1f} s, "
        f"tracked in {_rel(target, root)}, pushed"
    )
    return out_dir
