"""Small contract-conforming cohorts for tests: build a valid one, then break one thing.

Plain functions, importable from any test folder (tests/conftest.py puts this folder on
sys.path and exposes `make_cohort`). Data are plausible but tiny: 3 subjects, 4 trials of 2 s.

`build_cohort(..., edit=...)` runs `edit(root)` *before* the manifest is written, so a test that
breaks a file does not also trip the checksum rule; break files after `build_cohort` returns to
test the checksums themselves.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gaitgrf.core import contract as c
from gaitgrf.io.cohort_store import write_manifest, write_subjects
from gaitgrf.io.trial_file import Stream, Trial, write_trial

ACC_HZ = 200.0
KIN_HZ = 100.0
GRF_HZ = 1000.0
DURATION_S = 2.0
STRIDE_S = 1.1
GRAVITY = 9.80665

#: Units a trial can be declared in, per family (see `make_trial(units=...)`).
CANONICAL_UNITS = {f.name: f.unit for f in c.CHANNEL_FAMILIES}
LAB_UNITS = {"accelerometer": "g", "joint_angle": "rad", "grf": "kN", "cop": "mm"}


def subject_rows(cohort_id: str) -> list[dict[str, Any]]:
    """Three subjects; S03 has unknown sex, age and alignment (empty cells)."""
    common = {"cohort_id": cohort_id}
    return [
        {
            **common,
            "subject_id": "S01",
            "sex": "female",
            "age_years": 34,
            "mass_kg": 62.5,
            "height_m": 1.68,
            "knee_alignment_left_deg": -1.5,
            "knee_alignment_right_deg": -0.5,
            "affected_side": "none",
            "group": "healthy",
        },
        {
            **common,
            "subject_id": "S02",
            "sex": "male",
            "age_years": 61,
            "mass_kg": 88.0,
            "height_m": 1.79,
            "knee_alignment_left_deg": -6.0,
            "knee_alignment_right_deg": -3.2,
            "affected_side": "left",
            "group": "knee_oa",
        },
        {
            **common,
            "subject_id": "S03",
            "sex": None,
            "age_years": None,
            "mass_kg": 74.0,
            "height_m": 1.72,
            "knee_alignment_left_deg": None,
            "knee_alignment_right_deg": None,
            "affected_side": "right",
            "group": "post_surgery",
        },
    ]


def _in_unit(values: np.ndarray, family: str, units: Mapping[str, str] | None) -> np.ndarray:
    unit = (units or {}).get(family, CANONICAL_UNITS[family])
    return values / c.UNIT_FACTORS[CANONICAL_UNITS[family]][unit]


def _unit(family: str, units: Mapping[str, str] | None) -> str:
    return (units or {}).get(family, CANONICAL_UNITS[family])


def make_trial(
    trial_id: str,
    subject_id: str,
    cohort_id: str,
    *,
    kind: str = "walking",
    mass_kg: float = 70.0,
    duration_s: float = DURATION_S,
    acc_hz: float = ACC_HZ,
    seed: int = 0,
    units: Mapping[str, str] | None = None,
) -> Trial:
    """A plausible trial: gravity on the accelerometers' z, sinusoidal joint angles, alternating
    half-sine vertical GRF, COP missing (NaN) while a foot is unloaded.

    `units` maps a family name (accelerometer, joint_angle, grf, cop) to the unit to declare;
    the data are converted so that reading them back gives the same canonical values.
    """
    rng = np.random.default_rng(seed)
    walking = kind == "walking"
    amp = 1.0 if walking else 0.05

    t_acc = np.arange(0.0, duration_s, 1.0 / acc_hz)
    phase = 2 * np.pi * t_acc / STRIDE_S
    acc_names, acc_cols = [], []
    for k, loc in enumerate(c.REQUIRED_ACC_LOCATIONS):
        for axis, base, scale in (("x", 0.0, 1.5), ("y", 0.0, 0.6), ("z", GRAVITY, 3.0)):
            acc_names.append(c.acc_channel(loc, axis))
            acc_cols.append(
                base + amp * scale * np.sin(phase + k) + rng.normal(0, 0.05, t_acc.size)
            )
    acc = Stream(
        c.STREAM_ACC,
        acc_hz,
        t_acc,
        tuple(acc_names),
        _in_unit(np.stack(acc_cols, axis=1), "accelerometer", units),
        (_unit("accelerometer", units),) * len(acc_names),
    )

    t_kin = np.arange(0.0, duration_s, 1.0 / KIN_HZ)
    phase = 2 * np.pi * t_kin / STRIDE_S
    kin_names, kin_cols = [], []
    offsets = {"flex": 20.0, "add": 1.0, "rot": 3.0}
    ranges = {"flex": 25.0, "add": 3.0, "rot": 5.0}
    for j, joint in enumerate(c.JOINTS):
        for side in c.SIDES:
            shift = 0.0 if side == "l" else np.pi
            for plane in c.PLANES:
                kin_names.append(c.angle_channel(joint, side, plane))
                kin_cols.append(
                    offsets[plane]
                    + amp * ranges[plane] * np.sin(phase + shift + j)
                    + rng.normal(0, 0.2, t_kin.size)
                )
    kin = Stream(
        c.STREAM_KIN,
        KIN_HZ,
        t_kin,
        tuple(kin_names),
        _in_unit(np.stack(kin_cols, axis=1), "joint_angle", units),
        (_unit("joint_angle", units),) * len(kin_names),
    )

    t_grf = np.arange(0.0, duration_s, 1.0 / GRF_HZ)
    phase = 2 * np.pi * t_grf / STRIDE_S
    weight = mass_kg * GRAVITY
    grf_names, grf_cols, grf_units = [], [], []
    for side in c.SIDES:
        shift = 0.0 if side == "l" else np.pi
        load = np.sin(phase + shift)
        fz = 1.1 * weight * np.clip(load, 0, None) if walking else np.full(t_grf.size, weight / 2)
        fz = fz + rng.normal(0, 1.0, t_grf.size)
        fx = 0.2 * fz * np.cos(phase + shift) * amp
        fy = (0.05 if side == "l" else -0.05) * fz
        grf_names += [c.grf_channel(side, a) for a in c.AXES]
        grf_cols += [_in_unit(f, "grf", units) for f in (fx, fy, fz)]
        grf_units += [_unit("grf", units)] * 3
        cop_x = 0.25 * ((phase + shift) % (2 * np.pi)) / np.pi - 0.1
        cop_y = np.full(t_grf.size, 0.1 if side == "l" else -0.1)
        for axis, values in (("x", cop_x), ("y", cop_y)):
            values = np.where(fz < 20.0, np.nan, values)
            grf_names.append(c.cop_channel(side, axis))
            grf_cols.append(_in_unit(values, "cop", units))
            grf_units.append(_unit("cop", units))
    grf = Stream(
        c.STREAM_GRF, GRF_HZ, t_grf, tuple(grf_names), np.stack(grf_cols, axis=1), tuple(grf_units)
    )
    streams = {s.name: s for s in (acc, kin, grf)}
    return Trial(trial_id, subject_id, cohort_id, kind, streams, {"speed_mps": 1.2 * amp})


def default_trials(cohort_id: str) -> list[Trial]:
    """S01: two walking trials (one declared in lab units: g, rad, kN, mm); S02: one walking
    trial with 148.148 Hz accelerometers; S03: one static trial."""
    return [
        make_trial("S01_walk01", "S01", cohort_id, mass_kg=62.5, seed=1),
        make_trial("S01_walk02", "S01", cohort_id, mass_kg=62.5, seed=2, units=LAB_UNITS),
        make_trial("S02_walk01", "S02", cohort_id, mass_kg=88.0, seed=3, acc_hz=148.148),
        make_trial("S03_static01", "S03", cohort_id, mass_kg=74.0, seed=4, kind="static"),
    ]


def trial_path(root: Path, trial_id: str) -> Path:
    return root / c.TRIALS_DIR / f"{trial_id}{c.TRIAL_SUFFIX}"


def build_cohort(
    parent: Path,
    cohort_id: str = "tiny",
    *,
    subjects: Sequence[Mapping[str, Any]] | None = None,
    trials: Sequence[Trial] | None = None,
    edit: Callable[[Path], None] | None = None,
) -> Path:
    """Write a cohort to `parent/cohort_id` and return its folder.

    `edit(root)` runs after the data files are written and before the manifest, so the
    manifest's checksums match whatever it changed.
    """
    root = parent / cohort_id
    root.mkdir(parents=True)
    rows = subject_rows(cohort_id) if subjects is None else subjects
    write_subjects(rows, root / c.SUBJECTS_FILE)
    (root / c.TRIALS_DIR).mkdir()
    for trial in default_trials(cohort_id) if trials is None else trials:
        write_trial(trial, trial_path(root, trial.trial_id))
    if edit is not None:
        edit(root)
    write_manifest(root, cohort_id, {"kind": "test", "generator": "tests/cohort_factory.py"})
    return root


def with_stream(trial: Trial, stream: str, **changes: Any) -> Trial:
    """A copy of `trial` with fields of one stream replaced (time, data, channels, ...)."""
    streams = dict(trial.streams)
    streams[stream] = dataclasses.replace(streams[stream], **changes)
    return dataclasses.replace(trial, streams=streams)


def rewrite_metadata(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Edit a trial file's metadata document in place (`change` mutates the dict)."""
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[c.TRIAL_METADATA_KEY])
    change(meta)
    table = table.replace_schema_metadata({c.TRIAL_METADATA_KEY: json.dumps(meta).encode()})
    pq.write_table(table, path)


def rewrite_table(path: Path, change: Callable[[pa.Table], pa.Table]) -> None:
    """Replace a trial file's table by `change(table)`, keeping its metadata."""
    table = pq.read_table(path)
    meta = table.schema.metadata
    pq.write_table(change(table).replace_schema_metadata(meta), path)
