"""Bad input: each reader refuses it with file, channel and rule, and data/raw stays untouched.

The broken inputs are the real shared recordings with one thing broken (a copy in tmp_path),
so everything else about them is what a lab delivers.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from gaitgrf.core import contract as c
from gaitgrf.core.errors import CohortExistsError, ContractError
from gaitgrf.ingest.cohort import import_recordings
from gaitgrf.ingest.formats.opensim import read_opensim
from gaitgrf.ingest.formats.recording import RecordingError
from gaitgrf.ingest.options import ImportOptions
from gaitgrf.io.loader import load_cohort, read_trial
from tests.support.recordings import SHARED, SUBJECT, copy_trial, edit_mot

pytestmark = pytest.mark.skipif(not SUBJECT.is_dir(), reason=f"no shared data at {SUBJECT}")
SUBJECTS_CSV = "subject_id,mass_kg,affected_side,group\nP01,62.6,none,healthy\n"


def edit_markers(trc: Path, marker: str, rows: slice) -> None:
    """Blank a marker's cells in the given data rows (how a .trc writes 'not seen')."""
    lines = trc.read_text().splitlines()
    names = [n.strip() for n in lines[3].split("\t")[2:] if n.strip()]
    col = 2 + 3 * names.index(marker)
    data = [i for i, line in enumerate(lines) if i >= 5 and line.strip()]
    for i in data[rows]:
        cells = lines[i].split("\t")
        cells[col : col + 3] = ["", "", ""]
        lines[i] = "\t".join(cells)
    trc.write_text("\n".join(lines) + "\n")


@pytest.fixture
def subjects(tmp_path: Path) -> Path:
    path = tmp_path / "subjects.csv"
    path.write_text(SUBJECTS_CSV)
    return path


def refused(src: Path, raw: Path, subjects: Path | None, **kwargs: object) -> RecordingError:
    """Import must fail and leave `raw` as it was (no cohort, no staging folder)."""
    before = sorted(p.name for p in raw.iterdir()) if raw.exists() else []
    with pytest.raises(RecordingError) as info:
        import_recordings(src, "bad-cohort", raw, subjects, **kwargs)  # type: ignore[arg-type]
    after = sorted(p.name for p in raw.iterdir()) if raw.exists() else []
    assert after == before, "a failed import must leave data/raw untouched"
    return info.value


def test_the_unbroken_copy_imports(tmp_path: Path, subjects: Path, raw_dir: Path) -> None:
    copy_trial(tmp_path / "src" / "P01")
    result = import_recordings(tmp_path / "src", "good", raw_dir, subjects)
    cohort = load_cohort(result.cohort_dir)
    assert [t.trial_id for t in cohort.trials] == ["P01_walking1"]
    assert cohort.subject("P01")["mass_kg"] == pytest.approx(62.6)


def test_empty_file(tmp_path: Path, subjects: Path, raw_dir: Path) -> None:
    trc = copy_trial(tmp_path / "src" / "P01")
    trc.write_bytes(b"")
    err = refused(tmp_path / "src", raw_dir, subjects)
    (v,) = err.violations
    assert (v.rule, v.file, v.subject) == ("file_empty", str(trc), "P01")


def test_truncated_file(tmp_path: Path, subjects: Path, raw_dir: Path) -> None:
    trc = copy_trial(tmp_path / "src" / "P01")
    trc.write_text("\n".join(trc.read_text().splitlines()[:6]) + "\n")
    err = refused(tmp_path / "src", raw_dir, subjects)
    assert err.rules == {"file_unreadable"} and "truncated" in str(err)


def test_malformed_c3d_next_to_good_recordings(
    tmp_path: Path, subjects: Path, raw_dir: Path
) -> None:
    folder = tmp_path / "src" / "P01"
    copy_trial(folder)
    shutil.copy(SHARED / "c3d" / "malformed" / "c3dorg_bad_parameter_section.c3d", folder)
    err = refused(tmp_path / "src", raw_dir, subjects)
    (v,) = err.violations
    assert v.rule == "c3d_format" and v.file.endswith("c3dorg_bad_parameter_section.c3d")


