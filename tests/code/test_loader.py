"""The contract loader: a valid cohort loads; each broken rule is reported, located and named.

Every test builds a tiny valid cohort (tests/cohort_factory.py) and breaks exactly one thing,
then checks the rule id and that the message names the file and, where it matters, the subject
and the channel. Breaks are applied before the manifest is written (`edit=`) unless the test is
about the checksums, so each test can also assert that nothing *else* was reported.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cohort_factory import (
    ACC_HZ,
    LAB_UNITS,
    default_trials,
    make_trial,
    rewrite_metadata,
    rewrite_table,
    subject_rows,
    trial_path,
    with_stream,
)

from gaitgrf.core import contract as c
from gaitgrf.core.config import ContractConfig
from gaitgrf.core.errors import ContractError, Violation
from gaitgrf.io.loader import TrialRef, check_trial, load_cohort, load_cohorts, read_trial
from gaitgrf.io.trial_file import Trial

MakeCohort = Callable[..., Path]
COHORT = "tiny"


# --- helpers ---------------------------------------------------------------------------------
def load_error(root: Path, **kwargs: Any) -> ContractError:
    with pytest.raises(ContractError) as info:
        load_cohort(root, **kwargs)
    return info.value


def assert_violation(
    err: ContractError,
    rule: str,
    file: Path,
    *,
    subject: str | None = None,
    channel: str | None = None,
    says: str = "",
    only: bool = True,
) -> Violation:
    """A violation of `rule` whose text names `file` (and subject, channel) and contains `says`.

    With `only`, no other rule may have been reported: the break was the only problem.
    """
    for v in err.violations:
        text = str(v)
        if (
            v.rule == rule
            and str(file) in text
            and (subject is None or f"subject={subject}" in text)
            and (channel is None or f"channel={channel}" in text)
            and says in text
        ):
            break
    else:
        pytest.fail(
            f"no [{rule}] naming {file} {subject or ''} {channel or ''} {says!r} in:\n{err}"
        )
    assert f"[{rule}]" in str(err)  # the error's own message lists it too
    if only:
        assert err.rules == {rule}, f"expected only [{rule}]:\n{err}"
    return v


def trials_with(*replacements: Trial) -> list[Trial]:
    """The default trials with those of the same trial_id replaced (or appended)."""
    by_id = {t.trial_id: t for t in default_trials(COHORT)}
    by_id.update({t.trial_id: t for t in replacements})
    return list(by_id.values())


def walk(trial_id: str = "S02_walk01", subject_id: str = "S02", **kwargs: Any) -> Trial:
    return make_trial(trial_id, subject_id, COHORT, mass_kg=88.0, seed=3, **kwargs)


def drop_channel(trial: Trial, stream: str, name: str) -> Trial:
    s = trial.streams[stream]
    keep = [i for i, ch in enumerate(s.channels) if ch != name]
    return with_stream(
        trial,
        stream,
        channels=tuple(s.channels[i] for i in keep),
        data=s.data[:, keep],
        units=tuple(s.units[i] for i in keep),
    )


def add_channel(trial: Trial, stream: str, name: str, values: np.ndarray, unit: str) -> Trial:
    s = trial.streams[stream]
    return with_stream(
        trial,
        stream,
        channels=(*s.channels, name),
        data=np.column_stack([s.data, values]),
        units=(*s.units, unit),
    )


def edit_subjects(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        path = root / c.SUBJECTS_FILE
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        change(df).to_csv(path, index=False)

    return edit


def subjects_with(who: str, cohort_id: str = COHORT, **values: Any) -> list[dict[str, Any]]:
    """The default subjects with some values of subject `who` changed."""
    rows = subject_rows(cohort_id)
    for row in rows:
        if row["subject_id"] == who:
            row.update(values)
    return rows


# --- a valid cohort --------------------------------------------------------------------------
def test_valid_cohort_loads_converts_units_and_keeps_unknowns(make_cohort: MakeCohort) -> None:
    root = make_cohort()
    cohort = load_cohort(root)

    assert cohort.cohort_id == COHORT
    assert cohort.root == root
    assert cohort.manifest["cohort_id"] == COHORT
    assert [t.trial_id for t in cohort.trials] == [
        "S01_walk01",
        "S01_walk02",
        "S02_walk01",
        "S03_static01",
    ]
    assert [t.kind for t in cohort.trials] == ["walking"] * 3 + ["static"]
    assert all(isinstance(t, TrialRef) and t.path.is_file() for t in cohort.trials)
    assert list(cohort.subjects.columns) == list(c.SUBJECT_COLUMNS)

    # Empty cells stay unknown: NaN in the table, None from subject(); nothing filled in.
    s3 = cohort.subject("S03")
    assert s3["sex"] is None and s3["age_years"] is None
    assert s3["knee_alignment_left_deg"] is None and s3["knee_alignment_right_deg"] is None
    assert s3["mass_kg"] == 74.0 and s3["affected_side"] == "right"
    row = cohort.subjects.set_index("subject_id").loc["S03"]
    assert np.isnan(row["age_years"]) and np.isnan(row["knee_alignment_left_deg"])
    assert row["sex"] is None
    assert cohort.subject("S02")["knee_alignment_left_deg"] == -6.0
    with pytest.raises(KeyError):
        cohort.subject("S99")

    # S01_walk02 is declared in g / rad / kN / mm and comes back in m/s^2 / deg / N / m.
    ref = next(t for t in cohort.trials if t.trial_id == "S01_walk02")
    declared = ref.read_metadata()["channels"]
    assert declared["grf_l_z"]["unit"] == "kN" and declared["acc_pelvis_z"]["unit"] == "g"
    assert declared["angle_knee_l_flex"]["unit"] == "rad" and declared["cop_l_x"]["unit"] == "mm"
    lab = read_trial(ref)
    truth = make_trial("S01_walk02", "S01", COHORT, mass_kg=62.5, seed=2)  # canonical units
    for name, stream in lab.streams.items():
        assert name in c.STREAMS
        assert stream.data.dtype == np.float64
        expected_units = tuple(c.family_of(ch).unit for ch in stream.channels)  # type: ignore[union-attr]
        assert stream.units == expected_units
        np.testing.assert_allclose(
            stream.data, truth.streams[name].data, rtol=1e-5, atol=1e-5, equal_nan=True
        )
    assert lab.streams["acc"].units[0] == "m/s^2" and lab.streams["grf"].units[0] == "N"
    assert np.nanmean(lab.streams["acc"].channel("acc_pelvis_z")) == pytest.approx(9.81, abs=0.2)
    assert np.nanmax(lab.streams["grf"].channel("grf_l_z")) == pytest.approx(674, rel=0.02)
    assert np.nanmax(lab.streams["grf"].channel("cop_l_x")) < 0.5  # metres, not mm
    assert lab.extra == {"speed_mps": 1.2}
    assert lab.streams["acc"].rate_hz == ACC_HZ

    s2 = read_trial(next(t for t in cohort.trials if t.subject_id == "S02"))
    assert s2.streams["acc"].rate_hz == 148.148

    # The cheap check agrees, and reading by path works too.
    assert [t.trial_id for t in load_cohort(root, read_trials=False).trials] == [
        t.trial_id for t in cohort.trials
    ]
    assert read_trial(ref.path).trial_id == "S01_walk02"


def test_load_cohorts_skips_hidden_entries_and_dvc_files(
    make_cohort: MakeCohort, raw_dir: Path
) -> None:
    make_cohort("b-cohort")
    make_cohort("a_cohort")
    staging = raw_dir / ".staging-c"
    staging.mkdir()
    (staging / "subjects.csv").write_text("half,written\n")
    (raw_dir / ".gitignore").write_text("/a_cohort\n/b-cohort\n")
    (raw_dir / "a_cohort.dvc").write_text("outs:\n- path: a_cohort\n")
    (raw_dir / "README.md").write_text("raw cohorts\n")

    cohorts = load_cohorts(raw_dir)

    assert [co.cohort_id for co in cohorts] == ["a_cohort", "b-cohort"]
    assert all(len(co.trials) == 4 for co in cohorts)


def test_load_cohorts_collects_problems_of_every_cohort(
    make_cohort: MakeCohort, raw_dir: Path
) -> None:
    make_cohort("good")
    bad = make_cohort("bad", subjects=subjects_with("S01", "bad", sex="x"))
    (raw_dir / "also-bad").mkdir()
    with pytest.raises(ContractError) as info:
        load_cohorts(raw_dir)
    assert info.value.rules == {"subject_value", "file_missing"}
    assert_violation(info.value, "subject_value", bad / c.SUBJECTS_FILE, subject="S01", only=False)
    assert_violation(info.value, "file_missing", raw_dir / "also-bad" / c.MANIFEST_FILE, only=False)


def test_all_violations_are_collected_in_one_error(make_cohort: MakeCohort) -> None:
    gap = walk().streams["acc"].data.copy()
    gap[100:180, 0] = np.nan
    trials = trials_with(
        with_stream(walk(), "acc", data=gap),
        dataclasses.replace(walk("S01_walk01", "S01"), subject_id="S07"),
        with_stream(walk("S03_static01", "S03", kind="static"), "grf", units=("lbf",) * 10),
    )
    root = make_cohort(subjects=subjects_with("S02", sex="m"), trials=trials)
    (root / c.TRIALS_DIR / "notes.txt").write_text("added later\n")

    err = load_error(root)

    assert err.rules == {"subject_value", "nan_run", "unknown_subject", "unknown_unit", "checksum"}
    assert "violation(s)" in str(err).splitlines()[0]


# --- files -----------------------------------------------------------------------------------
def _remove(relpath: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        target = root / relpath
        shutil.rmtree(target) if target.is_dir() else target.unlink()

    return edit


@pytest.mark.parametrize("relpath", [c.SUBJECTS_FILE, c.TRIALS_DIR])
def test_file_missing(make_cohort: MakeCohort, relpath: str) -> None:
    root = make_cohort(edit=_remove(relpath))
    assert_violation(load_error(root), "file_missing", root / relpath)


def test_file_missing_manifest(make_cohort: MakeCohort) -> None:
    root = make_cohort()
    (root / c.MANIFEST_FILE).unlink()
    assert_violation(load_error(root), "file_missing", root / c.MANIFEST_FILE)


def _truncate(root: Path) -> None:
    path = trial_path(root, "S02_walk01")
    path.write_bytes(path.read_bytes()[:700])


def _empty_trial(root: Path) -> None:
    trial_path(root, "S02_walk01").write_bytes(b"")


def _ragged_csv(root: Path) -> None:
    path = root / c.SUBJECTS_FILE
    path.write_text(path.read_text() + "S04,tiny,male,1,2,3,4,5,6,7,8,9,10,11\n")


@pytest.mark.parametrize(
    ("edit", "relpath"),
    [
        (_truncate, "trials/S02_walk01.parquet"),
        (_empty_trial, "trials/S02_walk01.parquet"),
        (_ragged_csv, c.SUBJECTS_FILE),
    ],
    ids=["truncated-parquet", "empty-parquet", "ragged-csv"],
)
def test_file_unreadable(
    make_cohort: MakeCohort, edit: Callable[[Path], None], relpath: str
) -> None:
    root = make_cohort(edit=edit)
    assert_violation(load_error(root), "file_unreadable", root / relpath)


def test_file_unreadable_manifest_not_json(make_cohort: MakeCohort) -> None:
    root = make_cohort()
    (root / c.MANIFEST_FILE).write_text('{"cohort_id": "tiny",')
    err = load_error(root)
    assert_violation(err, "file_unreadable", root / c.MANIFEST_FILE, says="not valid JSON")


def test_empty_cohort(make_cohort: MakeCohort) -> None:
    root = make_cohort(subjects=[], trials=[])
    err = load_error(root)
    assert_violation(err, "empty_cohort", root / c.SUBJECTS_FILE, says="no subject rows")
    assert_violation(err, "empty_cohort", root / c.TRIALS_DIR, says="no trial files")


# --- ids -------------------------------------------------------------------------------------
def test_cohort_id_manifest_differs(make_cohort: MakeCohort) -> None:
    root = make_cohort()
    path = root / c.MANIFEST_FILE
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "cohort_id": "other"}))
    assert_violation(load_error(root), "cohort_id", path, says="'other'")


def test_cohort_id_subjects_csv_differs(make_cohort: MakeCohort) -> None:
    root = make_cohort(subjects=subjects_with("S02", cohort_id="other"))
    assert_violation(load_error(root), "cohort_id", root / c.SUBJECTS_FILE, subject="S02")


def test_cohort_id_trial_metadata_differs(make_cohort: MakeCohort) -> None:
    trial = dataclasses.replace(walk(), cohort_id="other")
    root = make_cohort(trials=trials_with(trial))
    err = load_error(root)
    assert_violation(err, "cohort_id", trial_path(root, "S02_walk01"), subject="S02")


def test_cohort_id_folder_name_invalid(make_cohort: MakeCohort) -> None:
    root = make_cohort("Tiny Cohort")
    err = load_error(root)
    assert_violation(err, "cohort_id", root, says="not a valid cohort id")


# --- subjects.csv ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda df: df.drop(columns=["group"]), "missing column(s): group"),
        (lambda df: df.assign(notes="x"), "unexpected column(s): notes"),
    ],
    ids=["missing-column", "extra-column"],
)
def test_subjects_schema(
    make_cohort: MakeCohort, change: Callable[[pd.DataFrame], pd.DataFrame], says: str
) -> None:
    root = make_cohort(edit=edit_subjects(change))
    assert_violation(load_error(root), "subjects_schema", root / c.SUBJECTS_FILE, says=says)


@pytest.mark.parametrize(
    ("column", "value", "says"),
    [
        ("mass_kg", None, "mass_kg is empty but required"),
        ("group", None, "group is empty but required"),
        ("age_years", "sixty", "age_years 'sixty' is not a number"),
        ("knee_alignment_left_deg", "nan", "is not a number"),
        ("height_m", 179, "height_m '179' is outside the plausible range 0.8 to 2.3"),
        ("knee_alignment_right_deg", -45, "outside the plausible range -30 to 30"),
        ("sex", "M", "sex 'M' is not one of female, male"),
        ("affected_side", "both", "affected_side 'both' is not one of left, right, none"),
    ],
)
def test_subject_value(make_cohort: MakeCohort, column: str, value: Any, says: str) -> None:
    root = make_cohort(subjects=subjects_with("S02", **{column: value}))
    err = load_error(root)
    v = assert_violation(err, "subject_value", root / c.SUBJECTS_FILE, subject="S02", says=says)
    assert "line 3" in v.detail  # header is line 1, S02 is the second row


def test_subject_value_bad_subject_id(make_cohort: MakeCohort) -> None:
    trials = trials_with(dataclasses.replace(walk(), subject_id="S 02"))
    root = make_cohort(subjects=subjects_with("S02", subject_id="S 02"), trials=trials)
    err = load_error(root)
    assert_violation(err, "subject_value", root / c.SUBJECTS_FILE, subject="S 02", says="match")


def test_duplicate_subject(make_cohort: MakeCohort) -> None:
    rows = subject_rows(COHORT)
    root = make_cohort(subjects=[*rows, {**rows[1], "mass_kg": 90.0}])
    err = load_error(root)
    assert_violation(err, "duplicate_subject", root / c.SUBJECTS_FILE, subject="S02", says="3, 5")


# --- trial files -----------------------------------------------------------------------------
def test_duplicate_trial_and_trial_id(make_cohort: MakeCohort) -> None:
    def copy(root: Path) -> None:
        shutil.copy(trial_path(root, "S02_walk01"), trial_path(root, "S02_walk01b"))

    root = make_cohort(edit=copy)
    err = load_error(root)
    assert err.rules == {"duplicate_trial", "trial_id"}
    for trial_id in ("S02_walk01", "S02_walk01b"):
        assert_violation(err, "duplicate_trial", trial_path(root, trial_id), only=False)
    assert_violation(err, "trial_id", trial_path(root, "S02_walk01b"), subject="S02", only=False)


def test_trial_id_differs_from_file_name(make_cohort: MakeCohort) -> None:
    def rename(root: Path) -> None:
        trial_path(root, "S02_walk01").rename(trial_path(root, "S02_walk1"))

    root = make_cohort(edit=rename)
    err = load_error(root)
    assert_violation(
        err, "trial_id", trial_path(root, "S02_walk1"), subject="S02", says="S02_walk01"
    )


def test_unknown_subject(make_cohort: MakeCohort) -> None:
    trial = dataclasses.replace(walk(), subject_id="S09")
    root = make_cohort(trials=trials_with(trial))
    err = load_error(root)
    assert_violation(err, "unknown_subject", trial_path(root, "S02_walk01"), subject="S09")


# --- checksums -------------------------------------------------------------------------------
def test_checksum_mismatch_unless_disabled(make_cohort: MakeCohort) -> None:
    root = make_cohort()
    path = trial_path(root, "S02_walk01")
    rewrite_metadata(path, lambda meta: meta.update(note="edited after the fact"))
    err = load_error(root)
    assert_violation(err, "checksum", path, says="sha256 differs")
    assert load_cohort(root, ContractConfig(verify_checksums=False)).cohort_id == COHORT


def test_checksum_listed_file_missing(make_cohort: MakeCohort) -> None:
    root = make_cohort()
    path = trial_path(root, "S03_static01")
    path.unlink()
    assert_violation(load_error(root), "checksum", path, says="listed in manifest.json")


def test_checksum_unlisted_file(make_cohort: MakeCohort) -> None:
    root = make_cohort()
    path = root / c.TRIALS_DIR / "notes.txt"
    path.write_text("added later\n")
    assert_violation(load_error(root), "checksum", path, says="not listed")


def test_checksum_malformed_entry(make_cohort: MakeCohort) -> None:
    root = make_cohort()
    path = root / c.MANIFEST_FILE
    manifest = json.loads(path.read_text())
    manifest["checksums"][c.SUBJECTS_FILE] = "md5:1234"
    path.write_text(json.dumps(manifest))
    assert_violation(load_error(root), "checksum", root / c.SUBJECTS_FILE, says="md5:1234")


# --- metadata --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "channel", "says"),
    [
        (lambda m: m.pop("kind"), None, "missing key(s): kind"),
        (lambda m: m.update(kind="running"), None, "kind 'running' is not one of"),
        (lambda m: m.update(contract_version="2.0"), None, "major version differs"),
        (lambda m: m["channels"]["acc_pelvis_x"].pop("unit"), "acc_pelvis_x", "lacks unit"),
        (
            lambda m: m["channels"]["grf_r_z"].update(rate_hz="fast"),
            "grf_r_z",
            "rate_hz 'fast' is not a positive number",
        ),
        (lambda m: m["channels"].pop("angle_hip_l_rot"), "angle_hip_l_rot", "has no entry"),
    ],
    ids=["no-kind", "bad-kind", "major-version", "no-unit", "bad-rate", "undeclared-column"],
)
def test_metadata(
    make_cohort: MakeCohort,
    change: Callable[[dict[str, Any]], Any],
    channel: str | None,
    says: str,
) -> None:
    root = make_cohort(edit=lambda r: rewrite_metadata(trial_path(r, "S02_walk01"), change))
    err = load_error(root)
    path = trial_path(root, "S02_walk01")
    assert_violation(err, "metadata", path, subject="S02", channel=channel, says=says)


def test_metadata_absent_from_parquet(make_cohort: MakeCohort) -> None:
    def strip(root: Path) -> None:
        path = trial_path(root, "S02_walk01")
        pq.write_table(pq.read_table(path).replace_schema_metadata(None), path)

    root = make_cohort(edit=strip)
    err = load_error(root)
    assert_violation(err, "metadata", trial_path(root, "S02_walk01"), says="no 'gaitgrf' entry")


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda m: m.pop("source"), "missing key(s): source"),
        (lambda m: m.update(contract_version="0.9"), "major version differs"),
    ],
)
def test_metadata_of_manifest(
    make_cohort: MakeCohort, change: Callable[[dict[str, Any]], Any], says: str
) -> None:
    root = make_cohort()
    path = root / c.MANIFEST_FILE
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))
    assert_violation(load_error(root), "metadata", path, says=says)


# --- channels --------------------------------------------------------------------------------
def test_missing_channel(make_cohort: MakeCohort) -> None:
    trial = drop_channel(walk(), "kin", "angle_knee_l_add")
    root = make_cohort(trials=trials_with(trial))
    err = load_error(root)
    path = trial_path(root, "S02_walk01")
    assert_violation(err, "missing_channel", path, subject="S02", channel="angle_knee_l_add")


def test_unknown_channel(make_cohort: MakeCohort) -> None:
    trial = walk()
    n = trial.streams["acc"].time.size
    trial = add_channel(trial, "acc", "acc_wrist_x", np.zeros(n), "m/s^2")
    root = make_cohort(trials=trials_with(trial))
    err = load_error(root)
    path = trial_path(root, "S02_walk01")
    assert_violation(err, "unknown_channel", path, subject="S02", channel="acc_wrist_x")


def test_stream_channel_in_wrong_stream(make_cohort: MakeCohort) -> None:
    trial = drop_channel(walk(), "kin", "angle_knee_l_flex")
    n = trial.streams["acc"].time.size
    trial = add_channel(trial, "acc", "angle_knee_l_flex", np.full(n, 20.0), "deg")
    root = make_cohort(trials=trials_with(trial))
    err = load_error(root)
    path = trial_path(root, "S02_walk01")
    assert_violation(
        err, "stream", path, subject="S02", channel="angle_knee_l_flex", says="stream 'kin'"
    )


def test_stream_values_in_rows_of_another_stream(make_cohort: MakeCohort) -> None:
    def bleed(table: pa.Table) -> pa.Table:
        tags = np.asarray(table.column(c.STREAM_COLUMN).cast(pa.string()).to_numpy(False))
        col = table.column("acc_pelvis_x").to_numpy().astype(np.float32)
        col[tags == "grf"] = 1.0
        idx = table.column_names.index("acc_pelvis_x")
        values = pa.array(col, mask=tags == "kin")
        return table.set_column(idx, "acc_pelvis_x", values)

    root = make_cohort(edit=lambda r: rewrite_table(trial_path(r, "S02_walk01"), bleed))
    err = load_error(root)
    path = trial_path(root, "S02_walk01")
    assert_violation(
        err, "stream", path, subject="S02", channel="acc_pelvis_x", says="tagged with another"
    )


def test_unknown_unit(make_cohort: MakeCohort) -> None:
    units = list(walk().streams["grf"].units)
    units[2] = "lbf"  # grf_l_z
    trial = with_stream(walk(), "grf", units=tuple(units))
    root = make_cohort(trials=trials_with(trial))
    err = load_error(root)
    path = trial_path(root, "S02_walk01")
    v = assert_violation(err, "unknown_unit", path, subject="S02", channel="grf_l_z")
    assert "'lbf'" in v.detail and "accepted: N, kN" in v.detail


# --- time bases, rates, gaps -----------------------------------------------------------------
def _acc_time(change: Callable[[np.ndarray], None]) -> Trial:
    trial = walk(acc_hz=ACC_HZ)
    time = trial.streams["acc"].time.copy()
    change(time)
    return with_stream(trial, "acc", time=time)


def _duplicate(t: np.ndarray) -> None:
    t[10] = t[9]


def _decrease(t: np.ndarray) -> None:
    t[20], t[21] = t[21], t[20]


@pytest.mark.parametrize(
    ("change", "says"),
    [(_duplicate, "duplicated at sample 10"), (_decrease, "decreasing at sample 21")],
)
def test_time_order(
    make_cohort: MakeCohort, change: Callable[[np.ndarray], None], says: str
) -> None:
    root = make_cohort(trials=trials_with(_acc_time(change)))
    err = load_error(root)
    v = assert_violation(
        err, "time_order", trial_path(root, "S02_walk01"), subject="S02", says=says
    )
    assert "stream 'acc'" in v.detail and "t=" in v.detail


def test_time_nan(make_cohort: MakeCohort) -> None:
    root = make_cohort(trials=trials_with(_acc_time(lambda t: t.__setitem__(5, np.nan))))
    err = load_error(root)
    path = trial_path(root, "S02_walk01")
    assert_violation(err, "time_nan", path, subject="S02", says="first at sample 5")


def test_sampling_rate_contradicts_time(make_cohort: MakeCohort) -> None:
    trial = with_stream(walk(acc_hz=ACC_HZ), "acc", rate_hz=150.0)
    root = make_cohort(trials=trials_with(trial))
    err = load_error(root)
    path = trial_path(root, "S02_walk01")
    v = assert_violation(err, "sampling_rate", path, subject="S02", says="declares 150 Hz")
    assert "200 Hz" in v.detail


def test_sampling_rate_channels_of_one_stream_disagree(make_cohort: MakeCohort) -> None:
    def change(meta: dict[str, Any]) -> None:
        meta["channels"]["acc_shank_r_z"]["rate_hz"] = 100.0

    root = make_cohort(edit=lambda r: rewrite_metadata(trial_path(r, "S02_walk01"), change))
    err = load_error(root)
    path = trial_path(root, "S02_walk01")
    assert_violation(err, "sampling_rate", path, subject="S02", says="acc_shank_r_z")


def test_rate_within_tolerance_is_accepted(make_cohort: MakeCohort) -> None:
    trial = with_stream(walk(acc_hz=ACC_HZ), "acc", rate_hz=ACC_HZ * 1.009)
    load_cohort(make_cohort(trials=trials_with(trial)))


def _gap(trial: Trial, stream: str, channel: str, start: int, count: int) -> Trial:
    data = trial.streams[stream].data.copy()
    data[start : start + count, trial.streams[stream].channels.index(channel)] = np.nan
    return with_stream(trial, stream, data=data)


def test_nan_run_too_long(make_cohort: MakeCohort) -> None:
    # 0.1 s allowed at 200 Hz is 20 samples; 21 is too long.
    trial = _gap(walk(acc_hz=ACC_HZ), "acc", "acc_shank_l_y", 100, 21)
    root = make_cohort(trials=trials_with(trial))
    err = load_error(root)
    path = trial_path(root, "S02_walk01")
    v = assert_violation(err, "nan_run", path, subject="S02", channel="acc_shank_l_y")
    assert "21 missing samples" in v.detail and "0.105 s" in v.detail and "t=0.5 s" in v.detail


def test_nan_runs_within_limits_are_accepted(make_cohort: MakeCohort) -> None:
    trial = _gap(walk(acc_hz=ACC_HZ), "acc", "acc_shank_l_y", 100, 20)
    trial = _gap(trial, "kin", "angle_hip_r_flex", 50, 10)
    trial = _gap(trial, "grf", "grf_l_z", 0, 1500)  # GRF may be missing (no plate)
    root = make_cohort(trials=trials_with(trial))
    loaded = read_trial(load_cohort(root).trials[2])
    assert np.isnan(loaded.streams["acc"].channel("acc_shank_l_y")).sum() == 20
    # The limit comes from the rules: a stricter one refuses the same gap.
    with pytest.raises(ContractError, match="nan_run"):
        load_cohort(root, ContractConfig(max_nan_run_s=0.05))


def test_empty_stream(make_cohort: MakeCohort) -> None:
    kin = walk().streams["kin"]
    trial = with_stream(walk(), "kin", time=kin.time[:1], data=kin.data[:1])
    root = make_cohort(trials=trials_with(trial))
    err = load_error(root)
    path = trial_path(root, "S02_walk01")
    assert_violation(err, "empty_stream", path, subject="S02", says="stream 'kin' has 1 sample")


# --- cheap mode, single trials, in-memory checks ---------------------------------------------
def test_read_trials_false_checks_metadata_not_data(make_cohort: MakeCohort) -> None:
    gap = _gap(walk(acc_hz=ACC_HZ), "acc", "acc_pelvis_z", 0, 100)
    root = make_cohort(trials=trials_with(gap))
    cohort = load_cohort(root, read_trials=False)  # the gap is in the data, not the metadata
    ref = next(t for t in cohort.trials if t.trial_id == "S02_walk01")
    with pytest.raises(ContractError) as info:
        read_trial(ref)
    assert_violation(info.value, "nan_run", ref.path, subject="S02", channel="acc_pelvis_z")


def test_read_trials_false_still_checks_units(make_cohort: MakeCohort) -> None:
    trial = with_stream(walk(), "kin", units=("grad",) * 18)
    root = make_cohort(trials=trials_with(trial))
    err = load_error(root, read_trials=False)
    path = trial_path(root, "S02_walk01")
    assert_violation(err, "unknown_unit", path, subject="S02", channel="angle_hip_l_flex")


def test_read_trial_by_path_reports_its_file(make_cohort: MakeCohort) -> None:
    root = make_cohort(trials=trials_with(_acc_time(_decrease)))
    path = trial_path(root, "S02_walk01")
    with pytest.raises(ContractError) as info:
        read_trial(path)
    assert_violation(info.value, "time_order", path, subject="S02")
    assert str(path) in str(info.value).splitlines()[0]


def test_check_trial_validates_an_in_memory_trial() -> None:
    trial = make_trial("S01_walk01", "S01", COHORT, units=LAB_UNITS)
    assert check_trial(trial, "import:S01_walk01") == []

    broken = with_stream(trial, "kin", time=trial.streams["kin"].time[::-1].copy())
    broken = drop_channel(broken, "grf", "grf_r_x")
    broken = dataclasses.replace(broken, kind="jogging")
    found = check_trial(broken, "import:S01_walk01")
    assert {v.rule for v in found} == {"time_order", "missing_channel", "metadata"}
    assert all(v.file == "import:S01_walk01" and v.subject == "S01" for v in found)
    assert any(v.channel == "grf_r_x" for v in found if v.rule == "missing_channel")


def test_refs_hold_ids_and_channel_names_not_metadata(make_cohort: MakeCohort) -> None:
    """A ref keeps its ids, path and channel names, the names shared between refs that declare
    the same ones, and reads its metadata from the file when asked (issue 16: the refs of
    20,000 trials held ~30 KB of decoded metadata each for a whole stage)."""

    def add_a_twin(root: Path) -> None:  # S01_walk03: S01_walk01's data and channel table
        trials = root / c.TRIALS_DIR
        meta = {**_stored(trials / "S01_walk01.parquet"), "trial_id": "S01_walk03"}
        table = pq.read_table(trials / "S01_walk01.parquet")
        table = table.replace_schema_metadata({c.TRIAL_METADATA_KEY: json.dumps(meta)})
        pq.write_table(table, trials / "S01_walk03.parquet")

    root = make_cohort(edit=add_a_twin)
    cohort = load_cohort(root, read_trials=False)
    refs = {t.trial_id: t for t in cohort.trials}
    for ref in cohort.trials:
        stored = _stored(ref.path)
        assert ref.read_metadata() == stored  # the document as stored, channel order included
        assert list(ref.read_metadata()["channels"]) == list(stored["channels"])
        assert ref.channels == frozenset(stored["channels"])
        assert not hasattr(ref, "__dict__")  # nothing else can be attached to a ref
    assert refs["S01_walk03"].channels is refs["S01_walk01"].channels
    assert refs["S01_walk02"].channels == refs["S01_walk01"].channels  # other units, same names
    assert refs["S01_walk02"].subject_id is refs["S01_walk01"].subject_id  # interned


def test_read_metadata_of_a_file_gone_names_it(make_cohort: MakeCohort) -> None:
    """A trial file removed after the scan: one ContractError naming the file, not a traceback."""
    cohort = load_cohort(make_cohort(), read_trials=False)
    ref = cohort.trials[0]
    ref.path.unlink()
    with pytest.raises(ContractError) as info:
        ref.read_metadata()
    assert [v.rule for v in info.value.violations] == ["file_missing"]
    assert info.value.violations[0].file == str(ref.path)


def _stored(path: Path) -> dict[str, Any]:
    return json.loads(pq.read_schema(path).metadata[c.TRIAL_METADATA_KEY])
