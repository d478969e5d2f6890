"""Model-ready samples: the tensors that flow from `resample` to `fuse` to training.

One `SampleSet` per layout (and, after fusion, per feature condition). Every sample is one foot:
its *ipsilateral* side is the foot whose force is the target. Channels are named relative to that
foot (`acc_shank_ipsi_x`, `angle_knee_contra_flex`) and lateral quantities are mirrored for right
feet (the y axis of accelerometers and of the GRF points laterally from the ipsilateral foot), so
left and right steps form one dataset.

Targets are `(vertical, anterior, lateral)` ground reaction force of the ipsilateral foot in body
weights: `TARGETS`. Files are uncompressed `.npz` (loads in tens of milliseconds) with a JSON
sidecar that says what the arrays mean and where they came from. Sets with the same samples and
signals (the feature conditions of one layout) may keep `inputs` and `targets` once, in `.npy`
files beside them that their sidecars name (`SHARED_KEY`); `SampleSet.load` reads those
transparently, so a caller never sees the difference. `SampleSet.load(path, mmap=True)` maps
them instead of reading them (read-only), for a set bigger than what should sit in memory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from gaitgrf.core import contract as c
from gaitgrf.core.npz import NpyMember, npz_members

TARGETS = ("vertical", "anterior", "lateral")
LAYOUTS = ("stance", "window")

# --- what a model input may be made of (the fuse section of params.yaml names these) -----------
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
#: The condition that must carry no subject-specific feature.
BASE_CONDITION: Final = "base"
#: Every array of a sample set file, in the order `save` writes them.
ARRAYS: Final = (
    "inputs",
    "targets",
    "static",
    "subject_id",
    "cohort_id",
    "trial_id",
    "side",
    "start_s",
    "duration_s",
)
#: Arrays big enough to be worth sharing between sets with the same samples.
SHAREABLE: Final = ("inputs", "targets")
#: Sidecar key: array name -> `.npy` file (in the folder of the `.npz`) that holds it.
SHARED_KEY: Final = "shared_arrays"


@dataclass(frozen=True)
class SampleSet:
    layout: str
    #: Samples per second along T (windows) or points per stance (stance layout: T = 101).
    rate_hz: float
    channels: tuple[str, ...]
    inputs: np.ndarray  # (N, C, T) float32
    targets: np.ndarray  # (N, 3, T) float32, body weights
    static_names: tuple[str, ...]
    static: np.ndarray  # (N, S) float32, NaN where unknown
    subject_id: np.ndarray  # (N,) str
    cohort_id: np.ndarray  # (N,) str
    trial_id: np.ndarray  # (N,) str
    side: np.ndarray  # (N,) "l" / "r": the ipsilateral foot
    start_s: np.ndarray  # (N,) float64, start within the trial
    duration_s: np.ndarray  # (N,) float64, real duration the T points span
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.inputs.shape[0]
        if self.inputs.ndim != 3 or self.inputs.shape[1] != len(self.channels):
            raise ValueError(
                f"inputs {self.inputs.shape} do not match {len(self.channels)} channels"
            )
        if self.targets.shape != (n, len(TARGETS), self.inputs.shape[2]):
            raise ValueError(
                f"targets {self.targets.shape} do not match inputs {self.inputs.shape}"
            )
        if self.static.shape != (n, len(self.static_names)):
            raise ValueError(
                f"static {self.static.shape} does not match {len(self.static_names)} names"
            )
        for name in ("subject_id", "cohort_id", "trial_id", "side", "start_s", "duration_s"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have one entry per sample ({n})")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout {self.layout!r} is not one of {LAYOUTS}")

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def groups(self) -> np.ndarray:
        """Subject key per sample (`cohort/subject`): the unit of every split, never a trial."""
        return np.char.add(
            np.char.add(self.cohort_id.astype(str), "/"), self.subject_id.astype(str)
        )

    def take(self, index: np.ndarray) -> SampleSet:
        arrays = {name: getattr(self, name)[index] for name in ARRAYS}
        return SampleSet(
            layout=self.layout,
            rate_hz=self.rate_hz,
            channels=self.channels,
            static_names=self.static_names,
            provenance=self.provenance,
            **arrays,
        )

    def describe(self) -> dict[str, Any]:
        return describe_arrays(
            self.layout,
            self.rate_hz,
            samples=len(self),
            subjects=int(np.unique(self.groups).size),
            shapes={name: getattr(self, name).shape for name in ("inputs", "targets", "static")},
            channels=self.channels,
            static_names=self.static_names,
            provenance=self.provenance,
        )

    def save(self, path: Path, *, shared: Mapping[str, str] | None = None) -> Path:
        """Write `path` (.npz) and its `.json` sidecar.

        `shared` maps arrays of `SHAREABLE` to `.npy` files in `path`'s folder that already hold
        them (the caller wrote them, e.g. once for all conditions of a layout): they are left out
        of the `.npz` and the sidecar names the file instead, so N sets with the same signals do
        not store (and write) them N times. Each file's header is checked against the array
        (shape, dtype) so a sidecar never points at data of another shape.
        """
        shared = dict(shared or {})
        for name, file in shared.items():
            _check_shared_name(name, file)
            on_disk = np.load(path.parent / file, mmap_mode="r", allow_pickle=False)
            mine = getattr(self, name)
            if on_disk.shape != mine.shape or on_disk.dtype != mine.dtype:
                raise ValueError(
                    f"{path.parent / file} holds {on_disk.dtype}{on_disk.shape}, not the "
                    f"{name} {mine.dtype}{mine.shape} of this set"
                )
            del on_disk  # close the map before anything renames the folder
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {
            name: getattr(self, name) for name in ARRAYS if name not in shared
        }
        for name in ("subject_id", "cohort_id", "trial_id", "side"):
            arrays[name] = np.asarray(arrays[name]).astype(str)
        with path.open("wb") as fh:
            np.savez(fh, **arrays)
        meta = self.describe()
        if shared:
            meta[SHARED_KEY] = shared
        write_sidecar(path, meta)
        return path

    @classmethod
    def load(cls, path: Path, *, mmap: bool = False) -> SampleSet:
        """Read the set at `path` (and the shared `.npy` files its sidecar names).

        With `mmap`, arrays are read-only memory maps of the files instead of copies in memory:
        the shared `.npy` files always, the `.npz` members when stored uncompressed (as `save`
        writes them; a compressed file is read as usual). Nothing is read until used, pages
        are the OS's file cache (shared between processes, dropped under pressure), and
        `take` or fancy indexing copies only the samples asked for: what a training fold
        needs of a cohort that does not fit in memory.
        """
        meta = json.loads(path.with_suffix(".json").read_text())
        shared: dict[str, str] = meta.get(SHARED_KEY, {})
        own = [name for name in ARRAYS if name not in shared]
        members = npz_members(path) if mmap else None
        if members is not None:
            arrays = {name: _member_map(path, members[name]) for name in own}
        else:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in own}
        for name, file in shared.items():
            _check_shared_name(name, file)
            arrays[name] = np.load(
                path.parent / file, mmap_mode="r" if mmap else None, allow_pickle=False
            )
        return cls(
            layout=meta["layout"],
            rate_hz=float(meta["rate_hz"]),
            channels=tuple(meta["channels"]),
            static_names=tuple(meta["static_names"]),
            provenance=meta.get("provenance", {}),
            **arrays,
        )


def describe_arrays(
    layout: str,
    rate_hz: float,
    *,
    samples: int,
    subjects: int,
    shapes: Mapping[str, tuple[int, ...]],
    channels: tuple[str, ...],
    static_names: tuple[str, ...],
    provenance: Mapping[str, Any],
) -> dict[str, Any]:
    """The sidecar of a set from its sizes alone (`shapes`: of inputs, targets and static), so a
    writer that never holds the arrays (`gaitgrf.pipeline.resample.sink`) says the same."""
    return {
        "layout": layout,
        "rate_hz": rate_hz,
        "samples": samples,
        "subjects": subjects,
        "shape_inputs": list(shapes["inputs"]),
        "shape_targets": list(shapes["targets"]),
        "shape_static": list(shapes["static"]),
        "channels": list(channels),
        "targets": list(TARGETS),
        "target_unit": "body weight",
        "static_names": list(static_names),
        "provenance": provenance,
    }


def write_sidecar(path: Path, meta: Mapping[str, Any]) -> Path:
    """Write the `.json` sidecar of the set file `path`; returns the sidecar's path."""
    sidecar = path.with_suffix(".json")
    sidecar.write_text(json.dumps(meta, indent=2) + "\n")
    return sidecar


def _member_map(path: Path, member: NpyMember) -> np.ndarray:
    """A read-only map of one stored `.npz` member (an empty array needs no map)."""
    if 0 in member.shape:
        return np.empty(member.shape, dtype=member.dtype)
    return np.memmap(path, dtype=member.dtype, mode="r", offset=member.data, shape=member.shape)


def _check_shared_name(name: str, file: str) -> None:
    """Only `SHAREABLE` arrays, as plain `.npy` names: a sidecar never reaches out of its folder."""
    if name not in SHAREABLE:
        raise ValueError(f"{name!r} cannot be shared (only {', '.join(SHAREABLE)})")
    if Path(file).name != file or not file.endswith(".npy") or file.startswith("."):
        raise ValueError(f"shared file {file!r} must be a .npy file name in the same folder")