def test_no_force_platform(tmp_path: Path, subjects: Path, raw_dir: Path) -> None:
    trc = copy_trial(tmp_path / "src" / "P01")
    trc.with_name("walking1_grf.mot").unlink()
    err = refused(tmp_path / "src", raw_dir, subjects)
    (v,) = err.violations
    assert (v.rule, v.channel) == ("no_force_platform", "FORCE_PLATFORM")
    # Where targets are not needed, the trial imports with GRF explicitly unknown.
    result = import_recordings(
        tmp_path / "src", "no-grf", raw_dir, subjects, options=ImportOptions(require_grf=False)
    )
    trial = read_trial(load_cohort(result.cohort_dir).trials[0])
    assert np.isnan(trial.streams[c.STREAM_GRF].data).all()


def test_no_usable_foot_contact(tmp_path: Path, subjects: Path, raw_dir: Path) -> None:
    trc = copy_trial(tmp_path / "src" / "P01")
    # Centres of pressure 5 m away from both feet: no contact can be given to a foot.
    edit_mot(trc.with_name("walking1_grf.mot"), lambda col, v: v + 5.0 if col.endswith("px") else v)
    err = refused(tmp_path / "src", raw_dir, subjects)
    (v,) = err.violations
    assert (v.rule, v.channel) == ("no_foot_contact", "FP1,FP2")


def test_marker_missing_for_the_whole_trial(tmp_path: Path, subjects: Path, raw_dir: Path) -> None:
    trc = copy_trial(tmp_path / "src" / "P01")
    edit_markers(trc, "L_calc", slice(None))
    err = refused(tmp_path / "src", raw_dir, subjects)
    (v,) = err.violations
    assert v.rule == "marker_missing" and v.channel.startswith("heel_l")
    assert v.file == str(trc)


def test_long_marker_gap_refused_short_gap_filled(
    tmp_path: Path, subjects: Path, raw_dir: Path
) -> None:
    trc = copy_trial(tmp_path / "src" / "P01")
    edit_markers(trc, "L_knee", slice(40, 70))  # 0.30 s
    err = refused(tmp_path / "src", raw_dir, subjects)
    (v,) = err.violations
    assert (v.rule, v.channel) == ("marker_gap", "L_knee")
    assert "0.300 s from 0.400 s" in v.detail

    trc = copy_trial(tmp_path / "src2" / "P01")
    edit_markers(trc, "L_knee", slice(40, 45))  # 0.05 s: bridged
    result = import_recordings(tmp_path / "src2", "gap", raw_dir, subjects)
    trial = read_trial(load_cohort(result.cohort_dir).trials[0])
    filled = trial.extra["import"]["gaps_filled"]
    assert {"marker": "L_knee", "start_s": 0.4, "length_s": 0.05} in filled
    assert np.isfinite(trial.streams[c.STREAM_ACC].data).all()


def test_overloaded_plate(tmp_path: Path, subjects: Path, raw_dir: Path) -> None:
    trc = copy_trial(tmp_path / "src" / "P01")
    edit_mot(trc.with_name("walking1_grf.mot"), lambda col, v: 10 * v if "_v" in col else v)
    err = refused(tmp_path / "src", raw_dir, subjects)
    assert err.rules == {"plate_overload"}
    assert any(v.channel == "FP1" and "body weights" in v.detail for v in err.violations)


def test_undeterminable_units(tmp_path: Path, subjects: Path, raw_dir: Path) -> None:
    trc = copy_trial(tmp_path / "src" / "P01")
    lines = trc.read_text().splitlines()
    lines[2] = lines[2].replace("\tm\t", "\tfurlong\t")
    trc.write_text("\n".join(lines) + "\n")
    err = refused(tmp_path / "src", raw_dir, subjects)
    (v,) = err.violations
    assert (v.rule, v.channel) == ("unknown_unit", "Units")

    trc = copy_trial(tmp_path / "src2" / "P01")
    ik = trc.with_name("walking1_ik.mot")
    ik.write_text(ik.read_text().replace("inDegrees=no\n", ""))
    with pytest.raises(RecordingError) as info:
        read_opensim(trc)
    assert info.value.violations[0].channel == "inDegrees"

    trc = copy_trial(tmp_path / "src3" / "P01")
    edit_mot(trc.with_name("walking1_grf.mot"), lambda col, v: 1000 * v if "_p" in col else v)
    with pytest.raises(RecordingError) as info:
        read_opensim(trc)
    assert info.value.rules == {"unknown_unit"} and "mm?" in str(info.value)


