"""Read a CSV or Parquet export with a column-mapping file into a `Recording`.

Lab software exports tables with its own column names and units, so a small YAML file says
what each column is. Nothing is guessed: every unit must be stated, and so must whether the
force columns are the force on the body or on the plate. Example (`docs/importing.md`):

```yaml
time: {column: Time, unit: s}
units: {length: mm, force: N, angle: deg}
force_on: plate            # the table holds the force the foot exerts on the plate
up: +z                     # optional: the lab's vertical axis (else from the plates)
markers:                   # name -> x, y, z columns
  LASI: [LASI_X, LASI_Y, LASI_Z]
plates:
  - force: [Fx1, Fy1, Fz1]
    cop: [Cx1, Cy1, Cz1]
    foot: right            # optional, checked against the markers like OpenSim's XML
angles:                    # contract channel -> column
  angle_knee_l_flex: LKneeFlex
```

The mapping is `<name>.mapping.yaml` beside `<name>.csv` (or `.parquet`), else `mapping.yaml`
in the same folder or any parent folder up to the import's source folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gaitgrf.core import contract as c
from gaitgrf.ingest.formats.recording import ForcePlate, Recording, reject

_LENGTH_TO_M = {"m": 1.0, "cm": 1e-2, "mm": 1e-3}
_FORCE_TO_N = {"N": 1.0, "kN": 1e3}
_ANGLE_TO_DEG = {"deg": 1.0, "rad": 180.0 / np.pi}
_TIME_TO_S = {"s": 1.0, "ms": 1e-3}
_AXES = {"+x": 0, "-x": 0, "x": 0, "+y": 1, "-y": 1, "y": 1, "+z": 2, "-z": 2, "z": 2}
SUFFIXES = (".csv", ".parquet")
MAPPING_NAME = "mapping.yaml"


def find_mapping(table: Path, stop: Path | None = None) -> Path | None:
    """`<name>.mapping.yaml`, else the nearest `mapping.yaml` up to `stop` (inclusive)."""
    own = table.with_name(f"{table.stem}.mapping.yaml")
    if own.is_file():
        return own
    folder = table.parent
    while True:
        candidate = folder / MAPPING_NAME
        if candidate.is_file():
            return candidate
        if stop is None or folder == stop or folder.parent == folder:
            return None
        if stop not in folder.parents:
            return None
        folder = folder.parent


def _load_mapping(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise reject(str(path), "file_unreadable", f"not a readable YAML file ({exc})") from None
    if not isinstance(data, dict):
        raise reject(str(path), "file_unreadable", "the mapping must be a YAML mapping")
    return data


def _unit(mapping: dict[str, Any], file: str, key: str, known: dict[str, float]) -> float:
    unit = (mapping.get("units") or {}).get(key)
    if unit not in known:
        raise reject(
            file,
            "unknown_unit",
            f"{key} unit {unit!r} not stated or not one of {sorted(known)}; the mapping must "
            "say it (units: {length: mm, force: N, angle: deg})",
            channel=f"units.{key}",
        )
    return known[unit]


def _read_table(path: Path) -> Any:
    import pandas as pd

    if not path.is_file():
        raise reject(str(path), "file_unreadable", "no such file")
    if path.stat().st_size == 0:
        raise reject(str(path), "file_empty", "the file is empty (0 bytes)")
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise reject(str(path), "file_unreadable", f"not a readable table ({exc})") from None


@dataclass(frozen=True)
class _Columns:
    """The table's columns as the mapping names them; a missing or non-numeric one is refused."""

    frame: Any
    file: str
    mapping_path: Path

    def column(self, name: Any, what: str) -> np.ndarray:
        if not isinstance(name, str) or name not in self.frame.columns:
            raise reject(
                self.file,
                "file_unreadable",
                f"column {name!r} ({what}) named in {self.mapping_path.name} is not in the table",
                channel=str(name),
            )
        try:
            return np.asarray(self.frame[name], dtype=float)
        except (TypeError, ValueError):
            raise reject(self.file, "file_unreadable", "non-numeric values", channel=name) from None

    def xyz(self, names: Any, what: str) -> np.ndarray:
        if not isinstance(names, list) or len(names) != 3:
            raise reject(
                str(self.mapping_path),
                "file_unreadable",
                f"{what}: three columns (x, y, z) expected",
            )
        return np.stack([self.column(n, what) for n in names], axis=1)


