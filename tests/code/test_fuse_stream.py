"""The fuse stage's streamed path never diverges from a plain per-sample re-implementation.

`gaitgrf.pipeline.fuse.run.fuse` reads the resampled `.npz` in blocks, hashes it on the way, selects
channels per block and writes `inputs`/`targets` once per layout. These tests hold it against a
reference written the obvious way (per-sample loop, channels by name, subjects in a dict), on
random data with blocks small enough that a set spans several blocks and ends in a partial one,
and against the in-memory path it falls back to for a compressed source.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gaitgrf.core import contract as c
from gaitgrf.core.config import FuseConfig
from gaitgrf.core.samples import ARRAYS, SHARED_KEY, SampleSet
from gaitgrf.io.cohort_store import sha256_file
from gaitgrf.pipeline.fuse import stream
from gaitgrf.pipeline.fuse.features import STATIC_GROUPS, FeatureError, fuse_samples
from gaitgrf.pipeline.fuse.run import fuse

SUBJECTS = [
    # cohort, subject, sex, age, mass, height, hka_l, hka_r, affected
    ("lab-a", "S1", "female", 61.0, 80.0, 1.65, -6.0, -2.0, "left"),
    ("lab-a", "S2", "male", 35.0, 75.0, 1.80, 1.0, 0.5, "none"),
    ("lab-a", "S3", None, None, 90.0, None, None, None, "right"),
    ("lab-b", "S1", "male", 50.0, 70.0, 1.75, -1.0, 2.0, "right"),
]
CONFIG = FuseConfig(
    sensors=("shank", "pelvis", "foot"),
    kinematics=("knee_flex", "hip_add", "ankle_rot"),
    conditions={
        "base": (),
        "subject": ("stance_side", "knee_alignment"),
        "all": tuple(STATIC_GROUPS),
    },
)


def subjects_frame() -> pd.DataFrame:
    rows = [(*row, "healthy") for row in SUBJECTS]
    cols = [
        "cohort_id", "subject_id", "sex", "age_years", "mass_kg", "height_m",
        "knee_alignment_left_deg", "knee_alignment_right_deg", "affected_side", "group",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)[list(c.SUBJECT_COLUMNS)]


def random_samples(n: int, *, t: int = 37, seed: int = 0, layout: str = "stance") -> SampleSet:
    """Random signals (NaN sprinkled in), random feet and subjects, channels in random order."""
    rng = np.random.default_rng(seed)
    locations = ["pelvis", "trunk"] + [
        f"{seg}_{side}" for seg in ("thigh", "shank", "foot") for side in ("ipsi", "contra")
    ]
    channels = [c.acc_channel(loc, ax) for loc in locations for ax in c.AXES]
    channels += [
        c.angle_channel(j, s, p) for j in c.JOINTS for s in ("ipsi", "contra") for p in c.PLANES
    ]
    channels = [channels[i] for i in rng.permutation(len(channels))]
    inputs = rng.normal(size=(n, len(channels), t)).astype(np.float32)
    inputs[rng.random(inputs.shape) < 0.01] = np.nan
    who = rng.integers(0, len(SUBJECTS), size=n)
    return SampleSet(
        layout=layout,
        rate_hz=100.0,
        channels=tuple(channels),
        inputs=inputs,
        targets=rng.normal(size=(n, 3, t)).astype(np.float32),
        static_names=(),
        static=np.zeros((n, 0), dtype=np.float32),
        subject_id=np.array([SUBJECTS[i][1] for i in who]),
        cohort_id=np.array([SUBJECTS[i][0] for i in who]),
        trial_id=np.array([f"{SUBJECTS[i][1]}_walk{k:02d}" for k, i in enumerate(who)]),
        side=rng.choice(["l", "r"], size=n),
        start_s=rng.random(n),
        duration_s=rng.random(n) + 0.5,
        provenance={"stage": "resample"},
    )


def reference(samples: SampleSet, cfg: FuseConfig) -> dict[str, dict[str, np.ndarray]]:
    """Condition -> arrays, computed the obvious way, sample by sample (docs/features.md)."""
    wanted = []
    for loc in ("pelvis", "trunk", "thigh", "shank", "foot"):
        if loc in cfg.sensors:
            places = [loc] if loc in ("pelvis", "trunk") else [f"{loc}_ipsi", f"{loc}_contra"]
            wanted += [f"acc_{place}_{ax}" for place in places for ax in ("x", "y", "z")]
    for joint in ("hip", "knee", "ankle"):
        for side in ("ipsi", "contra"):
            for plane in ("flex", "add", "rot"):
                if f"{joint}_{plane}" in cfg.kinematics:
                    wanted.append(f"angle_{joint}_{side}_{plane}")
    by_key = {(row[0], row[1]): row for row in SUBJECTS}
    inputs, rows = [], []
    for i in range(len(samples)):
        inputs.append(np.stack([samples.inputs[i, samples.channels.index(w)] for w in wanted]))
        _, _, sex, age, mass, height, hka_l, hka_r, affected = by_key[
            (samples.cohort_id[i], samples.subject_id[i])
        ]
        left = samples.side[i] == "l"
        ipsi, contra = ("left", "right") if left else ("right", "left")
        nan = math.nan
        rows.append(
            {
                "hka_ipsi_deg": nan if hka_l is None else (hka_l if left else hka_r),
                "hka_contra_deg": nan if hka_l is None else (hka_r if left else hka_l),
                "affected_none": float(affected == "none"),
                "affected_left": float(affected == "left"),
                "affected_right": float(affected == "right"),
                "ipsi_is_affected": float(affected == ipsi),
                "contra_is_affected": float(affected == contra),
                "ipsi_is_left": float(left),
                "mass_kg": mass,
                "height_m": nan if height is None else height,
                "age_years": nan if age is None else age,
                "sex_female": {"female": 1.0, "male": 0.0}.get(sex, nan),
            }
        )
    out = {}
    for name, groups in cfg.conditions.items():
        names = [f for g, fs in STATIC_GROUPS.items() if g in groups for f in fs]
        out[name] = {
            "channels": np.array(wanted),
            "inputs": np.stack(inputs)
            if inputs
            else np.empty((0, len(wanted), samples.inputs.shape[2]), np.float32),
            "targets": samples.targets,
            "static": np.array([[r[f] for f in names] for r in rows], np.float32).reshape(
                len(rows), len(names)
            ),
        }
    return out


def assert_same(loaded: SampleSet, expected: dict[str, np.ndarray], source: SampleSet) -> None:
    assert list(loaded.channels) == list(expected["channels"])
    for name in ("inputs", "targets", "static"):
        got = getattr(loaded, name)
        assert got.dtype == expected[name].dtype and got.flags.c_contiguous, name
        np.testing.assert_array_equal(got, expected[name], err_msg=name)  # NaN == NaN here
    for name in ("subject_id", "cohort_id", "trial_id", "side", "start_s", "duration_s"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(source, name), err_msg=name)


def write_source(folder: Path, samples: SampleSet, *, compressed: bool = False) -> Path:
    path = samples.save(folder / f"{samples.layout}.npz")
    if compressed:  # the same set, as np.savez_compressed would write it: not streamable
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        np.savez_compressed(path, **arrays)
    subjects_frame().to_csv(folder / c.SUBJECTS_FILE, index=False)
    return path


@pytest.mark.parametrize("n", [0, 1, 7, 50])
def test_streamed_fuse_matches_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int
) -> None:
    samples = random_samples(n, seed=n)
    source = write_source(tmp_path / "res", samples)
    # Three samples per block: several blocks and a partial last one.
    monkeypatch.setattr(stream, "_BLOCK_BYTES", 3 * samples.inputs[0:1].nbytes + 5)
    summary = fuse(tmp_path / "res", tmp_path / "fused", CONFIG)
    expected = reference(samples, CONFIG)
    for cond in CONFIG.conditions:
        loaded = SampleSet.load(tmp_path / "fused" / "stance" / f"{cond}.npz")
        assert_same(loaded, expected[cond], samples)
        assert loaded.provenance["source_sha256"] == sha256_file(source)
        # ... and the in-memory API says the same.
        direct = fuse_samples(samples, subjects_frame(), CONFIG)[cond]
        assert_same(direct, expected[cond], samples)
    assert summary["layouts"]["stance"]["source_sha256"] == sha256_file(source)


def test_compressed_source_falls_back_to_the_same_result(tmp_path: Path) -> None:
    samples = random_samples(20, seed=5, layout="window")
    write_source(tmp_path / "plain", samples)
    write_source(tmp_path / "zipped", samples, compressed=True)
    assert stream._npz_members(tmp_path / "zipped" / "window.npz") is None
    fuse(tmp_path / "plain", tmp_path / "fused-plain", CONFIG)
    fuse(tmp_path / "zipped", tmp_path / "fused-zipped", CONFIG)
    for cond in CONFIG.conditions:
        a = SampleSet.load(tmp_path / "fused-plain" / "window" / f"{cond}.npz")
        b = SampleSet.load(tmp_path / "fused-zipped" / "window" / f"{cond}.npz")
        for name in ARRAYS:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert_same(a, reference(samples, CONFIG)[cond], samples)


def test_conditions_share_one_copy_of_the_signals(tmp_path: Path) -> None:
    samples = random_samples(30, seed=2)
    write_source(tmp_path / "res", samples)
    summary = fuse(tmp_path / "res", tmp_path / "fused", CONFIG)
    folder = tmp_path / "fused" / "stance"
    for cond in CONFIG.conditions:
        meta = json.loads((folder / f"{cond}.json").read_text())
        assert meta[SHARED_KEY] == {"inputs": "inputs.npy", "targets": "targets.npy"}
        with np.load(folder / f"{cond}.npz") as data:
            assert "inputs" not in data.files and "targets" not in data.files
    shared = summary["layouts"]["stance"]["shared_files"]
    assert shared["inputs.npy"] == (folder / "inputs.npy").stat().st_size


def test_truncated_source_is_refused(tmp_path: Path) -> None:
    source = write_source(tmp_path / "res", random_samples(10, seed=3))
    data = source.read_bytes()
    source.write_bytes(data[: len(data) // 2])
    with pytest.raises(FeatureError, match=r"stance\.npz"):
        fuse(tmp_path / "res", tmp_path / "fused", CONFIG)
    assert not (tmp_path / "fused" / "stance").exists()


def test_shared_arrays_must_match_and_stay_in_the_folder(tmp_path: Path) -> None:
    samples = random_samples(4, seed=1)
    np.save(tmp_path / "inputs.npy", samples.inputs[:, :3])
    with pytest.raises(ValueError, match="holds float32"):
        samples.save(tmp_path / "x.npz", shared={"inputs": "inputs.npy"})
    with pytest.raises(ValueError, match="cannot be shared"):
        samples.save(tmp_path / "x.npz", shared={"static": "inputs.npy"})
    np.save(tmp_path / "inputs.npy", samples.inputs)
    path = samples.save(tmp_path / "x.npz", shared={"inputs": "inputs.npy"})
    np.testing.assert_array_equal(SampleSet.load(path).inputs, samples.inputs)
    meta = json.loads(path.with_suffix(".json").read_text())
    meta[SHARED_KEY] = {"inputs": "../inputs.npy"}
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="same folder"):
        SampleSet.load(path)
