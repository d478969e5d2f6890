"""Read an OpenSim trial (.trc markers, _grf.mot forces, _external_forces.xml, _ik.mot angles).

A trial is named by its marker file, `<name>.trc`; beside it the reader looks for
`<name>_grf.mot` (ground reaction forces, one `ground_force_<i>_v/p/m` triple per plate),
`<name>_external_forces.xml` (which body each plate's force is applied to) and `<name>_ik.mot`
(inverse-kinematics coordinates). OpenSim's lab frame has Y up. Force files carry no unit
line: OpenSim requires SI (N, m), which the reader checks for plausibility instead of trusting
blindly (a centre of pressure beyond 20 m is a file in mm).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from gaitgrf.ingest.formats.recording import ForcePlate, Recording, reject

_LENGTH_TO_M = {"m": 1.0, "mm": 1e-3, "cm": 1e-2}
#: IK coordinates the contract can take as they are (same sense on both sides in OpenSim
#: models: flexion, adduction, internal rotation, knee flexion, ankle dorsiflexion positive).
IK_COORDINATES = {
    ("hip", "flex"): "hip_flexion_{s}",
    ("hip", "add"): "hip_adduction_{s}",
    ("hip", "rot"): "hip_rotation_{s}",
    ("knee", "flex"): "knee_angle_{s}",
    ("ankle", "flex"): "ankle_angle_{s}",
}
_PLATE_COLUMN = re.compile(r"^(?P<id>.*?)_?v(?P<axis>[xyz])$")


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise reject(str(path), "file_unreadable", "no such file")
    if path.stat().st_size == 0:
        raise reject(str(path), "file_empty", "the file is empty (0 bytes)")
    try:
        return path.read_text(errors="strict").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise reject(str(path), "file_unreadable", f"not a text file ({exc})") from None


def _table(path: Path, lines: list[str], start: int, n_cols: int) -> np.ndarray:
    """Numeric rows from line `start` on; empty cells (unseen markers) become NaN."""
    rows = []
    for number, line in enumerate(lines[start:], start=start + 1):
        if not line.strip():
            continue
        cells = line.rstrip("\n").split("\t")
        if len(cells) < n_cols:
            cells += [""] * (n_cols - len(cells))
        try:
            rows.append([float(x) if x.strip() else np.nan for x in cells[:n_cols]])
        except ValueError:
            raise reject(
                str(path), "file_unreadable", f"line {number}: a non-numeric value"
            ) from None
    if len(rows) < 2:
        raise reject(str(path), "file_unreadable", "fewer than 2 data rows (truncated?)")
    return np.asarray(rows, dtype=float)


def read_trc(path: Path) -> tuple[float, np.ndarray, dict[str, np.ndarray]]:
    """(rate Hz, time s, marker -> (n, 3) m) from an OpenSim/Vicon .trc file."""
    path = Path(path)
    lines = _lines(path)
    if len(lines) < 6 or not lines[0].startswith("PathFileType"):
        raise reject(str(path), "file_unreadable", "not a .trc file (no PathFileType header)")
    keys = lines[1].split("\t")
    values = lines[2].split("\t")
    header = dict(zip((k.strip() for k in keys), (v.strip() for v in values), strict=False))
    unit = header.get("Units")
    if unit not in _LENGTH_TO_M:
        raise reject(
            str(path),
            "unknown_unit",
            f"marker unit {unit!r} is not one of {sorted(_LENGTH_TO_M)}",
            channel="Units",
        )
    try:
        rate = float(header.get("DataRate", "nan"))
    except ValueError:
        rate = float("nan")
    if not rate > 0:
        raise reject(str(path), "file_unreadable", "no positive DataRate", channel="DataRate")
    names = [n.strip() for n in lines[3].split("\t")[2:] if n.strip()]
    data = _table(path, lines, 5, 2 + 3 * len(names))
    time = data[:, 1]
    markers = {
        name: data[:, 2 + 3 * i : 5 + 3 * i] * _LENGTH_TO_M[unit] for i, name in enumerate(names)
    }
    return rate, time, markers


def read_mot(path: Path) -> tuple[dict[str, str], list[str], np.ndarray]:
    """(header key=value pairs, column names, data) of an OpenSim storage (.mot/.sto) file."""
    path = Path(path)
    lines = _lines(path)
    try:
        end = next(i for i, line in enumerate(lines) if line.strip().lower() == "endheader")
    except StopIteration:
        raise reject(str(path), "file_unreadable", "no 'endheader' line: not a .mot file") from None
    header = {}
    for line in lines[:end]:
        if "=" in line:
            key, _, value = line.partition("=")
            header[key.strip()] = value.strip()
    columns = [col.strip() for col in lines[end + 1].split("\t")]
    data = _table(path, lines, end + 2, len(columns))
    return header, columns, data


def read_external_forces(path: Path) -> dict[str, str]:
    """force identifier prefix (e.g. 'ground_force_1_') -> side ('l'/'r') from the XML."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise reject(str(path), "file_unreadable", f"not a readable XML file ({exc})") from None
    sides = {}
    for force in root.iter("ExternalForce"):
        body = (force.findtext("applied_to_body") or "").strip()
        ident = (force.findtext("force_identifier") or "").strip()
        side = body[-1:].lower() if re.search(r"_[lr]$", body) else None
        if ident and side in ("l", "r"):
            sides[ident.removesuffix("v")] = side
    return sides


