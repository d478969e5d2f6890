"""The `fuse` stage: model inputs per feature condition (docs/features.md).

From each resampled `SampleSet` (every channel `resample` could build, no static features) this
module makes one `SampleSet` per *condition* of `FuseConfig.conditions`: the same samples and the
same selected input channels, plus the subject-specific static features of that condition. The
`base` condition has none; it is the "without subject-specific features" arm of the study.

Nothing is normalised here: statistics are fitted later, inside each training split
(`gaitgrf.training.normalisation.Normaliser`), so no test subject ever leaks into them.

Channel order (deterministic, independent of how the config lists names; duplicates collapse):

1. accelerometers by location in `SENSOR_LOCATIONS` order (pelvis, trunk, thigh, shank, foot);
   a leg location gives ipsi before contra; axes x, y, z;
2. joint angles by joint (hip, knee, ankle), then side (ipsi, contra), then plane
   (flex, add, rot), keeping only the joint_plane pairs the config lists.

Static feature order follows `STATIC_GROUPS` (knee_alignment, affected_side, stance_side,
anthropometrics), whatever order a condition lists its groups in.

All conditions of a layout share the same `inputs` and `targets`, so the stage writes them once,
as `inputs.npy` and `targets.npy` beside the condition files, whose sidecars name them
(`SampleSet.load` reads them back transparently). The stage streams the big arrays: one pass
over the resampled `.npz` in blocks of samples hashes it, selects the channels of each block and
writes it out, so time is a few memory copies per byte and memory stays flat however big the
cohort (docs/features.md, "Speed and memory").
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import struct
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, Final

import numpy as np
import pandas as pd

from gaitgrf.core import contract as c
from gaitgrf.core.config import FuseConfig
from gaitgrf.core.errors import GaitGrfError
from gaitgrf.core.samples import ARRAYS, SHAREABLE, SampleSet
from gaitgrf.io.cohort_store import sha256_file

# --- names -------------------------------------------------------------------------------------
LEG_SIDES: Final = ("ipsi", "contra")
#: Accelerometer locations the config may name; True = one per leg (ipsi and contra).
SENSOR_LOCATIONS: Final[dict[str, bool]] = {
    "pelvis": False,
    "trunk": False,
    "thigh": True,
    "shank": True,
    "foot": True,
}
#: Joint angles the config may name, as joint_plane.
KINEMATIC_NAMES: Final = tuple(f"{j}_{p}" for j in c.JOINTS for p in c.PLANES)

#: Static feature groups and the features each produces, in output order.
STATIC_GROUPS: Final[dict[str, tuple[str, ...]]] = {
    "knee_alignment": ("hka_ipsi_deg", "hka_contra_deg"),
    "affected_side": ("affected_none", "affected_left", "affected_right"),
    "stance_side": ("ipsi_is_affected", "contra_is_affected", "ipsi_is_left"),
    "anthropometrics": ("mass_kg", "height_m", "age_years", "sex_female"),
}
#: Static features that may be unknown (NaN); the Normaliser adds a "missing" indicator for each.
MAY_BE_MISSING: Final = frozenset(
    STATIC_GROUPS["knee_alignment"] + STATIC_GROUPS["anthropometrics"]
)
#: The condition that must carry no subject-specific feature.
BASE_CONDITION: Final = "base"
SUMMARY_FILE: Final = "summary.json"
#: The files, in each `<layout>/` folder, that hold the arrays all its conditions share.
SHARED_FILES: Final[dict[str, str]] = {name: f"{name}.npy" for name in SHAREABLE}
#: Bytes of resampled inputs read per block when streaming: big enough that per-block overhead
#: vanishes, small enough that memory does not grow with the cohort.
_BLOCK_BYTES = 16 << 20


class FeatureError(GaitGrfError):
    """Fusing cannot proceed: bad configuration, missing channels or subjects."""

    hint = "check the fuse section of params.yaml and docs/features.md"


# --- channel selection -------------------------------------------------------------------------
def selected_channel_names(sensors: Sequence[str], kinematics: Sequence[str]) -> tuple[str, ...]:
    """The input channels that `sensors` and `kinematics` name, in the documented order."""
    unknown_sensors = sorted(set(sensors) - set(SENSOR_LOCATIONS))
    unknown_kin = sorted(set(kinematics) - set(KINEMATIC_NAMES))
    problems = []
    if unknown_sensors:
        problems.append(
            f"unknown sensor location(s) {', '.join(unknown_sensors)} "
            f"(valid: {', '.join(SENSOR_LOCATIONS)})"
        )
    if unknown_kin:
        problems.append(
            f"unknown joint angle(s) {', '.join(unknown_kin)} (valid: {', '.join(KINEMATIC_NAMES)})"
        )
    if problems:
        raise FeatureError("; ".join(problems))
    names: list[str] = []
    for loc, bilateral in SENSOR_LOCATIONS.items():
        if loc not in sensors:
            continue
        for place in [f"{loc}_{s}" for s in LEG_SIDES] if bilateral else [loc]:
            names += [c.acc_channel(place, ax) for ax in c.AXES]
    for joint in c.JOINTS:
        for side in LEG_SIDES:
            for plane in c.PLANES:
                if f"{joint}_{plane}" in kinematics:
                    names.append(c.angle_channel(joint, side, plane))
    if not names:
        raise FeatureError("no input channel selected: fuse.sensors and fuse.kinematics are empty")
    return tuple(names)


def select_channels(
    samples: SampleSet, sensors: Sequence[str], kinematics: Sequence[str]
) -> SampleSet:
    """Keep the accelerometers at `sensors` and the joint angles `kinematics` (joint_plane).

    Raises `FeatureError` (a `GaitGrfError`) for unknown names or channels the data lacks,
    naming the missing channels and the available ones.
    """
    wanted, index = _channel_index(samples, sensors, kinematics)
    if index == list(range(len(samples.channels))):
        return replace(samples, channels=wanted)  # already exactly the selection: no copy
    # One `take` copies straight into a C-ordered result; `inputs[:, index]` would copy into a
    # strided array that then needs a second copy to become contiguous.
    return replace(samples, channels=wanted, inputs=np.take(samples.inputs, index, axis=1))


def _channel_index(
    samples: SampleSet, sensors: Sequence[str], kinematics: Sequence[str]
) -> tuple[tuple[str, ...], list[int]]:
    """Selected channel names and their positions in `samples`; raises naming missing ones."""
    wanted = selected_channel_names(sensors, kinematics)
    position = {name: i for i, name in enumerate(samples.channels)}
    missing = [name for name in wanted if name not in position]
    if missing:
        raise FeatureError(
            f"{samples.layout}: channel(s) not in the data: {', '.join(missing)} "
            f"(available: {', '.join(samples.channels)})"
        )
    return wanted, [position[name] for name in wanted]


# --- static features ---------------------------------------------------------------------------
def static_feature_names(groups: Iterable[str]) -> tuple[str, ...]:
    """Static feature names of `groups`, in `STATIC_GROUPS` order; unknown groups raise."""
    groups = list(groups)
    unknown = sorted(set(groups) - set(STATIC_GROUPS))
    if unknown:
        raise FeatureError(
            f"unknown static feature group(s) {', '.join(unknown)} "
            f"(valid: {', '.join(STATIC_GROUPS)})"
        )
    return tuple(n for g, names in STATIC_GROUPS.items() if g in groups for n in names)


def static_features(
    samples: SampleSet, subjects: pd.DataFrame, groups: Iterable[str]
) -> tuple[tuple[str, ...], np.ndarray]:
    """Per-sample static features of `groups`: (names, float32 array (N, S), NaN = unknown).

    Subjects are matched on (cohort_id, subject_id); the sample's `side` is its ipsilateral foot.
    Knee alignment keeps the contract's sign (varus negative) on both legs: it is an angle of the
    limb, not a lateral vector, so mirroring right-foot samples does not flip it.
    """
    groups = list(groups)
    names = static_feature_names(groups)
    n = len(samples)
    if not names:
        return names, np.zeros((n, 0), dtype=np.float32)
    table = _subject_table(subjects)
    row = _subject_rows(samples, table)
    side = samples.side.astype(str)
    bad_side = sorted(set(np.unique(side)) - set(c.SIDES))
    if bad_side:
        raise FeatureError(f"{samples.layout}: side value(s) {bad_side} are not 'l' or 'r'")
    left = side == "l"

    affected = table["affected_side"].to_numpy(dtype=object)[row]
    columns: dict[str, np.ndarray] = {}
    if "knee_alignment" in groups:
        hka_l = table["knee_alignment_left_deg"].to_numpy(dtype=float)[row]
        hka_r = table["knee_alignment_right_deg"].to_numpy(dtype=float)[row]
        columns["hka_ipsi_deg"] = np.where(left, hka_l, hka_r)
        columns["hka_contra_deg"] = np.where(left, hka_r, hka_l)
    if "affected_side" in groups:
        for value in ("none", "left", "right"):
            columns[f"affected_{value}"] = (affected == value).astype(float)
    if "stance_side" in groups:
        ipsi_name = np.where(left, "left", "right")
        contra_name = np.where(left, "right", "left")
        columns["ipsi_is_affected"] = (affected == ipsi_name).astype(float)
        columns["contra_is_affected"] = (affected == contra_name).astype(float)
        columns["ipsi_is_left"] = left.astype(float)
    if "anthropometrics" in groups:
        for col in ("mass_kg", "height_m", "age_years"):
            columns[col] = table[col].to_numpy(dtype=float)[row]
        sex = table["sex"].to_numpy(dtype=object)[row]
        columns["sex_female"] = np.where(sex == "female", 1.0, np.where(sex == "male", 0.0, np.nan))
    static = np.stack([columns[name] for name in names], axis=1).astype(np.float32)
    return names, static


def read_subjects(path: Path) -> pd.DataFrame:
    """Read a subjects.csv (contract columns): numbers as float (NaN = empty), text or None."""
    if not path.is_file():
        raise FeatureError(f"{path}: subjects table not found (written by the resample stage)")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, ValueError) as exc:
        raise FeatureError(f"{path}: cannot be read as CSV ({exc})") from None
    raw.columns = pd.Index([str(col).strip() for col in raw.columns])
    try:
        return _subject_table(raw)
    except FeatureError as exc:
        raise FeatureError(f"{path}: {exc}") from None


def _subject_table(subjects: pd.DataFrame) -> pd.DataFrame:
    """Subjects with checked columns: ids and text as str or None, numbers as float64."""
    missing = [col for col in c.SUBJECT_COLUMNS if col not in subjects.columns]
    if missing:
        raise FeatureError(f"subjects table lacks column(s): {', '.join(missing)}")
    table = pd.DataFrame(index=pd.RangeIndex(len(subjects)))
    for col in c.SUBJECT_COLUMNS:
        values = [_text(v) for v in subjects[col].tolist()]
        if col in c.SUBJECT_RANGES:
            try:
                table[col] = np.array([np.nan if v is None else float(v) for v in values])
            except ValueError:
                bad = [v for v in values if v is not None and not _is_number(v)]
                raise FeatureError(f"subjects column {col} holds non-numbers: {bad[:3]}") from None
        else:
            table[col] = pd.Series(values, dtype=object)
    for col in ("subject_id", "cohort_id"):
        if any(v is None for v in table[col]):
            raise FeatureError(f"subjects table has rows with an empty {col}")
    wrong = sorted({str(v) for v in table["affected_side"] if v not in c.AFFECTED_SIDES})
    if wrong:
        raise FeatureError(
            f"affected_side value(s) {wrong} are not one of {', '.join(c.AFFECTED_SIDES)}"
        )
    wrong = sorted({str(v) for v in table["sex"] if v is not None and v not in c.SEXES})
    if wrong:
        raise FeatureError(f"sex value(s) {wrong} are not one of {', '.join(c.SEXES)} or empty")
    keys = table["cohort_id"] + "/" + table["subject_id"]
    dup = sorted(set(keys[keys.duplicated()]))
    if dup:
        raise FeatureError(f"subjects table lists these subjects more than once: {dup[:10]}")
    return table


def _subject_rows(samples: SampleSet, table: pd.DataFrame) -> np.ndarray:
    """Row of `table` for every sample; raises naming the subjects the table lacks."""
    keys = table["cohort_id"].astype(str) + "/" + table["subject_id"].astype(str)
    lookup = {key: i for i, key in enumerate(keys)}
    groups = samples.groups
    unique, inverse = np.unique(groups, return_inverse=True)
    absent = [str(g) for g in unique if str(g) not in lookup]
    if absent:
        more = f" and {len(absent) - 10} more" if len(absent) > 10 else ""
        raise FeatureError(
            f"{samples.layout}: {len(absent)} subject(s) (cohort/subject) of the samples are not "
            f"in subjects.csv: {', '.join(absent[:10])}{more}"
        )
    return np.array([lookup[str(g)] for g in unique], dtype=np.intp)[inverse]


# --- conditions --------------------------------------------------------------------------------
def check_conditions(conditions: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """Validate `FuseConfig.conditions`; returns condition -> groups in canonical order."""
    if not conditions:
        raise FeatureError("fuse.conditions is empty: configure at least the base condition")
    out: dict[str, tuple[str, ...]] = {}
    for name, groups in conditions.items():
        if not c.COHORT_ID_PATTERN.match(name):
            raise FeatureError(
                f"condition name {name!r} must match {c.COHORT_ID_PATTERN.pattern} "
                "(it becomes a file name)"
            )
        static_feature_names(groups)  # unknown groups raise here
        if name == BASE_CONDITION and groups:
            raise FeatureError(
                f"condition {BASE_CONDITION!r} must have no static features (configured: "
                f"{', '.join(groups)}); it is the baseline without subject-specific features"
            )
        out[name] = tuple(g for g in STATIC_GROUPS if g in groups)
    return out


def fuse_samples(
    samples: SampleSet, subjects: pd.DataFrame, cfg: FuseConfig
) -> dict[str, SampleSet]:
    """One `SampleSet` per condition: selected channels (shared array) plus its static features.

    Every sample's subject must be in `subjects`, whatever the conditions, so a subject missing
    from subjects.csv fails here and not only in the conditions that read it.
    """
    conditions = check_conditions(cfg.conditions)
    if samples.static.shape[1]:
        raise FeatureError(
            f"{samples.layout}: input already carries static features {samples.static_names}; "
            "fuse expects the resampled sets, which have none"
        )
    selected = select_channels(samples, cfg.sensors, cfg.kinematics)
    _subject_rows(samples, _subject_table(subjects))
    out: dict[str, SampleSet] = {}
    for name, groups in conditions.items():
        static_names, static = static_features(selected, subjects, groups)
        provenance = {
            "stage": "fuse",
            "condition": name,
            "static_groups": list(groups),
            "sensors": list(cfg.sensors),
            "kinematics": list(cfg.kinematics),
            "normalised": False,
            "upstream": dict(samples.provenance),
        }
        out[name] = replace(
            selected, static_names=static_names, static=static, provenance=provenance
        )
    return out


# --- the stage ---------------------------------------------------------------------------------
def fuse(
    resampled_dir: Path,
    out_dir: Path,
    cfg: FuseConfig,
    *,
    layouts: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Write `out_dir/<layout>/<condition>.npz` (+ .json) for every `<layout>.npz` found.

    `layouts` restricts the layouts (each must exist); by default all found are fused. A layout's
    folder is written aside and swapped in at the end, so no stale condition file survives a
    config change. Returns the summary it also writes to `out_dir/summary.json`.
    """
    check_conditions(cfg.conditions)
    selected_channel_names(cfg.sensors, cfg.kinematics)  # config errors before any reading
    found = (
        {p.stem: p for p in sorted(resampled_dir.glob("*.npz"))} if resampled_dir.is_dir() else {}
    )
    if layouts is None:
        chosen = list(found)
    else:
        absent = [lay for lay in layouts if lay not in found]
        if absent:
            raise FeatureError(
                f"{resampled_dir}: no {', '.join(f'{a}.npz' for a in absent)} "
                f"(found: {', '.join(found) or 'none'})"
            )
        chosen = list(dict.fromkeys(layouts))
    if not chosen:
        raise FeatureError(
            f"{resampled_dir}: no resampled sample set (<layout>.npz) found",
        )
    subjects_path = resampled_dir / c.SUBJECTS_FILE
    subjects = read_subjects(subjects_path)
    subjects_sha = sha256_file(subjects_path)

    summary: dict[str, Any] = {
        "sensors": list(cfg.sensors),
        "kinematics": list(cfg.kinematics),
        "conditions": {k: list(v) for k, v in check_conditions(cfg.conditions).items()},
        "normalised": False,
        "layouts": {},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for layout in chosen:
        source = found[layout]
        staging = out_dir / f".staging-{layout}"
        shutil.rmtree(staging, ignore_errors=True)
        fused, source_sha = _fuse_layout(source, layout, staging, subjects, cfg)
        conditions: dict[str, Any] = {}
        for name, fused_set in fused.items():
            fused_set = replace(
                fused_set,
                provenance={
                    **fused_set.provenance,
                    "source_file": source.name,
                    "source_sha256": source_sha,
                    "subjects_sha256": subjects_sha,
                },
            )
            path = fused_set.save(staging / f"{name}.npz", shared=SHARED_FILES)
            unknown = np.isnan(fused_set.static).sum(axis=0)
            conditions[name] = {
                "file": f"{layout}/{path.name}",
                "samples": len(fused_set),
                "static_names": list(fused_set.static_names),
                "static_unknown_samples": {
                    n: int(unknown[i]) for i, n in enumerate(fused_set.static_names)
                },
                "bytes": path.stat().st_size,
            }
        first = next(iter(fused.values()))
        summary["layouts"][layout] = {
            "source_file": source.name,
            "source_sha256": source_sha,
            "samples": len(first),
            "subjects": int(np.unique(first.groups).size),
            "time_points": int(first.inputs.shape[2]),
            "channels": list(first.channels),
            "shared_files": {
                file: (staging / file).stat().st_size for file in SHARED_FILES.values()
            },
            "conditions": conditions,
        }
        del fused, first, fused_set  # they map the shared files: let go before the swap
        target = out_dir / layout
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


# --- one layout, streamed ----------------------------------------------------------------------
def _fuse_layout(
    source: Path, layout: str, staging: Path, subjects: pd.DataFrame, cfg: FuseConfig
) -> tuple[dict[str, SampleSet], str]:
    """Fuse one resampled file into `staging`: the shared `.npy` files, and the conditions.

    Returns the conditions (their `inputs` and `targets` memory-map the shared files just
    written, so nothing big stays in memory) and the sha256 of `source`.

    The conditions come from `fuse_samples` run on a *skeleton* of the source: every array but
    the two big ones, which keep their sample and channel counts with no time points. Checks,
    channel order, static features and provenance are thus exactly those of `fuse_samples`; the
    signals themselves are streamed by `_stream`. A source whose arrays cannot be streamed (a
    compressed `.npz`, say) is fused in memory instead, with the same result.
    """
    try:
        members = _npz_members(source)
        samples = SampleSet.load(source) if members is None else _skeleton(source, members)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise FeatureError(f"{source}: cannot be read as a sample set ({exc})") from None
    if samples.layout != layout:
        raise FeatureError(f"{source}: holds layout {samples.layout!r}, not {layout!r}")
    fused = fuse_samples(samples, subjects, cfg)
    staging.mkdir(parents=True)
    if members is None:
        source_sha = sha256_file(source)
        first = next(iter(fused.values()))
        for name, file in SHARED_FILES.items():
            np.save(staging / file, getattr(first, name))
    else:
        _, index = _channel_index(samples, cfg.sensors, cfg.kinematics)
        source_sha = _stream(source, members, index, staging)
    shared = {
        name: np.load(staging / file, mmap_mode="r", allow_pickle=False)
        for name, file in SHARED_FILES.items()
    }
    return {name: replace(s, **shared) for name, s in fused.items()}, source_sha


@dataclass(frozen=True)
class _NpyMember:
    """Where one array of an uncompressed `.npz` lies in the file (byte offsets)."""

    start: int  # first byte of the member (a complete .npy file)
    end: int  # one past its last byte
    data: int  # first byte of the array data, after the .npy header
    shape: tuple[int, ...]
    dtype: np.dtype[Any]


def _npz_members(path: Path) -> dict[str, _NpyMember] | None:
    """The arrays of the `.npz` at `path` and where they lie; None if they cannot be streamed.

    `np.savez` stores members uncompressed, so each is a plain `.npy` file at a known offset
    that can be read in blocks. Compressed, encrypted, Fortran-ordered, object or inconsistent
    members give None (the caller then loads the file the ordinary way, which also reports
    any real damage).
    """
    members: dict[str, _NpyMember] = {}
    with zipfile.ZipFile(path) as archive, path.open("rb") as fh:
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
                return None
            fh.seek(info.header_offset)
            local = fh.read(30)
            if len(local) != 30 or local[:4] != b"PK\x03\x04":
                return None
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            start = info.header_offset + 30 + name_len + extra_len
            fh.seek(start)
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                return None
            data, end = fh.tell(), start + info.file_size
            if fortran or dtype.hasobject or data + int(np.prod(shape)) * dtype.itemsize != end:
                return None
            members[info.filename.removesuffix(".npy")] = _NpyMember(
                start, end, data, tuple(shape), dtype
            )
    big = [members.get(name) for name in SHAREABLE]
    if any(m is None or len(m.shape) != 3 for m in big):
        return None
    return members


def _skeleton(source: Path, members: Mapping[str, _NpyMember]) -> SampleSet:
    """The set at `source` without its signals: `inputs` and `targets` have no time points.

    Zero-length arrays cost no memory yet carry the sample and channel counts, so the
    `SampleSet` checks and everything `fuse_samples` does apart from copying signals still run.
    """
    inputs, targets = members["inputs"], members["targets"]
    if inputs.shape[2] != targets.shape[2]:
        raise ValueError(f"targets {targets.shape} do not match inputs {inputs.shape}")
    meta = json.loads(source.with_suffix(".json").read_text())
    with np.load(source, allow_pickle=False) as data:
        arrays = {name: data[name] for name in ARRAYS if name not in SHAREABLE}
    return SampleSet(
        layout=meta["layout"],
        rate_hz=float(meta["rate_hz"]),
        channels=tuple(meta["channels"]),
        static_names=tuple(meta["static_names"]),
        provenance=meta.get("provenance", {}),
        inputs=np.empty((*inputs.shape[:2], 0), dtype=inputs.dtype),
        targets=np.empty((*targets.shape[:2], 0), dtype=targets.dtype),
        **arrays,
    )


def _stream(
    source: Path, members: Mapping[str, _NpyMember], index: Sequence[int], staging: Path
) -> str:
    """One pass over `source`: hash it, write its inputs' channels `index` and its targets.

    Reads the file front to back exactly once. Every byte feeds the sha256; the inputs arrive
    in blocks of whole samples (`_BLOCK_BYTES`), each reduced to the selected channels with one
    `take` and appended to `inputs.npy`; the targets member, already a complete `.npy` file, is
    copied byte for byte to `targets.npy`. Returns the sha256 (hex) of `source`.

    Hashing and writing each cost about as much as reading and selecting together, and all
    three release the GIL, so blocks flow through a pipeline: while this thread reads and
    selects block i, one helper thread hashes it (in file order: a single worker) and another
    writes block i - 1. Two slots of buffers alternate; a slot is refilled only once its hash
    and its write are done, so memory is four block buffers, whatever the size of the file.
    """
    inputs = members["inputs"]
    n, channels, t = inputs.shape
    rows = max(1, min(n, _BLOCK_BYTES // max(1, channels * t * inputs.dtype.itemsize)))
    slots = [
        (
            np.empty((rows, channels, t), dtype=inputs.dtype),
            np.empty((rows, len(index), t), dtype=inputs.dtype),
        )
        for _ in range(2)
    ]
    hashed: list[Future[Any] | None] = [None, None]
    written: list[Future[Any] | None] = [None, None]
    header = {
        "descr": np.lib.format.dtype_to_descr(inputs.dtype),
        "fortran_order": False,
        "shape": (n, len(index), t),
    }
    with (
        source.open("rb") as fh,
        (staging / SHARED_FILES["inputs"]).open("wb") as inputs_out,
        (staging / SHARED_FILES["targets"]).open("wb") as targets_out,
        ThreadPoolExecutor(1, "fuse-hash") as hasher,
        ThreadPoolExecutor(1, "fuse-write") as writer,
    ):
        reader = _HashingReader(fh, hasher)
        np.lib.format.write_array_header_1_0(inputs_out, header)
        for name in sorted(SHAREABLE, key=lambda name: members[name].start):
            member = members[name]
            if name == "targets":
                reader.copy(member.start, None)
                reader.copy(member.end, targets_out)
                continue
            reader.copy(member.data, None)
            for j, first in enumerate(range(0, n, rows)):
                k, slot = min(rows, n - first), j % 2
                block, picked = slots[slot]
                _finish(hashed[slot])
                hashed[slot] = reader.read_into(block[:k])
                _finish(written[slot])
                np.take(block[:k], index, axis=1, out=picked[:k])
                written[slot] = writer.submit(inputs_out.write, picked[:k].data)
            for future in hashed + written:
                _finish(future)
        reader.copy(None, None)
        return reader.hexdigest()


def _finish(future: Future[Any] | None) -> None:
    """Wait for a helper thread's job; its exception, if any, is raised here."""
    if future is not None:
        future.result()


class _HashingReader:
    """Reads a file front to back once, feeding every byte, in order, to a sha256.

    Blocks read with `read_into` are hashed on `hasher` (one worker, so jobs run in submission
    order); `copy` first waits for those, then hashes its own bytes here.
    """

    _CHUNK = 8 << 20

    def __init__(self, fh: io.BufferedReader, hasher: ThreadPoolExecutor) -> None:
        self._fh = fh
        self._hasher = hasher
        self._last: Future[Any] | None = None
        self._digest = hashlib.sha256()
        self._chunk = bytearray(self._CHUNK)
        self.position = 0

    def read_into(self, array: np.ndarray) -> Future[Any]:
        """Fill the C-contiguous `array` with the next bytes; a short file raises.

        Returns the hash job: `array` must not change until it is done.
        """
        view = array.data.cast("B")
        filled = 0
        while filled < len(view):
            got = self._fh.readinto(view[filled:])
            if not got:
                raise FeatureError(f"{self._fh.name}: ends early (truncated file)")
            filled += got
        self.position += filled
        self._last = self._hasher.submit(self._digest.update, view)
        return self._last

    def copy(self, end: int | None, sink: BinaryIO | None) -> None:
        """Advance to byte `end` (None: the end of the file), writing what passes to `sink`."""
        _finish(self._last)  # earlier blocks are hashed before these bytes
        view = memoryview(self._chunk)
        while end is None or self.position < end:
            want = len(view) if end is None else min(len(view), end - self.position)
            got = self._fh.readinto(view[:want])
            if not got:
                if end is None:
                    return
                raise FeatureError(f"{self._fh.name}: ends early (truncated file)")
            self._digest.update(view[:got])
            if sink is not None:
                sink.write(view[:got])
            self.position += got

    def hexdigest(self) -> str:
        _finish(self._last)
        return self._digest.hexdigest()


# --- helpers -----------------------------------------------------------------------------------
def _text(value: Any) -> str | None:
    """A table cell as stripped text, None when empty or missing (NaN, None, pd.NA)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