def test_unknown_mass_and_required_subject_values(tmp_path: Path, raw_dir: Path) -> None:
    copy_trial(tmp_path / "src" / "P01")
    err = refused(tmp_path / "src", raw_dir, None)
    assert {(v.rule, v.channel) for v in err.violations} == {
        ("mass_unknown", "mass_kg"),
        ("subject_value", "affected_side"),
        ("subject_value", "group"),
    }
    assert all(v.subject == "P01" for v in err.violations)


def test_static_trial_settles_the_mass_when_nothing_else_does(
    tmp_path: Path, raw_dir: Path
) -> None:
    folder = tmp_path / "src" / "P01"
    copy_trial(folder)
    copy_trial(folder, "static1")
    result = import_recordings(
        tmp_path / "src", "mass", raw_dir, group="healthy", affected_side="none"
    )
    row = load_cohort(result.cohort_dir).subject("P01")
    assert row["mass_kg"] == pytest.approx(60.05, abs=0.1)
    assert row["knee_alignment_left_deg"] is not None and row["sex"] is None
    assert any("static trial load" in note for note in result.notes)


def test_existing_cohort_is_never_overwritten(
    tmp_path: Path, subjects: Path, raw_dir: Path
) -> None:
    copy_trial(tmp_path / "src" / "P01")
    import_recordings(tmp_path / "src", "once", raw_dir, subjects)
    with pytest.raises(CohortExistsError):
        import_recordings(tmp_path / "src", "once", raw_dir, subjects)


def test_bad_subjects_file(tmp_path: Path, raw_dir: Path) -> None:
    copy_trial(tmp_path / "src" / "P01")
    path = tmp_path / "subjects.csv"
    path.write_text("subject_id,weight\nP01,62\n")
    with pytest.raises(ContractError) as info:
        import_recordings(tmp_path / "src", "subj", raw_dir, path)
    assert info.value.rules == {"subjects_schema"} and "weight" in str(info.value)
    assert not (raw_dir / "subj").exists()


# --- the hardening issue: an import never writes a cohort the contract refuses ---------------
def test_affected_side_option_outside_the_contract_is_refused_first(
    tmp_path: Path, subjects: Path, raw_dir: Path
) -> None:
    from gaitgrf.ingest.cohort import ImportRequestError

    copy_trial(tmp_path / "src" / "P01")
    with pytest.raises(ImportRequestError, match="--affected-side 'both' is not one of"):
        import_recordings(tmp_path / "src", "opt", raw_dir, subjects, affected_side="both")
    assert not list(raw_dir.iterdir())


@pytest.mark.parametrize(
    ("row", "rule_text"),
    [
        ("P01,62.6,sideways,healthy,", "affected_side 'sideways' is not one of"),
        ("P01,62.6,none,healthy,164", "height_m '164.0' is outside the plausible range"),
    ],
)
def test_subjects_file_values_outside_the_contract_are_refused(
    tmp_path: Path, raw_dir: Path, row: str, rule_text: str
) -> None:
    copy_trial(tmp_path / "src" / "P01")
    path = tmp_path / "subjects.csv"
    path.write_text(f"subject_id,mass_kg,affected_side,group,height_m\n{row}\n")
    err = refused(tmp_path / "src", raw_dir, path)
    assert any(rule_text in v.detail and v.file == str(path) for v in err.violations), str(err)


@pytest.mark.parametrize("bad_id", ["../evil", "/tmp/abs", "x" * 65, "kohört"])
def test_cohort_id_is_checked_before_any_path_is_built(
    tmp_path: Path, subjects: Path, raw_dir: Path, bad_id: str
) -> None:
    from gaitgrf.core.fsutil import UnsafePathError

    copy_trial(tmp_path / "src" / "P01")
    with pytest.raises(UnsafePathError, match="must match"):
        import_recordings(tmp_path / "src", bad_id, raw_dir, subjects)
    assert not (tmp_path / "evil").exists() and not list(raw_dir.iterdir())


def test_symlinked_recording_is_refused(tmp_path: Path, subjects: Path, raw_dir: Path) -> None:
    from gaitgrf.core.fsutil import UnsafePathError

    trc = copy_trial(tmp_path / "elsewhere")
    (tmp_path / "src" / "P01").mkdir(parents=True)
    (tmp_path / "src" / "P01" / trc.name).symlink_to(trc)
    with pytest.raises(UnsafePathError, match=r"walking1\.trc: symbolic link"):
        import_recordings(tmp_path / "src", "links", raw_dir, subjects)
