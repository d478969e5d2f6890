"""Copies of the shared real recordings (../shared/data) to break or change in a test.

Tests never change the shared files: they copy a trial into tmp_path and edit the copy, so
everything else about it is what a lab delivers.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SUBJECT = SHARED / "opensim" / "Subject4"
COMPANIONS = ("_grf.mot", "_external_forces.xml", "_ik.mot")


def copy_trial(folder: Path, name: str = "walking1") -> Path:
    """Copy one OpenSim trial of Subject4 (.trc and its companions) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(SUBJECT / f"{name}.trc", folder / f"{name}.trc")
    for suffix in COMPANIONS:
        shutil.copy(SUBJECT / f"{name}{suffix}", folder / f"{name}{suffix}")
    return folder / f"{name}.trc"


def edit_mot(mot: Path, change: Callable[[str, float], float]) -> None:
    """Rewrite every data cell of a .mot file as `change(column, value)`."""
    lines = mot.read_text().splitlines()
    end = next(i for i, line in enumerate(lines) if line.strip() == "endheader")
    columns = lines[end + 1].split("\t")
    for i in range(end + 2, len(lines)):
        if lines[i].strip():
            cells = lines[i].split("\t")
            lines[i] = "\t".join(
                repr(change(col, float(v))) for col, v in zip(columns, cells, strict=True)
            )
    mot.write_text("\n".join(lines) + "\n")
