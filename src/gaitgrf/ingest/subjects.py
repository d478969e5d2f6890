"""The subjects table of an imported cohort: what the user says, what the recordings say.

A subject's row is filled from the subjects file (`read_subjects_file`) first, then from the
recordings and static trials (`subject_row`); what is still unknown and required by the contract
is a problem, never a guess.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gaitgrf.core import contract as c
from gaitgrf.core.errors import Violation
from gaitgrf.core.sensors import GRAVITY
from gaitgrf.ingest.convert import TrialReport
from gaitgrf.ingest.formats.recording import Recording, RecordingError, reject

_TEXT_COLUMNS = ("subject_id", "cohort_id", "sex", "affected_side", "group")


def read_subjects_file(path: Path) -> dict[str, dict[str, Any]]:
    """subject_id -> known values from a CSV with `subject_id` and any contract columns.

    Empty cells stay unknown (None). Columns the contract does not know are refused.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
            columns = [col.strip() for col in (rows[0].keys() if rows else [])]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise reject(str(path), "file_unreadable", f"not a readable CSV file ({exc})") from None
    if "subject_id" not in columns:
        raise reject(str(path), "subjects_schema", "no 'subject_id' column", channel="subject_id")
    unknown = [col for col in columns if col not in c.SUBJECT_COLUMNS]
    if unknown:
        raise reject(
            str(path),
            "subjects_schema",
            f"columns {unknown} are not subject columns of the contract "
            f"({', '.join(c.SUBJECT_COLUMNS)})",
        )
    out: dict[str, dict[str, Any]] = {}
    problems: list[Violation] = []
    for line, row in enumerate(rows, start=2):
        values: dict[str, Any] = {}
        for key, raw in row.items():
            key = key.strip()
            text = (raw or "").strip()
            if key == "cohort_id" or not text:
                continue
            if key in _TEXT_COLUMNS:
                values[key] = text
                continue
            try:
                values[key] = float(text)
            except ValueError:
                problems.append(
                    Violation(
                        str(path), "subject_value", f"line {line}: {key}={text!r} is not a number"
                    )
                )
        sid = values.pop("subject_id", None)
        if sid is not None:
            out[sid] = values
    if problems:
        raise RecordingError(problems, context=f"subjects file {path}")
    return out


def _mass(
    sid: str,
    known: Mapping[str, Any],
    recordings: Sequence[Recording],
    reports: Sequence[TrialReport],
    folder: str,
) -> tuple[float | None, list[str], list[Violation]]:
    """Body mass: the subjects file, else the recordings, else the load of a static trial."""
    notes: list[str] = []
    problems: list[Violation] = []
    rec_masses = [r.mass_kg for r in recordings if r.mass_kg is not None]
    loads = [r.static_load_n for r in reports if r.static_load_n is not None]
    static_mass = float(np.mean(loads)) / GRAVITY if loads else None
    rec_mass = float(np.median(rec_masses)) if rec_masses else None
    mass = known.get("mass_kg")
    source = "subjects file"
    if mass is None and rec_mass is not None:
        mass, source = rec_mass, "recording (PROCESSING:Bodymass)"
    if mass is None and static_mass is not None:
        mass, source = round(static_mass, 2), "static trial load"
    if mass is None:
        problems.append(_mass_unknown(sid, recordings, folder))
    else:
        notes.append(f"{sid}: mass {mass:.2f} kg from the {source}")
        if static_mass is not None and source != "static trial load":
            diff = 100.0 * (static_mass - mass) / mass
            notes.append(f"{sid}: static load {static_mass:.2f} kg, {diff:+.1f} % of the mass used")
    return mass, notes, problems


def _mass_unknown(sid: str, recordings: Sequence[Recording], folder: str) -> Violation:
    """The mass_unknown problem, quoting a unit-less SUBJECT:WEIGHT the user may confirm."""
    unitless = sorted(
        {
            float(r.info["subject_weight_no_unit"])
            for r in recordings
            if "subject_weight_no_unit" in r.info
        }
    )
    hint = (
        f"; the C3D's SUBJECT:WEIGHT reads {', '.join(f'{w:g}' for w in unitless)} with no "
        "unit (kg or lb?): if you know it, give mass_kg in the subjects file"
        if unitless
        else ""
    )
    return Violation(
        folder,
        "mass_unknown",
        "body mass unknown: not in the subjects file, not in the recordings "
        "(PROCESSING:Bodymass), and no static trial with each foot on a plate" + hint,
        subject=sid,
        channel="mass_kg",
    )


def _alignment(
    sid: str, known: Mapping[str, Any], reports: Sequence[TrialReport]
) -> tuple[dict[str, float | None], list[str]]:
    """Knee alignment per side: a static trial's markers, else the subjects file, else None."""
    notes: list[str] = []
    align: dict[str, float | None] = {}
    for side, column in (("l", "knee_alignment_left_deg"), ("r", "knee_alignment_right_deg")):
        measured = [r.alignment_deg[side] for r in reports if side in r.alignment_deg]
        if measured:
            align[column] = round(float(np.mean(measured)), 2)
            methods = sorted({r.alignment[side].method for r in reports if side in r.alignment})
            how = ", ".join(methods) or "markers"
            notes.append(f"{sid}: {column} {align[column]} deg from the static trial ({how})")
        else:
            align[column] = known.get(column)
    return align, notes


def subject_row(
    sid: str,
    cohort_id: str,
    known: Mapping[str, Any],
    recordings: Sequence[Recording],
    reports: Sequence[TrialReport],
    defaults: Mapping[str, str | None],
    folder: str,
) -> tuple[dict[str, Any], list[str], list[Violation]]:
    """One subjects-table row, the notes on where its values came from, and what is missing."""
    mass, notes, problems = _mass(sid, known, recordings, reports, folder)
    heights = [r.height_m for r in recordings if r.height_m is not None]
    height = known.get("height_m", float(np.median(heights)) if heights else None)
    align, align_notes = _alignment(sid, known, reports)
    notes += align_notes
    row: dict[str, Any] = {
        "subject_id": sid,
        "cohort_id": cohort_id,
        "sex": known.get("sex"),
        "age_years": known.get("age_years"),
        "mass_kg": None if mass is None else round(float(mass), 3),
        "height_m": None if height is None else round(float(height), 3),
        **align,
    }
    for key in ("affected_side", "group"):
        value = known.get(key, defaults.get(key))
        if value is None:
            problems.append(
                Violation(
                    folder,
                    "subject_value",
                    f"{key} is required by the contract and no recording says it: give it in "
                    f"the subjects file (or as a default for all subjects)",
                    subject=sid,
                    channel=key,
                )
            )
        row[key] = value
    return row, notes, problems
