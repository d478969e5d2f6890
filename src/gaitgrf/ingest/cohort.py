"""Turn lab recordings (one file, or a folder of subject folders) into a contract cohort.

`import_recordings(src, cohort_id, raw_dir)` converts every recording into a contract trial
(`convert.convert_recording`), fills the subjects table (`subjects.subject_row`) and writes the
cohort through `gaitgrf.io.cohort_store` (staged, one rename at the end), so a failed import
leaves `data/raw/` untouched. Every problem of every file is collected before anything is
refused: one error lists them all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from gaitgrf.core import contract as c
from gaitgrf.core.errors import ContractError, GaitGrfError, Violation
from gaitgrf.core.fsutil import UnsafePathError, child_path, refuse_unsafe_entries
from gaitgrf.core.sensors import GRAVITY
from gaitgrf.ingest.convert import IMPORTER_VERSION, TrialReport, convert_recording, read_recording
from gaitgrf.ingest.formats.recording import Recording, RecordingError, reject
from gaitgrf.ingest.marker_frame import is_static_name
from gaitgrf.ingest.options import ImportOptions
from gaitgrf.ingest.subjects import read_subjects_file, subject_row
from gaitgrf.io.cohort_meta import read_subjects
from gaitgrf.io.cohort_store import staged_cohort, write_manifest, write_subjects
from gaitgrf.io.trial_file import Trial, write_trial

RECORDING_SUFFIXES = (".c3d", ".trc", ".csv", ".parquet")
#: Tables in a source folder that are not recordings.
NOT_RECORDINGS = ("subjects.csv",)


def _safe_id(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-_")
    return (cleaned or "x")[:64]


def find_recordings(src: Path) -> dict[str, list[Path]]:
    """Subject id -> recordings. A file is one subject; in a folder, each subfolder holding
    recordings is a subject, and recordings lying directly in the folder are one more subject
    named after the folder."""
    src = Path(src)
    if src.is_file():
        return {_safe_id(src.stem): [src]}
    if not src.is_dir():
        raise reject(str(src), "file_unreadable", "no such file or folder")

    def recordings(folder: Path) -> list[Path]:
        return sorted(
            p
            for p in folder.iterdir()
            if p.is_file()
            and p.suffix.lower() in RECORDING_SUFFIXES
            and not p.name.startswith(".")
            and p.name.lower() not in NOT_RECORDINGS
        )

    found: dict[str, list[Path]] = {}
    direct = recordings(src)
    if direct:
        found[_safe_id(src.name)] = direct
    for sub in sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = recordings(sub)
        if files:
            found.setdefault(_safe_id(sub.name), []).extend(files)
    if not found:
        raise reject(str(src), "file_unreadable", "no .c3d or .trc recording found")
    return found


@dataclass(frozen=True)
class ImportResult:
    """The written cohort: its folder, subjects rows, per-trial reports and manifest."""

    cohort_dir: Path
    subjects: list[dict[str, Any]]
    reports: list[TrialReport]
    manifest: dict[str, Any]
    #: Subject-level notes (mass sources and how they agree, alignment source).
    notes: list[str]


def _unique_trial_id(sid: str, path: Path, trial_ids: set[str]) -> str:
    """`<subject>_<file stem>`, made unique among the cohort's trials so far."""
    tid = _safe_id(f"{sid}_{path.stem}")
    while tid in trial_ids:
        tid = _safe_id(f"{tid}_{len(trial_ids)}")
    return tid


@dataclass
class _CohortImport:
    """What an import gathers subject by subject; written only when no problem was found."""

    cohort_id: str
    root: Path
    known: dict[str, dict[str, Any]]
    defaults: dict[str, str | None]
    opts: ImportOptions
    total: int
    #: progress(done, total, what): before and after each recording
    progress: Callable[[int, int, str], None] | None
    done: int = 0
    problems: list[Violation] = field(default_factory=list)
    reports: list[TrialReport] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    trial_ids: set[str] = field(default_factory=set)
    files: list[str] = field(default_factory=list)

    def add_subject(self, sid: str, paths: Sequence[Path], stage: Path) -> None:
        """Convert and stage a subject's recordings, then settle its subjects row."""
        facts = self.known.get(sid, {})
        recs: list[Recording] = []
        subject_reports: list[TrialReport] = []
        peaks: list[tuple[str, dict[str, float]]] = []
        for path in paths:
            converted = self._convert(path, sid, facts)
            if converted is None:
                continue
            tid, rec, trial, report = converted
            self.trial_ids.add(tid)
            write_trial(trial, stage / c.TRIALS_DIR / f"{tid}{c.TRIAL_SUFFIX}")
            recs.append(rec)
            subject_reports.append(report)
            self.files.append(str(path))
            peaks.append((str(path), _plate_peaks(trial)))
        if not subject_reports:
            return
        row, subject_notes, subject_problems = subject_row(
            sid, self.cohort_id, facts, recs, subject_reports, self.defaults, str(paths[0].parent)
        )
        self.problems += subject_problems
        self.notes += subject_notes
        if row["mass_kg"] is not None:
            self.problems += _overloads(sid, float(row["mass_kg"]), peaks, self.opts)
        self.rows.append(row)
        self.reports += subject_reports

    def _convert(
        self, path: Path, sid: str, facts: dict[str, Any]
    ) -> tuple[str, Recording, Trial, TrialReport] | None:
        """One recording read and converted; None (its problems kept) when it cannot be."""
        what = f"converting {sid}/{path.name}"
        if self.progress is not None:  # before: the bar shows what the next seconds are spent on
            self.progress(self.done, self.total, what)
        self.done += 1
        try:
            rec = read_recording(path, self.root)
            mass = facts.get("mass_kg", rec.mass_kg)
            tid = _unique_trial_id(sid, path, self.trial_ids)
            trial, report, _ = convert_recording(
                rec,
                trial_id=tid,
                subject_id=sid,
                cohort_id=self.cohort_id,
                kind="static" if is_static_name(str(path)) else None,
                mass_kg=mass,
                height_m=facts.get("height_m"),
                options=self.opts,
            )
        except ContractError as exc:
            self.problems += [replace(v, subject=v.subject or sid) for v in exc.violations]
            return None
        finally:
            if self.progress is not None:
                self.progress(self.done, self.total, what)
        return tid, rec, trial, report


