"""Read a C3D file with ezc3d into a `Recording` (markers, Plug-in Gait angles, force plates).

Force plates are taken from what ezc3d computes from the FORCE_PLATFORM parameters (calibration
matrix, corners, origin): the force on the body in the lab frame and the centre of pressure.
The raw analog Fx/Fy/Fz channels are not used, because their signs and scaling differ by plate
type and manufacturer. Sampling rates come from the header; units from the parameter section,
and a unit that is not stated is refused rather than guessed.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np

from gaitgrf.ingest.formats.recording import ForcePlate, Recording, reject

#: Length factors to metres for the units C3D files use.
_LENGTH_TO_M = {"mm": 1e-3, "cm": 1e-2, "m": 1.0}
_FORCE_TO_N = {"N": 1.0, "kN": 1e3}
_ANGLE_TO_DEG = {"deg": 1.0, "degrees": 1.0, "rad": 180.0 / np.pi}
#: Plug-in Gait (and pyCGM2) angle outputs: <side><Joint>Angles with x flexion, y adduction,
#: z internal rotation, the same anatomical sense on both sides (the contract's convention).
_PIG_JOINTS = {"Hip": "hip", "Knee": "knee", "Ankle": "ankle"}
_PLANES = ("flex", "add", "rot")
#: POINT parameters listing labels that are model outputs, not marker positions.
_OUTPUT_GROUPS = ("ANGLES", "FORCES", "MOMENTS", "POWERS", "SCALARS", "REACTIONS")


def _load(path: Path) -> dict[str, Any]:
    import ezc3d  # imported here: the library does nothing at import, and ezc3d is heavy

    if not path.is_file():
        raise reject(str(path), "file_unreadable", "no such file")
    if path.stat().st_size == 0:
        raise reject(str(path), "file_empty", "the file is empty (0 bytes)")
    try:
        c3d = dict(ezc3d.c3d(str(path), extract_forceplat_data=True))
    except (OSError, RuntimeError, ValueError, IndexError) as exc:
        text = str(exc).split(":")[0].strip() or type(exc).__name__
        if "not standard" in text:
            raise reject(
                str(path),
                "c3d_format",
                f"non-standard C3D parameter section ({text}); re-export it from the capture "
                "software; gaitgrf does not read files whose header or parameters break the "
                "C3D standard",
                channel="parameters",
            ) from None
        raise reject(
            str(path), "file_unreadable", f"not a readable C3D file ({text}); truncated?"
        ) from None
    _check_size(path, c3d)
    return c3d


def _check_size(path: Path, c3d: dict[str, Any]) -> None:
    """Refuse a file shorter than its header announces.

    ezc3d reads a cut file without complaint and shrinks its frame count to what it found, so
    the announcement is read from the raw header: words 2-5 hold the number of points, analog
    samples per frame, first and last frame (16-bit, big-endian on MIPS processors). Data start
    at block POINT:DATA_START (512-byte blocks, 1-based); a frame is 4 words per point plus one
    word per analog sample, 4-byte floats when POINT:SCALE is negative, else 2-byte integers.
    """
    params = c3d["parameters"]
    start = _first_number(_param(params, "POINT", "DATA_START"))
    scale = _first_number(_param(params, "POINT", "SCALE"))
    with path.open("rb") as fh:
        head = fh.read(512)
        fh.seek(max(0, (head[0] - 1) * 512))
        processor = fh.read(4)[3:4]
    if start is None or scale is None or len(head) < 12:
        return
    order = ">" if processor == b"\x56" else "<"  # 84 Intel, 85 DEC, 86 MIPS
    points, analogs, first, last = struct.unpack(order + "4H", head[2:10])
    frames = last - first + 1
    if frames <= 0:  # 16-bit frame fields overflow on very long files: nothing to compare
        return
    words = 4 * points + analogs
    expected = (int(start) - 1) * 512 + frames * words * (4 if scale < 0 else 2)
    actual = path.stat().st_size
    if actual < expected:
        raise reject(
            str(path),
            "file_unreadable",
            f"truncated: {actual} bytes, but the header announces {frames} frames "
            f"({expected} bytes)",
        )


def _param(params: dict[str, Any], group: str, name: str) -> Any:
    entry = params.get(group, {}).get(name)
    if not isinstance(entry, dict):
        return None
    return entry.get("value")


def _first_str(value: Any) -> str | None:
    if isinstance(value, list | tuple) and value:
        return str(value[0]).strip()
    if isinstance(value, str):
        return value.strip()
    return None


def _first_number(value: Any) -> float | None:
    try:
        number = float(np.asarray(value, dtype=float).ravel()[0])
    except (TypeError, ValueError, IndexError):
        return None
    return number if np.isfinite(number) else None


def _labels(params: dict[str, Any], n: int) -> list[str]:
    labels: list[str] = []
    for key in ("LABELS", "LABELS2", "LABELS3"):
        value = _param(params, "POINT", key)
        if isinstance(value, list):
            labels += [str(v).strip() for v in value]
    return (labels + [""] * n)[:n]


def _mass_height(params: dict[str, Any]) -> tuple[float | None, float | None]:
    """Body mass (kg) and height (m) from PROCESSING; a value of doubtful unit is unknown."""
    mass = _first_number(_param(params, "PROCESSING", "Bodymass"))
    if mass is None or not 15.0 <= mass <= 250.0:
        mass = None
    height = _first_number(_param(params, "PROCESSING", "Height"))
    if height is not None:
        # Vicon stores mm; a value that reads as metres is accepted; anything else is unknown.
        if 800.0 <= height <= 2300.0:
            height = height / 1000.0
        elif not 0.8 <= height <= 2.3:
            height = None
    return mass, height


def read_c3d(path: Path) -> Recording:
    """Markers (m), Plug-in Gait angles (deg) and force plates (N, m) of a C3D, lab frame.

    Raises RecordingError for an empty, truncated or non-standard file and for undeclared or
    unknown units of the data that are used.
    """
    path = Path(path)
    file = str(path)
    c3d = _load(path)
    params = c3d["parameters"]
    header = c3d["header"]
    data = c3d["data"]

    rate = float(header["points"]["frame_rate"])
    points = np.asarray(data["points"], dtype=float)
    n_frames = points.shape[2] if points.ndim == 3 else 0
    if rate <= 0 or n_frames < 2:
        raise reject(file, "file_unreadable", "no point frames (or no point rate) in the file")
    labels = _labels(params, points.shape[1])
    outputs = _output_labels(params)
    unit = _marker_unit(file, params)
    markers, angles = _markers_and_angles(file, params, points, labels, outputs, _LENGTH_TO_M[unit])

    # The file's own clock (first frame / rate), so C3D event times line up with the samples.
    t0 = float(header["points"].get("first_frame", 0)) / rate
    time = t0 + np.arange(n_frames) / rate
    plates = _plates(file, data, header, n_frames, rate, t0)
    mass, height = _mass_height(params)
    return Recording(
        source=file,
        marker_rate_hz=rate,
        marker_time=time,
        markers=markers,
        plates=plates,
        angles=angles,
        angle_source="c3d_plug_in_gait" if angles else None,
        mass_kg=mass,
        height_m=height,
        info=_info(params, unit, mass),
    )


def _output_labels(params: dict[str, Any]) -> set[str]:
    """POINT labels that name model outputs (angles, forces...), not marker positions."""
    outputs: set[str] = set()
    for group in _OUTPUT_GROUPS:
        value = _param(params, "POINT", group)
        if isinstance(value, list):
            outputs |= {str(v).strip() for v in value}
    return outputs


def _marker_unit(file: str, params: dict[str, Any]) -> str:
    """POINT:UNITS, refused unless it is a length unit this reader knows."""
    unit = _first_str(_param(params, "POINT", "UNITS"))
    if unit not in _LENGTH_TO_M:
        raise reject(
            file,
            "unknown_unit",
            f"marker unit {unit!r} is not one of {sorted(_LENGTH_TO_M)}; the length unit cannot "
            "be determined",
            channel="POINT:UNITS",
        )
    return unit


def _markers_and_angles(
    file: str,
    params: dict[str, Any],
    points: np.ndarray,
    labels: list[str],
    outputs: set[str],
    scale: float,
) -> tuple[dict[str, np.ndarray], dict[tuple[str, str, str], np.ndarray]]:
    """Marker trajectories (m, NaN where not seen) and Plug-in Gait angles (deg) by label.

    Other model outputs (forces, moments, powers, unlisted angles) are skipped.
    """
    markers: dict[str, np.ndarray] = {}
    angles: dict[tuple[str, str, str], np.ndarray] = {}
    angle_unit = _first_str(_param(params, "POINT", "ANGLE_UNITS"))
    for i, label in enumerate(labels):
        if not label or label.startswith("#"):
            continue
        xyz = points[:3, i, :].T.copy()
        joint = _pig_angle(label)
        if joint is not None:
            if angle_unit not in _ANGLE_TO_DEG:
                raise reject(
                    file,
                    "unknown_unit",
                    f"angle unit {angle_unit!r} is not deg or rad; the joint angles' unit "
                    "cannot be determined",
                    channel="POINT:ANGLE_UNITS",
                )
            for k, plane in enumerate(_PLANES):
                angles[(joint[0], joint[1], plane)] = xyz[:, k] * _ANGLE_TO_DEG[angle_unit]
            continue
        if label in outputs or label.endswith(("Angles", "Angle", "Force", "Moment", "Power")):
            continue
        # Exact zeros are how several systems write "not seen".
        xyz[np.all(xyz == 0.0, axis=1)] = np.nan
        markers[label] = xyz * scale
    return markers, angles


def _info(params: dict[str, Any], unit: str, mass: float | None) -> dict[str, Any]:
    """Lab facts kept in the trial metadata: joint widths, events, unit-less weight, static flag."""
    info: dict[str, Any] = {"format": "c3d", "point_unit": unit}
    widths = {}
    for side, letter in (("l", "L"), ("r", "R")):
        for joint_name, key in (("knee", "KneeWidth"), ("ankle", "AnkleWidth")):
            # Plug-in Gait stores joint widths in mm, as its Height.
            width = _first_number(_param(params, "PROCESSING", f"{letter}{key}"))
            if width is not None and 20.0 <= width <= 250.0:
                widths[f"{joint_name}_{side}"] = width / 1000.0
    if widths:
        info["joint_widths_m"] = widths
    events = _events(params)
    if events:
        info["events"] = events
    weight = _first_number(_param(params, "SUBJECT", "WEIGHT"))
    if mass is None and weight is not None:
        # Older files (c3d.org sample) keep a SUBJECT:WEIGHT with no unit: kg or lb cannot be
        # told, so it is never used as the mass; the mass_unknown error quotes it.
        info["subject_weight_no_unit"] = weight
    static_flag = _first_number(_param(params, "SUBJECTS", "IS_STATIC"))
    if static_flag is not None:
        info["is_static"] = bool(static_flag)
    return info


def _pig_angle(label: str) -> tuple[str, str] | None:
    """('hip', 'l') for 'LHipAngles'; None for anything else (pelvis, foot progression...)."""
    if len(label) < 2 or label[0] not in "LR" or not label.endswith("Angles"):
        return None
    joint = _PIG_JOINTS.get(label[1:-6])
    return None if joint is None else (joint, label[0].lower())


def _events(params: dict[str, Any]) -> list[dict[str, Any]]:
    """EVENT group as [{label, side, time_s}]; TIMES holds (minutes, seconds) pairs."""
    labels = _param(params, "EVENT", "LABELS")
    contexts = _param(params, "EVENT", "CONTEXTS")
    times = _param(params, "EVENT", "TIMES")
    if not isinstance(labels, list) or times is None:
        return []
    t = np.asarray(times, dtype=float)
    if t.ndim == 2 and t.shape[0] == 2:
        seconds = 60.0 * t[0] + t[1]
    else:
        seconds = t.reshape(-1, 2)[:, 0] * 60.0 + t.reshape(-1, 2)[:, 1]
    ctx = contexts if isinstance(contexts, list) else [""] * len(labels)
    return [
        {"label": str(lab).strip(), "context": str(cx).strip(), "time_s": round(float(s), 4)}
        for lab, cx, s in zip(labels, ctx, seconds, strict=False)
    ]


def _plates(
    file: str,
    data: dict[str, Any],
    header: dict[str, Any],
    n_frames: int,
    rate: float,
    t0: float,
) -> tuple[ForcePlate, ...]:
    analog_rate = float(header["analogs"]["frame_rate"])
    plates = []
    for i, platform in enumerate(data.get("platform", [])):
        name = f"FP{i + 1}"
        force_unit = str(platform.get("unit_force", "")).strip()
        pos_unit = str(platform.get("unit_position", "")).strip()
        if force_unit not in _FORCE_TO_N:
            raise reject(
                file,
                "unknown_unit",
                f"force unit {force_unit!r} is not N or kN",
                channel=f"{name}:force",
            )
        if pos_unit not in _LENGTH_TO_M:
            raise reject(
                file,
                "unknown_unit",
                f"centre-of-pressure unit {pos_unit!r} is not mm, cm or m",
                channel=f"{name}:center_of_pressure",
            )
        force = np.asarray(platform["force"], dtype=float).T * _FORCE_TO_N[force_unit]
        cop = np.asarray(platform["center_of_pressure"], dtype=float).T * _LENGTH_TO_M[pos_unit]
        n = force.shape[0]
        plate_rate = analog_rate if analog_rate > 0 else n / n_frames * rate
        time = t0 + np.arange(n) / plate_rate
        plates.append(ForcePlate(name, plate_rate, time, force, cop))
    return tuple(plates)
