"""Files the pipeline writes: paths checked before they exist, incoming trees checked before use.

Ids from manifests, command lines and folder names end up in paths. A path is only built from
one after the id has passed `contract.COHORT_ID_PATTERN` *and* the result resolves under its root,
so neither `../x` nor `/tmp/x` nor a symlinked parent can move a write outside the project.
Incoming folders may hold links or devices that a copy would follow into the data store (a
`notes.txt -> /etc/shadow` lands its target in data/raw, the DVC cache and the remote): they are
refused, naming the entry.
Folders a stage writes are built aside in a hidden staging folder and swapped in at the end
(`staged_dir`), so a failed or interrupted write never leaves a partial output under its name.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gaitgrf.core import contract as c
from gaitgrf.core.errors import GaitGrfError


class UnsafePathError(GaitGrfError):
    hint = "ids are lower-case letters, digits, '_' and '-'; incoming folders hold plain files only"


def check_id(value: object, what: str = "cohort id") -> str:
    """`value` when it is a valid id (the cohort id rule), else one clear error naming it."""
    if not isinstance(value, str) or not c.COHORT_ID_PATTERN.match(value):
        raise UnsafePathError(
            f"{what} {value!r} must match {c.COHORT_ID_PATTERN.pattern} (it becomes a folder name)"
        )
    return value


def child_path(root: Path, name: str, what: str = "cohort id") -> Path:
    """`root / name` for a checked id `name`, refused if it would resolve outside `root`."""
    check_id(name, what)
    base = root.resolve()
    target = (base / name).resolve()
    if target.parent != base:
        raise UnsafePathError(f"{what} {name!r}: {root / name} resolves outside {root}")
    return root / name


def refuse_unsafe_entries(folder: Path, what: str = "incoming folder") -> int:
    """Raise naming the first symlink or special file under `folder`; return the file count.

    Walks without following links (`os.walk(followlinks=False)` still lists a linked folder as a
    directory entry, so every entry is checked with `lstat`).
    """
    if folder.is_symlink():
        raise UnsafePathError(f"{what} {folder}: is a symbolic link; give the real folder")
    files = 0
    for parent, dirs, names in os.walk(folder, followlinks=False):
        for name in sorted(dirs) + sorted(names):
            path = Path(parent) / name
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise UnsafePathError(
                    f"{path}: symbolic link in the {what} (refused: its target would be copied "
                    "into the data store); replace it by the file itself"
                )
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise UnsafePathError(
                    f"{path}: not a regular file (device, socket or pipe) in the {what}"
                )
            files += stat.S_ISREG(mode)
    return files


def fresh_dir(path: Path) -> Path:
    """An empty `path`: leftovers of an interrupted run must not end up in what is written."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def swap_in(staging: Path, target: Path) -> None:
    """Replace `target` by `staging` (two renames; the old copy is removed afterwards).

    The old target is first renamed to `.<name>.old` beside it, so that `target` is never a
    half-deleted folder: at any moment it is either the old copy, absent, or the new one.
    """
    old = target.parent / f".{target.name}.old"
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.rename(target, old)
    os.rename(staging, target)
    if old.exists():
        shutil.rmtree(old)


@contextmanager
def staged_dir(
    target: Path, *, staging: Path | None = None, replace: bool = True
) -> Iterator[Path]:
    """Yield an empty staging folder; when the block succeeds it takes the place of `target`.

    `staging` defaults to `.staging-<name>` beside `target` (ignored by DVC, `.dvcignore`); a
    leftover of an interrupted run there is removed first. With `replace` the old target is
    swapped out (`swap_in`); without, the staging folder is renamed once and an existing target
    is the caller's to refuse (the rename fails on a non-empty one). Whatever happens, the
    staging folder is gone afterwards; when the block raises, `target` is left as it was.
    """
    staging = target.parent / f".staging-{target.name}" if staging is None else staging
    fresh_dir(staging)
    try:
        yield staging
        if replace:
            swap_in(staging, target)
        else:
            os.rename(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