def _plates(path: Path, xml: Path | None) -> tuple[ForcePlate, ...]:
    _, columns, data = read_mot(path)
    if "time" not in columns:
        raise reject(str(path), "file_unreadable", "no 'time' column", channel="time")
    time = data[:, columns.index("time")]
    # Rounded: a rate computed from printed time stamps carries float noise (99.99999...).
    rate = round(1.0 / float(np.median(np.diff(time))), 6)
    declared = read_external_forces(xml) if xml is not None and xml.is_file() else {}
    plates = []
    prefixes = []
    for col in columns:
        match = _PLATE_COLUMN.match(col)
        if match and match["axis"] == "x" and col.endswith("vx"):
            prefixes.append(col[:-2])
    for i, prefix in enumerate(prefixes):
        try:
            force = data[:, [columns.index(f"{prefix}v{a}") for a in "xyz"]]
            cop = data[:, [columns.index(f"{prefix}p{a}") for a in "xyz"]]
        except ValueError:
            raise reject(
                str(path),
                "file_unreadable",
                f"plate {prefix!r} lacks one of its v/p x/y/z columns",
                channel=prefix,
            ) from None
        loaded = np.linalg.norm(force, axis=1) > 20.0
        if loaded.any() and float(np.nanmax(np.abs(cop[loaded]))) > 20.0:
            raise reject(
                str(path),
                "unknown_unit",
                "centre of pressure beyond 20 m: not in metres as OpenSim requires (mm?)",
                channel=f"{prefix}p",
            )
        plates.append(
            ForcePlate(
                name=f"FP{i + 1}",
                rate_hz=rate,
                time=time,
                force=force,
                cop=cop,
                declared_side=declared.get(prefix),
            )
        )
    return tuple(plates)


def _angles(path: Path, time: np.ndarray) -> dict[tuple[str, str, str], np.ndarray]:
    header, columns, data = read_mot(path)
    flag = header.get("inDegrees", "").lower()
    if flag not in ("yes", "no"):
        raise reject(
            str(path),
            "unknown_unit",
            "no 'inDegrees=yes|no' header line: the angle unit cannot be determined",
            channel="inDegrees",
        )
    factor = 1.0 if flag == "yes" else 180.0 / np.pi
    t = data[:, columns.index("time")]
    out = {}
    for (joint, plane), template in IK_COORDINATES.items():
        for side in ("l", "r"):
            name = template.format(s=side)
            if name in columns:
                x = data[:, columns.index(name)] * factor
                out[(joint, side, plane)] = np.interp(time, t, x, left=np.nan, right=np.nan)
    return out


def read_opensim(trc: Path, *, grf: Path | None = None, ik: Path | None = None) -> Recording:
    """One OpenSim trial from its .trc; the .mot/.xml companions are found by name."""
    trc = Path(trc)
    stem = trc.stem
    rate, time, markers = read_trc(trc)
    grf = grf if grf is not None else trc.with_name(f"{stem}_grf.mot")
    xml = trc.with_name(f"{stem}_external_forces.xml")
    ik = ik if ik is not None else trc.with_name(f"{stem}_ik.mot")
    plates = _plates(grf, xml) if grf.is_file() else ()
    angles = _angles(ik, time) if ik.is_file() else {}
    info: dict[str, Any] = {"format": "opensim", "files": [p.name for p in (trc, grf, xml, ik)]}
    return Recording(
        source=str(trc),
        marker_rate_hz=rate,
        marker_time=time,
        markers=markers,
        plates=plates,
        angles=angles,
        angle_source="opensim_ik" if angles else None,
        lab_up=np.array([0.0, 1.0, 0.0]),
        info=info,
    )