def import_recordings(
    src: Path,
    cohort_id: str,
    raw_dir: Path,
    subjects_file: Path | None = None,
    *,
    group: str | None = None,
    affected_side: str | None = None,
    options: ImportOptions | None = None,
    lab: str | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> ImportResult:
    """Import one recording or a folder of subject folders as the cohort `raw_dir/cohort_id`.

    Every recording is converted (`convert_recording`) and every problem of every file is
    collected; if there is any, one RecordingError lists them all and nothing is left under
    `raw_dir` (the cohort is written in a staging folder and renamed only at the end).
    `group` and `affected_side` are defaults for subjects the subjects file does not cover.
    """
    opts = options or ImportOptions()
    _check_request(Path(src), group, affected_side)
    out_dir = child_path(Path(raw_dir), cohort_id)
    found = find_recordings(Path(src))
    root = Path(src) if Path(src).is_dir() else Path(src).parent
    known = read_subjects_file(subjects_file) if subjects_file is not None else {}
    defaults = {"group": group, "affected_side": affected_side}
    total = sum(len(v) for v in found.values())
    run = _CohortImport(cohort_id, root, known, defaults, opts, total, progress)
    with staged_cohort(out_dir, cohort_id) as stage:
        for sid, paths in found.items():
            run.add_subject(sid, paths, stage)
        if run.problems:
            raise RecordingError(run.problems, context=f"import of {src} as cohort {cohort_id!r}")
        write_subjects(run.rows, stage / c.SUBJECTS_FILE)
        _check_subjects_table(stage / c.SUBJECTS_FILE, cohort_id, src, subjects_file)
        source = {
            "kind": "import",
            "importer": "gaitgrf.ingest.convert",
            "importer_version": IMPORTER_VERSION,
            "src": str(src),
            "files": run.files,
            "subjects_file": None if subjects_file is None else str(subjects_file),
            "lab": lab,
            "options": {k: getattr(opts, k) for k in opts.__dataclass_fields__},
        }
        manifest = write_manifest(stage, cohort_id, source)
    return ImportResult(out_dir, run.rows, run.reports, manifest, run.notes)


class ImportRequestError(GaitGrfError):
    hint = "see `gaitgrf import --help` and docs/importing.md"


def _check_request(src: Path, group: str | None, affected_side: str | None) -> None:
    """Refuse what the contract would refuse later, before anything is read or written."""
    if affected_side is not None and affected_side not in c.AFFECTED_SIDES:
        raise ImportRequestError(
            f"--affected-side {affected_side!r} is not one of {', '.join(c.AFFECTED_SIDES)}"
        )
    if group is not None and not group.strip():
        raise ImportRequestError("--group is empty")
    if src.is_symlink():
        raise UnsafePathError(f"{src}: is a symbolic link; give the real file or folder")
    if src.is_dir():
        refuse_unsafe_entries(src, "recordings folder")


def _check_subjects_table(
    written: Path, cohort_id: str, src: Path, subjects_file: Path | None
) -> None:
    """The subjects table obeys the contract before the cohort reaches `raw_dir`.

    Values come from the subjects file, the recordings and the options; the loader's own rules
    judge the result, so an import can never write a cohort that validation then refuses.
    Violations name the subjects file the values came from (or the source), not the staging copy.
    """
    _, problems = read_subjects(written, cohort_id)
    if problems:
        origin = str(subjects_file) if subjects_file is not None else f"subjects table of {src}"
        raise RecordingError(
            [replace(v, file=origin) for v in problems],
            context=f"import of {src} as cohort {cohort_id!r}",
        )


def _plate_peaks(trial: Trial) -> dict[str, float]:
    peaks = {}
    grf = trial.streams[c.STREAM_GRF]
    for side in c.SIDES:
        fz = grf.channel(c.grf_channel(side, "z"))
        peaks[side] = float(np.nanmax(fz)) if np.isfinite(fz).any() else 0.0
    return peaks


def _overloads(
    sid: str, mass_kg: float, peaks: Sequence[tuple[str, dict[str, float]]], opts: ImportOptions
) -> list[Violation]:
    """Feet loaded far beyond body weight, checked once the subject's mass is settled."""
    limit = opts.overload_bw * mass_kg * GRAVITY
    return [
        Violation(
            file,
            "plate_overload",
            f"peak vertical force {peak:.0f} N is {peak / (mass_kg * GRAVITY):.1f} body weights "
            f"(limit {opts.overload_bw:g}) for a subject of {mass_kg:.1f} kg",
            subject=sid,
            channel=c.grf_channel(side, "z"),
        )
        for file, by_side in peaks
        for side, peak in by_side.items()
        if peak > limit
    ]
