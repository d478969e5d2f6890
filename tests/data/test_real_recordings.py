"""Every real walking recording in ../shared/data becomes a valid cohort that the pipeline takes.

The cohort: the three Plug-in Gait C3D trials (one subject folder each) and the OpenSim
Subject4 folder (five walking trials and a static trial). It must pass the loader, give GRF on
the right foot and axis, a body weight consistent with the static load, physiological virtual
accelerometers, and then go through the validate, resample and fuse stages like a synthetic
cohort.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from gaitgrf.core import contract as c
from gaitgrf.core.config import ContractConfig, FuseConfig, ResampleConfig, ValidateConfig
from gaitgrf.core.sensors import GRAVITY
from gaitgrf.ingest.cohort import ImportResult, import_recordings
from gaitgrf.ingest.convert import TrialReport, convert_recording
from gaitgrf.ingest.formats.c3d import read_c3d
from gaitgrf.ingest.formats.recording import RecordingError
from gaitgrf.ingest.segment_model.frames import Body
from gaitgrf.io.loader import Cohort, load_cohort, read_trial
from gaitgrf.io.trial_file import Trial
from gaitgrf.pipeline.fuse.run import fuse
from gaitgrf.pipeline.resample.run import resample_cohorts
from gaitgrf.pipeline.validate.run import validate_cohorts

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f"no shared data at {SHARED}")
C3D_SUBJECTS = {
    "PIG": "btk_PiG_Motion-FlatFoot-Full",
    "FW": "btk_FunctionalWalk",
    "KTK": "ktk_walk",
}
#: README: OpenCap's metadata says ~62.6 kg for Subject4.
SUBJECT4_MASS_KG = 62.6


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> ImportResult:
    root = tmp_path_factory.mktemp("real")
    src = root / "src"
    for subject, name in C3D_SUBJECTS.items():
        (src / subject).mkdir(parents=True)
        shutil.copy(SHARED / "c3d" / f"{name}.c3d", src / subject / f"{name}.c3d")
    # Copies, not links: an import refuses symbolic links (their targets would land in DVC).
    shutil.copytree(SHARED / "opensim" / "Subject4", src / "Subject4")
    return import_recordings(
        src, "real-shared", root / "raw", group="healthy", affected_side="none", lab="shared"
    )


@pytest.fixture(scope="module")
def cohort(imported: ImportResult) -> Cohort:
    return load_cohort(imported.cohort_dir)


def test_the_cohort_passes_the_loader(cohort: Cohort) -> None:
    assert cohort.cohort_id == "real-shared"
    assert len(cohort.trials) == 9
    kinds = {t.trial_id: t.kind for t in cohort.trials}
    assert kinds["Subject4_static1"] == "static"
    assert sum(k == "walking" for k in kinds.values()) == 8
    assert cohort.manifest["source"]["kind"] == "import"


def test_subjects_come_from_the_recordings_and_unknowns_stay_unknown(cohort: Cohort) -> None:
    masses = {s: cohort.subject(s)["mass_kg"] for s in ("PIG", "FW", "KTK", "Subject4")}
    assert masses["PIG"] == pytest.approx(47.5)
    assert masses["FW"] == pytest.approx(60.0)
    assert masses["KTK"] == pytest.approx(73.4, abs=0.01)
    # No Bodymass in the OpenSim files: the static trial's plate load is the body weight.
    assert masses["Subject4"] == pytest.approx(SUBJECT4_MASS_KG, rel=0.05)
    for sid in ("PIG", "FW", "KTK"):
        row = cohort.subject(sid)
        assert row["sex"] is None and row["age_years"] is None
        assert row["knee_alignment_left_deg"] is None  # no static trial: not measured
    row = cohort.subject("Subject4")
    assert -6.0 < row["knee_alignment_left_deg"] < 6.0
    assert -6.0 < row["knee_alignment_right_deg"] < 6.0
    assert row["height_m"] is None


def test_static_load_matches_body_weight(imported: ImportResult) -> None:
    (static,) = [r for r in imported.reports if r.kind == "static"]
    assert static.static_load_n == pytest.approx(SUBJECT4_MASS_KG * GRAVITY, rel=0.05)


def test_grf_on_both_feet_with_walking_peaks(cohort: Cohort) -> None:
    for ref in cohort.trials:
        if ref.kind != "walking":
            continue
        grf = read_trial(ref).streams[c.STREAM_GRF]
        weight = cohort.subject(ref.subject_id)["mass_kg"] * GRAVITY
        for side in c.SIDES:
            fz = grf.channel(c.grf_channel(side, "z"))
            assert np.isfinite(fz).any(), (ref.trial_id, side)
            assert 0.9 < np.nanmax(fz) / weight < 1.5, (ref.trial_id, side)
            assert np.nanmin(fz) > -0.05 * weight, (ref.trial_id, side)


def test_virtual_accelerometers_in_physiological_ranges(cohort: Cohort) -> None:
    for ref in cohort.trials:
        trial = read_trial(ref)
        acc = trial.streams[c.STREAM_ACC]
        assert np.isfinite(acc.data).all()
        for loc in ("pelvis", "thigh_l", "thigh_r", "shank_l", "shank_r", "foot_l", "foot_r"):
            xyz = acc.select([c.acc_channel(loc, ax) for ax in c.AXES])
            norm = np.linalg.norm(xyz, axis=1)
            limit = {"pelvis": 2.0, "foot_l": 6.0, "foot_r": 6.0}.get(loc, 4.0) * GRAVITY
            assert norm.max() < limit, (ref.trial_id, loc, norm.max())
            assert np.median(norm) == pytest.approx(GRAVITY, abs=2.5), (ref.trial_id, loc)
            if ref.kind == "static":
                np.testing.assert_allclose(norm, GRAVITY, atol=0.3)


EB015PI = SHARED / "c3d" / "c3dorg_Eb015pi.c3d"


@pytest.fixture(scope="module")
def eb015pi() -> tuple[Trial, TrialReport, Body]:
    return convert_recording(read_c3d(EB015PI), trial_id="EB_t", subject_id="EB", cohort_id="x")


def test_the_cluster_sample_imports_with_grf_on_the_right_foot(
    eb015pi: tuple[Trial, TrialReport, Body],
) -> None:
    """c3dorg_Eb015pi has only technical clusters (PV, TH, SK, FT): the cluster model takes it.

    It has no EVENT group, so the check of the foot assignment is the markers' own motion: the
    foot on a plate stands still while the plate is loaded, the other one swings past.
    """
    trial, report, body = eb015pi
    assert report.kind == "walking"
    assert any("technical clusters" in n for n in report.notes)
    assert [(e["plate"], e["foot"]) for e in report.contacts] == [("FP1", "r"), ("FP2", "r")]
    for contact in report.contacts:
        assert contact["heel_distance_m"]["r"] < 0.12 < 0.3 < contact["heel_distance_m"]["l"]
    time = trial.streams[c.STREAM_KIN].time
    for contact in report.contacts:
        mid = (time > contact["start_s"] + 0.2) & (time < contact["stop_s"] - 0.2)
        speed = {
            s: np.median(
                np.linalg.norm(np.gradient(body.points[f"ankle_{s}"][:, :2], time, axis=0), axis=1)[
                    mid
                ]
            )
            for s in c.SIDES
        }
        assert speed["r"] < 0.08 and speed["l"] > 0.12, (contact["plate"], speed)
    grf = trial.streams[c.STREAM_GRF]
    # 839 N raw; 818 N once the plates' unloaded offsets (21-31 N) are removed.
    assert np.nanmax(grf.channel("grf_r_z")) == pytest.approx(818, abs=5)
    assert np.nanmax(grf.channel("grf_l_z"), initial=0.0) == 0.0


def test_the_cluster_model_is_anatomically_plausible(
    eb015pi: tuple[Trial, TrialReport, Body],
) -> None:
    """Functional joint centres of a 1.63 m subject (SUBJECT:HEIGHT): hip ~0.85 m, knee ~0.46 m,
    ankle 0.06-0.1 m above the floor; thigh and shank ~0.245 x stature (Winter)."""
    _, _, body = eb015pi
    for side in c.SIDES:
        heights = {j: float(np.median(body.points[f"{j}_{side}"][:, 2])) for j in ("hip", "knee")}
        ankle = float(np.median(body.points[f"ankle_{side}"][:, 2]))
        assert 0.78 < heights["hip"] < 0.92 and 0.42 < heights["knee"] < 0.5, heights
        assert 0.05 < ankle < 0.12
        for segment in ("thigh", "shank"):
            assert 0.34 < body.segment_length(segment, side) < 0.44


def test_the_cluster_sample_has_physiological_accelerometers(
    eb015pi: tuple[Trial, TrialReport, Body],
) -> None:
    trial, report, _ = eb015pi
    acc = trial.streams[c.STREAM_ACC]
    assert np.isfinite(acc.data).all()
    for loc, (lo, hi) in report.acc_range.items():
        assert lo > -20.0 and hi < 20.0, (loc, lo, hi)
        xyz = acc.select([c.acc_channel(loc, ax) for ax in c.AXES])
        assert np.median(np.linalg.norm(xyz, axis=1)) == pytest.approx(GRAVITY, abs=1.0)


def test_the_cluster_sample_needs_a_mass_and_says_which_number_the_file_has(
    tmp_path: Path,
) -> None:
    """No PROCESSING:Bodymass and no standing on a plate: the mass is unknown. SUBJECT:WEIGHT
    reads 82.7 with no unit; the error quotes it, and only a subjects file may settle it."""
    with pytest.raises(RecordingError) as info:
        import_recordings(EB015PI, "eb", tmp_path / "raw", group="PD", affected_side="none")
    assert info.value.rules == {"mass_unknown"}
    assert "SUBJECT:WEIGHT reads 82.7" in str(info.value)
    assert not (tmp_path / "raw" / "eb").exists()
    subjects = tmp_path / "subjects.csv"
    # The test's reading of SUBJECT:WEIGHT as kg (lb would make the 839 N peak 2.3 BW).
    subjects.write_text("subject_id,mass_kg,height_m\nc3dorg_Eb015pi,82.7,1.63\n")
    result = import_recordings(
        EB015PI, "eb", tmp_path / "raw", subjects, group="PD", affected_side="none"
    )
    cohort = load_cohort(result.cohort_dir)
    (ref,) = cohort.trials
    fz = read_trial(ref).streams[c.STREAM_GRF].channel("grf_r_z")
    assert np.nanmax(fz) / (82.7 * GRAVITY) == pytest.approx(1.01, abs=0.02)


def test_validate_resample_and_fuse_take_the_imported_cohort(
    imported: ImportResult, tmp_path: Path
) -> None:
    raw = imported.cohort_dir.parent
    summary = validate_cohorts(
        raw,
        tmp_path / "validated",
        tmp_path / "reports",
        ContractConfig(),
        ValidateConfig(max_fail_fraction=0.5),
    )
    quarantined = dict(summary.quarantined_trials)
    # walking1/2 of Subject4 begin and end with the right foot on a plate: no complete right
    # stance, which validation rightly quarantines. Everything else passes.
    assert set(quarantined) == {"real-shared/Subject4_walking1", "real-shared/Subject4_walking2"}
    assert all("right foot" in reasons[0] for reasons in quarantined.values())
    report = resample_cohorts(
        tmp_path / "validated",
        tmp_path / "resampled",
        tmp_path / "reports" / "events.json",
        ResampleConfig(),
    )
    assert report["walking_trials"] == 6
    assert report["samples"]["stance"] >= 10
    summary = fuse(tmp_path / "resampled", tmp_path / "fused", FuseConfig())
    stance = summary["layouts"]["stance"]
    assert stance["samples"] == report["samples"]["stance"]
    # Knee alignment is unknown for the C3D subjects (no static trial): it stays unknown.
    unknown = stance["conditions"]["subject"]["static_unknown_samples"]["hka_ipsi_deg"]
    assert 0 < unknown < stance["samples"]
