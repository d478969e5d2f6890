"""The fuse stage (gaitgrf.pipeline.fuse): channel selection, static features, conditions,
files."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from gaitgrf.core import contract as c
from gaitgrf.core.config import FuseConfig
from gaitgrf.core.errors import GaitGrfError
from gaitgrf.core.samples import STATIC_GROUPS, SampleSet
from gaitgrf.pipeline.fuse.features import (
    FeatureError,
    fuse_samples,
    select_channels,
    static_features,
)
from gaitgrf.pipeline.fuse.run import fuse

ALL_GROUPS = tuple(STATIC_GROUPS)


# --- factory -----------------------------------------------------------------------------------
def all_channels(*, foot: bool = True) -> tuple[str, ...]:
    """Every channel `resample` writes, in a deliberately scrambled (not canonical) order."""
    locs = ["pelvis"] + [
        f"{seg}_{s}"
        for seg in ("thigh", "shank", "foot")
        if foot or seg != "foot"
        for s in ("contra", "ipsi")
    ]
    acc = [c.acc_channel(loc, ax) for loc in locs for ax in c.AXES]
    ang = [c.angle_channel(j, s, p) for p in c.PLANES for s in ("contra", "ipsi") for j in c.JOINTS]
    return tuple(ang[::-1] + acc)


SUBJECTS = [
    # cohort, subject, sex, age, mass, height, hka_l, hka_r, affected, group
    ("lab-a", "S1", "female", 61, 80.0, 1.65, -6.0, -2.0, "left", "knee_oa"),  # varus, left
    ("lab-a", "S2", "male", 35, 75.0, 1.80, 1.0, 0.5, "none", "healthy"),
    ("lab-a", "S3", None, None, 90.0, None, None, None, "right", "post_surgery"),  # unknowns
    ("lab-b", "S1", "male", 50, 70.0, 1.75, -1.0, 2.0, "right", "knee_oa"),  # same id, cohort b
    ("lab-b", "P-7", "female", 44, 60.0, 1.60, 0.0, 0.0, "none", "healthy"),
]


def subjects_frame(rows: list[tuple] | None = None) -> pd.DataFrame:
    cols = [
        "cohort_id",
        "subject_id",
        "sex",
        "age_years",
        "mass_kg",
        "height_m",
        "knee_alignment_left_deg",
        "knee_alignment_right_deg",
        "affected_side",
        "group",
    ]
    frame = pd.DataFrame(rows or SUBJECTS, columns=cols)
    return frame[list(c.SUBJECT_COLUMNS)]


def make_samples(
    per_subject: int = 4,
    *,
    subjects: list[tuple] | None = None,
    channels: tuple[str, ...] | None = None,
    t: int = 101,
    layout: str = "stance",
    seed: int = 0,
) -> SampleSet:
    rng = np.random.default_rng(seed)
    subjects = subjects or SUBJECTS
    channels = channels or all_channels()
    n = per_subject * len(subjects)
    cohort = np.repeat([s[0] for s in subjects], per_subject)
    subject = np.repeat([s[1] for s in subjects], per_subject)
    side = np.tile(["l", "r"], n // 2 + 1)[:n]
    return SampleSet(
        layout=layout,
        rate_hz=101.0,
        channels=channels,
        inputs=rng.normal(size=(n, len(channels), t)).astype(np.float32),
        targets=rng.normal(size=(n, 3, t)).astype(np.float32),
        static_names=(),
        static=np.zeros((n, 0), dtype=np.float32),
        subject_id=subject,
        cohort_id=cohort,
        trial_id=np.char.add(subject.astype(str), "_walk01"),
        side=side,
        start_s=np.arange(n, dtype=np.float64),
        duration_s=np.full(n, 0.6),
        provenance={"stage": "resample"},
    )


def feature(names: tuple[str, ...], static: np.ndarray, i: int) -> dict[str, float]:
    return {name: float(static[i, j]) for j, name in enumerate(names)}


# --- channel selection -------------------------------------------------------------------------
def test_select_channels_canonical_order() -> None:
    samples = make_samples(1)
    out = select_channels(samples, ("shank", "pelvis"), ("knee_add", "hip_flex"))
    assert out.channels == (
        "acc_pelvis_x", "acc_pelvis_y", "acc_pelvis_z",
        "acc_shank_ipsi_x", "acc_shank_ipsi_y", "acc_shank_ipsi_z",
        "acc_shank_contra_x", "acc_shank_contra_y", "acc_shank_contra_z",
        "angle_hip_ipsi_flex", "angle_hip_contra_flex",
        "angle_knee_ipsi_add", "angle_knee_contra_add",
    )  # fmt: skip
    # The data follows the names.
    for k, name in enumerate(out.channels):
        np.testing.assert_array_equal(
            out.inputs[:, k], samples.inputs[:, samples.channels.index(name)]
        )
    np.testing.assert_array_equal(out.targets, samples.targets)
    # Config order and duplicates do not matter.
    again = select_channels(samples, ("pelvis", "shank", "shank"), ("hip_flex", "knee_add"))
    assert again.channels == out.channels


def test_select_channels_default_config_gives_21_channels() -> None:
    """Pelvis + both thighs and shanks (3 axes each) and the three flexion angles of both legs."""
    cfg = FuseConfig()
    out = select_channels(make_samples(1), cfg.sensors, cfg.kinematics)
    assert len(out.channels) == 3 + 4 * 3 + 6
    assert out.inputs.shape == (len(SUBJECTS), 21, 101)
    assert not [ch for ch in out.channels if ch.endswith(("_add", "_rot"))]


def test_select_channels_unknown_names() -> None:
    samples = make_samples(1)
    with pytest.raises(GaitGrfError, match=r"unknown sensor location\(s\) wrist .*valid: pelvis"):
        select_channels(samples, ("wrist", "pelvis"), ())
    with pytest.raises(FeatureError, match=r"unknown joint angle\(s\) knee_flexion .*knee_flex"):
        select_channels(samples, ("pelvis",), ("knee_flexion",))
    with pytest.raises(FeatureError, match="no input channel selected"):
        select_channels(samples, (), ())


def test_select_channels_missing_in_data_names_missing_and_available() -> None:
    samples = make_samples(1, channels=all_channels(foot=False))
    with pytest.raises(FeatureError) as info:
        select_channels(samples, ("pelvis", "foot"), ())
    message = str(info.value)
    assert "acc_foot_ipsi_x" in message and "acc_foot_contra_z" in message
    assert "available:" in message and "acc_shank_ipsi_x" in message


# --- static features ---------------------------------------------------------------------------
def test_static_features_varus_left_affected_left_and_right_sample() -> None:
    samples = make_samples(2)  # S1 of lab-a: sample 0 is left, sample 1 right
    assert list(samples.side[:2]) == ["l", "r"]
    names, static = static_features(samples, subjects_frame(), ALL_GROUPS)
    assert names == (
        "hka_ipsi_deg", "hka_contra_deg",
        "affected_none", "affected_left", "affected_right",
        "ipsi_is_affected", "contra_is_affected", "ipsi_is_left",
        "mass_kg", "height_m", "age_years", "sex_female",
    )  # fmt: skip
    assert static.dtype == np.float32 and static.shape == (len(samples), 12)
    left, right = feature(names, static, 0), feature(names, static, 1)
    assert left["hka_ipsi_deg"] == -6.0 and left["hka_contra_deg"] == -2.0
    assert right["hka_ipsi_deg"] == -2.0 and right["hka_contra_deg"] == -6.0  # swapped
    for f in (left, right):  # subject-level: same on both feet
        assert (f["affected_none"], f["affected_left"], f["affected_right"]) == (0, 1, 0)
        assert f["mass_kg"] == 80.0 and f["sex_female"] == 1.0
        assert f["age_years"] == 61.0 and f["height_m"] == pytest.approx(1.65)
    assert (left["ipsi_is_affected"], left["contra_is_affected"], left["ipsi_is_left"]) == (1, 0, 1)
    assert (right["ipsi_is_affected"], right["contra_is_affected"], right["ipsi_is_left"]) == (
        0, 1, 0,
    )  # fmt: skip


def test_static_features_match_on_cohort_and_subject() -> None:
    samples = make_samples(2)
    names, static = static_features(samples, subjects_frame(), ("knee_alignment", "stance_side"))
    lab_b_s1 = np.flatnonzero((samples.cohort_id == "lab-b") & (samples.subject_id == "S1"))
    f = feature(names, static, int(lab_b_s1[0]))  # left sample of a right-affected subject
    assert f["hka_ipsi_deg"] == -1.0 and f["hka_contra_deg"] == 2.0
    assert (f["ipsi_is_affected"], f["contra_is_affected"]) == (0, 1)


def test_unaffected_subject_has_no_affected_side() -> None:
    samples = make_samples(2)
    names, static = static_features(samples, subjects_frame(), ("affected_side", "stance_side"))
    for i in np.flatnonzero(samples.subject_id == "S2"):
        f = feature(names, static, int(i))
        assert (f["affected_none"], f["affected_left"], f["affected_right"]) == (1, 0, 0)
        assert (f["ipsi_is_affected"], f["contra_is_affected"]) == (0, 0)


def test_unknown_values_stay_nan() -> None:
    samples = make_samples(2)
    names, static = static_features(samples, subjects_frame(), ALL_GROUPS)
    rows = np.flatnonzero(samples.subject_id == "S3")
    for i in rows:
        f = feature(names, static, int(i))
        for name in ("hka_ipsi_deg", "hka_contra_deg", "height_m", "age_years", "sex_female"):
            assert np.isnan(f[name]), name
        assert f["mass_kg"] == 90.0 and f["affected_right"] == 1.0
    known = np.setdiff1d(np.arange(len(samples)), rows)
    assert not np.isnan(static[known]).any()


def test_static_features_accept_subjects_read_as_text() -> None:
    text = subjects_frame().astype(object).map(lambda v: "" if pd.isna(v) else str(v))
    _, static = static_features(make_samples(1), text, ALL_GROUPS)
    _, expected = static_features(make_samples(1), subjects_frame(), ALL_GROUPS)
    np.testing.assert_array_equal(static, expected)


def test_unknown_group_and_bad_base_condition() -> None:
    samples = make_samples(1)
    with pytest.raises(
        FeatureError, match=r"unknown static feature group\(s\) bmi .*knee_alignment"
    ):
        static_features(samples, subjects_frame(), ("bmi",))
    # params.yaml is refused at load ...
    with pytest.raises(ValidationError, match="'base' must have no static features"):
        FuseConfig(conditions={"base": ("knee_alignment",)})
    with pytest.raises(ValidationError, match=r"unknown feature group\(s\) \['alignment'\]"):
        FuseConfig(conditions={"x": ("alignment",)})
    with pytest.raises(ValidationError, match=r"unknown sensor location\(s\) \['wrist'\]"):
        FuseConfig(sensors=("wrist",))
    # ... and the library still refuses a config built without validation
    bad_base = FuseConfig.model_construct(conditions={"base": ("knee_alignment",)})
    with pytest.raises(FeatureError, match="'base' must have no static features"):
        fuse_samples(samples, subjects_frame(), bad_base)
    unknown = FuseConfig.model_construct(conditions={"x": ("alignment",)})
    with pytest.raises(FeatureError, match="valid: knee_alignment"):
        fuse_samples(samples, subjects_frame(), unknown)


def test_bad_subject_values_are_refused() -> None:
    frame = subjects_frame()
    frame.loc[0, "affected_side"] = "both"
    with pytest.raises(FeatureError, match=r"affected_side value\(s\) \['both'\]"):
        static_features(make_samples(1), frame, ("affected_side",))


# --- conditions --------------------------------------------------------------------------------
def test_base_has_no_static_and_shares_inputs_with_subject() -> None:
    samples = make_samples(3)
    out = fuse_samples(samples, subjects_frame(), FuseConfig())
    assert set(out) == {"base", "subject"}
    base, subject = out["base"], out["subject"]
    assert base.static.shape == (len(samples), 0) and base.static_names == ()
    assert (
        subject.static_names
        == STATIC_GROUPS["knee_alignment"]
        + STATIC_GROUPS["affected_side"]
        + STATIC_GROUPS["stance_side"]
    )
    assert base.channels == subject.channels
    np.testing.assert_array_equal(base.inputs, subject.inputs)
    np.testing.assert_array_equal(base.targets, subject.targets)
    for name in ("subject_id", "cohort_id", "trial_id", "side", "start_s"):
        np.testing.assert_array_equal(getattr(base, name), getattr(subject, name))
    assert subject.provenance["condition"] == "subject"
    assert subject.provenance["upstream"] == {"stage": "resample"}


def test_missing_subject_is_named() -> None:
    samples = make_samples(1)
    frame = subjects_frame()
    frame = frame[~((frame["cohort_id"] == "lab-b") & (frame["subject_id"] == "P-7"))]
    # Even the base condition, which reads no subject feature, refuses it.
    with pytest.raises(FeatureError, match=r"not in subjects.csv: lab-b/P-7"):
        fuse_samples(samples, frame, FuseConfig(conditions={"base": ()}))


# --- the stage ---------------------------------------------------------------------------------
def write_resampled(folder: Path, samples: SampleSet, frame: pd.DataFrame | None = None) -> None:
    samples.save(folder / f"{samples.layout}.npz")
    (subjects_frame() if frame is None else frame).to_csv(folder / "subjects.csv", index=False)


def test_fuse_writes_loadable_files_and_summary(tmp_path: Path) -> None:
    resampled, fused = tmp_path / "resampled", tmp_path / "fused"
    write_resampled(resampled, make_samples(4))
    make_samples(2, layout="window", t=100, seed=1).save(resampled / "window.npz")
    cfg = FuseConfig(conditions={"base": (), "subject": ("knee_alignment",), "all": ALL_GROUPS})
    summary = fuse(resampled, fused, cfg)

    assert set(summary["layouts"]) == {"stance", "window"}
    assert json.loads((fused / "summary.json").read_text()) == summary
    stance = summary["layouts"]["stance"]
    assert stance["samples"] == 20 and stance["subjects"] == 5 and len(stance["channels"]) == 21
    assert stance["conditions"]["all"]["static_names"][:2] == ["hka_ipsi_deg", "hka_contra_deg"]
    assert stance["conditions"]["subject"]["static_unknown_samples"]["hka_ipsi_deg"] == 4
    for layout in ("stance", "window"):
        for cond in cfg.conditions:
            loaded = SampleSet.load(fused / layout / f"{cond}.npz")
            assert loaded.layout == layout
            assert loaded.provenance["condition"] == cond
            assert len(loaded.provenance["source_sha256"]) == 64
            assert loaded.provenance["normalised"] is False
            assert (
                list(loaded.static_names)
                == summary["layouts"][layout]["conditions"][cond]["static_names"]
            )
    # A later run with fewer conditions leaves no stale file behind.
    fuse(resampled, fused, FuseConfig(conditions={"base": ()}), layouts=["stance"])
    assert sorted(p.name for p in (fused / "stance").iterdir()) == [
        "base.json", "base.npz", "inputs.npy", "targets.npy",
    ]  # fmt: skip
    assert (fused / "window" / "all.npz").exists()  # a layout not asked for is left alone


def test_fuse_errors(tmp_path: Path) -> None:
    resampled = tmp_path / "resampled"
    resampled.mkdir()
    with pytest.raises(FeatureError, match="no resampled sample set"):
        fuse(resampled, tmp_path / "fused", FuseConfig())
    make_samples(1).save(resampled / "stance.npz")
    with pytest.raises(FeatureError, match="subjects table not found"):
        fuse(resampled, tmp_path / "fused", FuseConfig())
    with pytest.raises(FeatureError, match=r"no window.npz \(found: stance\)"):
        fuse(resampled, tmp_path / "fused", FuseConfig(), layouts=["window"])
    frame = subjects_frame()
    write_resampled(resampled, make_samples(1), frame[frame["subject_id"] != "S3"])
    with pytest.raises(FeatureError, match="lab-a/S3"):
        fuse(resampled, tmp_path / "fused", FuseConfig())


def test_fused_files_load_fast_at_realistic_size(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n, t = 3000, 101
    subjects = [("lab-a", f"S{i:02d}", "female", 50, 70.0, 1.7, -1.0, 1.0, "none", "healthy")
                for i in range(30)]  # fmt: skip
    samples = make_samples(n // 30, subjects=subjects, seed=4)
    # Different content per channel so a mix-up would not go unnoticed.
    samples.inputs[:] += rng.normal(size=(1, samples.inputs.shape[1], 1)).astype(np.float32)
    write_resampled(tmp_path / "resampled", samples, subjects_frame(subjects))
    joints, planes = ("hip", "knee", "ankle"), ("flex", "add", "rot")
    every_angle = tuple(f"{j}_{p}" for j in joints for p in planes)
    cfg = FuseConfig(sensors=("pelvis", "thigh", "shank", "foot"), kinematics=every_angle)
    # 21 acc + 18 angles
    start = time.perf_counter()
    fuse(tmp_path / "resampled", tmp_path / "fused", cfg)
    fuse_s = time.perf_counter() - start
    path = tmp_path / "fused" / "stance" / "subject.npz"
    start = time.perf_counter()
    loaded = SampleSet.load(path)
    load_s = time.perf_counter() - start
    assert loaded.inputs.shape == (n, 39, t) and loaded.static.shape == (n, 8)
    print(
        f"\nfuse {n}x39x{t}: {fuse_s:.2f} s; {path.name} {path.stat().st_size / 1e6:.1f} MB "
        f"loads in {load_s * 1000:.0f} ms"
    )
