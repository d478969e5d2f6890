"""Model inputs per feature condition: channel selection, static features, conditions.

From each resampled `SampleSet` (every channel `resample` could build, no static features)
`fuse_samples` makes one `SampleSet` per *condition* of `FuseConfig.conditions`: the same
samples and the same selected input channels, plus the subject-specific static features of that
condition. The `base` condition has none; it is the "without subject-specific features" arm of
the study (docs/features.md). The stage that writes them is `gaitgrf.pipeline.fuse.run`.

Nothing is normalised here: statistics are fitted later, inside each training split
(`gaitgrf.training.normalisation.Normaliser`), so no test subject ever leaks into them.

Channel order (deterministic, independent of how the config lists names; duplicates collapse):

1. accelerometers by location in `SENSOR_LOCATIONS` order (pelvis, trunk, thigh, shank, foot);
   a leg location gives ipsi before contra; axes x, y, z;
2. joint angles by joint (hip, knee, ankle), then side (ipsi, contra), then plane
   (flex, add, rot), keeping only the joint_plane pairs the config lists.

Static feature order follows `STATIC_GROUPS` (knee_alignment, affected_side, stance_side,
anthropometrics), whatever order a condition lists its groups in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from gaitgrf.core import contract as c
from gaitgrf.core.config import FuseConfig
from gaitgrf.core.errors import GaitGrfError
from gaitgrf.core.samples import (
    BASE_CONDITION,
    KINEMATIC_NAMES,
    SENSOR_LOCATIONS,
    STATIC_GROUPS,
    SampleSet,
)
from gaitgrf.physics import stream as physics_channels

# --- names -------------------------------------------------------------------------------------
LEG_SIDES: Final = ("ipsi", "contra")
#: Static features that may be unknown (NaN); the Normaliser adds a "missing" indicator for each.
MAY_BE_MISSING: Final = frozenset(
    STATIC_GROUPS["knee_alignment"] + STATIC_GROUPS["anthropometrics"]
)


class FeatureError(GaitGrfError):
    """Fusing cannot proceed: bad configuration, missing channels or subjects."""

    hint = "check the fuse section of params.yaml and docs/features.md"


# --- channel selection -------------------------------------------------------------------------
def selected_channel_names(
    sensors: Sequence[str], kinematics: Sequence[str], physics: bool = False
) -> tuple[str, ...]:
    """The input channels that `sensors` and `kinematics` name, in the documented order, then
    the Newton estimate's (`physics_ipsi_*`, `physics_total_*`) when `physics` is on."""
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
    return tuple(names) + (physics_channels.sample_channel_names() if physics else ())


def select_channels(
    samples: SampleSet, sensors: Sequence[str], kinematics: Sequence[str], physics: bool = False
) -> SampleSet:
    """Keep the accelerometers at `sensors` and the joint angles `kinematics` (joint_plane).

    Raises `FeatureError` (a `GaitGrfError`) for unknown names or channels the data lacks,
    naming the missing channels and the available ones.
    """
    wanted, index = channel_index(samples, sensors, kinematics, physics)
    if index == list(range(len(samples.channels))):
        return replace(samples, channels=wanted)  # already exactly the selection: no copy
    # One `take` copies straight into a C-ordered result; `inputs[:, index]` would copy into a
    # strided array that then needs a second copy to become contiguous.
    return replace(samples, channels=wanted, inputs=np.take(samples.inputs, index, axis=1))


def channel_index(
    samples: SampleSet, sensors: Sequence[str], kinematics: Sequence[str], physics: bool = False
) -> tuple[tuple[str, ...], list[int]]:
    """Selected channel names and their positions in `samples`; raises naming missing ones."""
    wanted = selected_channel_names(sensors, kinematics, physics)
    position = {name: i for i, name in enumerate(samples.channels)}
    missing = [name for name in wanted if name not in position]
    if missing and all(name.startswith("physics_") for name in missing):
        raise FeatureError(
            f"{samples.layout}: fuse.physics is on but the samples carry no physics channels: "
            f"the Newton estimate needs {', '.join(physics_channels.REQUIRED_CHANNELS)} in "
            "every trial (docs/features.md, 'Physics')"
        )
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
    selected = select_channels(samples, cfg.sensors, cfg.kinematics, cfg.physics)
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
            "physics": cfg.physics,
            "normalised": False,
            "upstream": dict(samples.provenance),
        }
        out[name] = replace(
            selected, static_names=static_names, static=static, provenance=provenance
        )
    return out


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
