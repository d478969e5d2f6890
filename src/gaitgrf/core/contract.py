"""The data contract: what a cohort on disk must look like.

Every reader (synthetic generator, C3D/OpenSim importers) writes this shape and every stage reads
it, so the names, units and frames below are the single source of truth. `docs/data-contract.md`
explains the choices; this module is what the code enforces.

Frames. Forces, centre of pressure and the world frame use the *walking-heading frame*:
x anterior (walking direction), y to the subject's left, z up. Accelerometer channels are in the
*sensor frame*, which for a sensor mounted as specified in `gaitgrf.core.sensors` coincides with the
heading frame when the subject stands upright.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

CONTRACT_VERSION: Final = "1.0"

#: Cohort and id naming; ids end up in file names, MLflow tags and DVC paths.
COHORT_ID_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
SUBJECT_ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
TRIAL_ID_PATTERN: Final = SUBJECT_ID_PATTERN

SUBJECTS_FILE: Final = "subjects.csv"
MANIFEST_FILE: Final = "manifest.json"
TRIALS_DIR: Final = "trials"
TRIAL_SUFFIX: Final = ".parquet"
#: Key of the JSON document stored in each trial's Parquet schema metadata.
TRIAL_METADATA_KEY: Final = b"gaitgrf"

SIDES: Final = ("l", "r")
SIDE_NAMES: Final = {"l": "left", "r": "right"}
AXES: Final = ("x", "y", "z")

# --- streams ---------------------------------------------------------------------------------
#: A trial holds one table whose rows are tagged with the stream they belong to, so each stream
#: keeps its own time base and sampling rate (accelerometers ~148-200 Hz, motion capture ~100 Hz,
#: force plates ~1000 Hz) and a missing sample is never confused with "not sampled here".
STREAM_COLUMN: Final = "stream"
TIME_COLUMN: Final = "time"
STREAM_ACC: Final = "acc"
STREAM_KIN: Final = "kin"
STREAM_GRF: Final = "grf"
STREAMS: Final = (STREAM_ACC, STREAM_KIN, STREAM_GRF)

# --- channels --------------------------------------------------------------------------------
#: Accelerometer locations. The first five are required; feet and trunk are optional extras.
REQUIRED_ACC_LOCATIONS: Final = ("pelvis", "thigh_l", "thigh_r", "shank_l", "shank_r")
OPTIONAL_ACC_LOCATIONS: Final = ("foot_l", "foot_r", "trunk")
JOINTS: Final = ("hip", "knee", "ankle")
#: Planes of a joint angle: flexion (sagittal; ankle: dorsiflexion), adduction (frontal; knee:
#: varus), internal rotation (transverse). Positive values are flexion, adduction, internal.
PLANES: Final = ("flex", "add", "rot")


def acc_channel(location: str, axis: str) -> str:
    return f"acc_{location}_{axis}"


def angle_channel(joint: str, side: str, plane: str) -> str:
    return f"angle_{joint}_{side}_{plane}"


def grf_channel(side: str, axis: str) -> str:
    return f"grf_{side}_{axis}"


def cop_channel(side: str, axis: str) -> str:
    return f"cop_{side}_{axis}"


REQUIRED_ACC_CHANNELS: Final = tuple(
    acc_channel(loc, ax) for loc in REQUIRED_ACC_LOCATIONS for ax in AXES
)
OPTIONAL_ACC_CHANNELS: Final = tuple(
    acc_channel(loc, ax) for loc in OPTIONAL_ACC_LOCATIONS for ax in AXES
)
REQUIRED_ANGLE_CHANNELS: Final = tuple(
    angle_channel(j, s, p) for j in JOINTS for s in SIDES for p in PLANES
)
REQUIRED_GRF_CHANNELS: Final = tuple(grf_channel(s, ax) for s in SIDES for ax in AXES)
#: Centre of pressure is optional (not every lab exports it) and undefined while a foot is off
#: the plate, so NaN is legal there.
OPTIONAL_COP_CHANNELS: Final = tuple(cop_channel(s, ax) for s in SIDES for ax in ("x", "y"))


@dataclass(frozen=True)
class ChannelFamily:
    """Channels that share a stream, a canonical unit and the rules applied to them."""

    name: str
    stream: str
    unit: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    #: NaN allowed anywhere (no plate under the foot, COP undefined in swing).
    nan_allowed: bool


CHANNEL_FAMILIES: Final = (
    ChannelFamily(
        "accelerometer", STREAM_ACC, "m/s^2", REQUIRED_ACC_CHANNELS, OPTIONAL_ACC_CHANNELS, False
    ),
    ChannelFamily("joint_angle", STREAM_KIN, "deg", REQUIRED_ANGLE_CHANNELS, (), False),
    ChannelFamily("grf", STREAM_GRF, "N", REQUIRED_GRF_CHANNELS, (), True),
    ChannelFamily("cop", STREAM_GRF, "m", (), OPTIONAL_COP_CHANNELS, True),
)


def family_of(channel: str) -> ChannelFamily | None:
    """The family a channel name belongs to, or None for a name the contract does not know."""
    for family in CHANNEL_FAMILIES:
        if channel in family.required or channel in family.optional:
            return family
    return None


#: Units a writer may declare, with the factor that converts to the family's canonical unit.
#: Anything else is rejected: guessing a unit silently is how GRF ends up 1000x off.
UNIT_FACTORS: Final[dict[str, dict[str, float]]] = {
    "m/s^2": {"m/s^2": 1.0, "m/s2": 1.0, "g": 9.80665},
    "deg": {"deg": 1.0, "rad": 180.0 / 3.141592653589793},
    "N": {"N": 1.0, "kN": 1000.0},
    "m": {"m": 1.0, "mm": 1e-3, "cm": 1e-2},
}

# --- subjects.csv ----------------------------------------------------------------------------
SUBJECT_COLUMNS: Final = (
    "subject_id",
    "cohort_id",
    "sex",
    "age_years",
    "mass_kg",
    "height_m",
    "knee_alignment_left_deg",
    "knee_alignment_right_deg",
    "affected_side",
    "group",
)
SEXES: Final = ("female", "male")
AFFECTED_SIDES: Final = ("left", "right", "none")
#: Plausible ranges; a value outside is a unit or typing error, not a rare subject.
SUBJECT_RANGES: Final[dict[str, tuple[float, float]]] = {
    "age_years": (1.0, 110.0),
    "mass_kg": (15.0, 250.0),
    "height_m": (0.8, 2.3),
    "knee_alignment_left_deg": (-30.0, 30.0),
    "knee_alignment_right_deg": (-30.0, 30.0),
}
#: Columns that must be present on every row; the others may be empty (unknown, never invented).
SUBJECT_REQUIRED_VALUES: Final = ("subject_id", "cohort_id", "mass_kg", "affected_side", "group")

# --- trial metadata --------------------------------------------------------------------------
TRIAL_KINDS: Final = ("walking", "static")
TRIAL_METADATA_REQUIRED: Final = (
    "contract_version",
    "trial_id",
    "subject_id",
    "cohort_id",
    "kind",
    "channels",
)
#: Per-channel metadata keys: each channel records its unit and its sampling rate.
CHANNEL_METADATA_REQUIRED: Final = ("unit", "rate_hz")
