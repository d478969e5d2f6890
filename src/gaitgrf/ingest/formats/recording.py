"""A lab recording as the readers deliver it, before it becomes a contract trial.

Every reader (C3D, OpenSim) returns the same `Recording`: markers in metres and force platforms
in newtons and metres, all in the *lab* frame, each device on its own clock. What is specific to
a file format stays in its reader; what turns a recording into a trial (heading frame, foot
assignment, virtual accelerometers, kinematics) lives in `gaitgrf.ingest.convert`, so it is written
once for every format.

Errors name the file, the channel (marker, platform, parameter) and the broken rule, like the
cohort loader's, so one message tells the user what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gaitgrf.core.errors import ContractError, Violation

#: Rules of the importers, in the order docs/importing.md lists them.
IMPORT_RULES = (
    "file_empty",
    "file_unreadable",
    "c3d_format",
    "mapping_missing",
    "unknown_unit",
    "no_force_platform",
    "vertical_axis",
    "marker_missing",
    "marker_gap",
    "no_foot_contact",
    "plate_overload",
    "mass_unknown",
    "subject_value",
    "subjects_schema",
)


class RecordingError(ContractError):
    """A recording that cannot become a contract trial; every problem found, located."""

    hint = "see docs/importing.md (section 'Errors') for what each rule means and how to fix it"

    def __init__(self, violations: list[Violation], *, context: str = "import") -> None:
        super().__init__(violations, context=context)


def reject(file: str, rule: str, detail: str, channel: str | None = None) -> RecordingError:
    """One-violation error, the common case for a reader that cannot go on."""
    return RecordingError([Violation(file, rule, detail, channel=channel)])


@dataclass(frozen=True)
class ForcePlate:
    """One force platform: force on the body (N) and centre of pressure (m), lab frame."""

    name: str
    rate_hz: float
    #: Seconds on the recording's clock (n,).
    time: np.ndarray
    #: (n, 3) N, the ground's reaction on the subject.
    force: np.ndarray
    #: (n, 3) m; meaningless while the plate is unloaded.
    cop: np.ndarray
    #: The foot the file says stands on this plate ('l' or 'r'), if the file says so.
    declared_side: str | None = None


@dataclass(frozen=True)
class Recording:
    """Markers, joint angles and force plates of one recorded trial (lab frame, SI units)."""

    source: str
    marker_rate_hz: float
    #: Seconds (n,), the same clock as the plates'.
    marker_time: np.ndarray
    #: Marker name -> (n, 3) m, NaN where the marker was not seen.
    markers: Mapping[str, np.ndarray]
    plates: tuple[ForcePlate, ...]
    #: (joint, side, plane) -> (n,) degrees on `marker_time`, the recording's own angles.
    angles: Mapping[tuple[str, str, str], np.ndarray] = field(default_factory=dict)
    #: Where the angles come from ("c3d_plug_in_gait", "opensim_ik").
    angle_source: str | None = None
    mass_kg: float | None = None
    height_m: float | None = None
    #: Unit vector of "up" in the lab frame when the format fixes it (OpenSim: +Y).
    lab_up: np.ndarray | None = None
    #: Extra facts worth keeping in the trial metadata (lab parameters, event times...).
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return float(self.marker_time[-1] - self.marker_time[0]) if self.marker_time.size else 0.0