def read_table(path: Path, mapping_path: Path) -> Recording:
    """Markers, plates and angles of a CSV/Parquet export as described by its mapping."""
    path, mapping_path = Path(path), Path(mapping_path)
    file = str(path)
    mapping = _load_mapping(mapping_path)
    cols = _Columns(_read_table(path), file, mapping_path)
    time, rate = _time(mapping, cols)
    length = _unit(mapping, file, "length", _LENGTH_TO_M)
    markers = {
        str(name): cols.xyz(names, f"marker {name}") * length
        for name, names in (mapping.get("markers") or {}).items()
    }
    plates = _plates(mapping, cols, time, rate, length)
    angles = _angles(mapping, cols)
    return Recording(
        source=file,
        marker_rate_hz=rate,
        marker_time=time,
        markers=markers,
        plates=tuple(plates),
        angles=angles,
        angle_source="table export" if angles else None,
        lab_up=_up(mapping, mapping_path),
        info={"format": path.suffix.lower().lstrip("."), "mapping": str(mapping_path)},
    )


def _time(mapping: dict[str, Any], cols: _Columns) -> tuple[np.ndarray, float]:
    """The time column in seconds (strictly increasing) and the median sampling rate."""
    file = cols.file
    time_spec = mapping.get("time") or {}
    time_unit = time_spec.get("unit")
    if time_unit not in _TIME_TO_S:
        raise reject(
            file, "unknown_unit", f"time unit {time_unit!r} is not s or ms", channel="time.unit"
        )
    time = cols.column(time_spec.get("column"), "time") * _TIME_TO_S[time_unit]
    if time.size < 2 or not np.all(np.diff(time) > 0):
        raise reject(file, "file_unreadable", "time must strictly increase", channel="time")
    rate = round(1.0 / float(np.median(np.diff(time))), 6)
    return time, rate


def _plates(
    mapping: dict[str, Any], cols: _Columns, time: np.ndarray, rate: float, length: float
) -> list[ForcePlate]:
    """The mapped plates; their force convention (`force_on`) must be stated, never guessed."""
    file, mapping_path = cols.file, cols.mapping_path
    plates = []
    specs = mapping.get("plates") or []
    if specs:
        force_unit = _unit(mapping, file, "force", _FORCE_TO_N)
        convention = mapping.get("force_on")
        if convention not in ("body", "plate"):
            raise reject(
                str(mapping_path),
                "unknown_unit",
                f"force_on {convention!r}: say whether the force columns are the force on the "
                "body (the ground's reaction) or on the plate",
                channel="force_on",
            )
        sign = 1.0 if convention == "body" else -1.0
        for i, spec in enumerate(specs):
            foot = spec.get("foot")
            declared = {"left": "l", "right": "r", "l": "l", "r": "r"}.get(str(foot).lower())
            plates.append(
                ForcePlate(
                    name=f"FP{i + 1}",
                    rate_hz=rate,
                    time=time,
                    force=sign * cols.xyz(spec.get("force"), f"plate {i + 1} force") * force_unit,
                    cop=cols.xyz(spec.get("cop"), f"plate {i + 1} cop") * length,
                    declared_side=declared if foot is not None else None,
                )
            )
    return plates


def _angles(mapping: dict[str, Any], cols: _Columns) -> dict[tuple[str, str, str], np.ndarray]:
    """Mapped joint angles (deg), keyed like the contract's angle channels."""
    angles: dict[tuple[str, str, str], np.ndarray] = {}
    angle_map = mapping.get("angles") or {}
    if angle_map:
        factor = _unit(mapping, cols.file, "angle", _ANGLE_TO_DEG)
        for channel, col in angle_map.items():
            parts = str(channel).split("_")
            if c.family_of(str(channel)) is None or parts[0] != "angle" or len(parts) != 4:
                raise reject(
                    str(cols.mapping_path),
                    "file_unreadable",
                    f"{channel!r} is not a contract joint-angle channel (angle_<joint>_<side>_"
                    "<plane>)",
                    channel=str(channel),
                )
            angles[(parts[1], parts[2], parts[3])] = cols.column(col, str(channel)) * factor
    return angles


def _up(mapping: dict[str, Any], mapping_path: Path) -> np.ndarray | None:
    """The lab's vertical axis when the mapping states it (`up: +z`), else None."""
    up = None
    if "up" in mapping:
        axis = str(mapping["up"]).strip().lower()
        if axis not in _AXES:
            raise reject(
                str(mapping_path), "vertical_axis", f"up {axis!r} is not +-x/y/z", channel="up"
            )
        up = np.zeros(3)
        up[_AXES[axis]] = -1.0 if axis.startswith("-") else 1.0
    return up
