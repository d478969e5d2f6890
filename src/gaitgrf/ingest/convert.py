"""Turn lab recordings (C3D, OpenSim) into a contract cohort.

`import_recordings(src, cohort_id, raw_dir)` takes one recording or a folder with one subfolder
per subject, converts every recording into a contract trial and writes the cohort through
`gaitgrf.io.cohort_store` (staged, one rename at the end), so a failed import leaves `data/raw/`
untouched. The conversion of one recording (`convert_recording`) is the same for every format:

1. landmarks found in the marker set, trial cropped to where they are all seen, short gaps
   bridged (and reported), long gaps refused;
2. the heading frame: z up (from the plates' mean force, else the format's convention, else the
   markers), x the pelvis' horizontal displacement (its facing direction when standing still);
3. markers low-pass filtered, the segment model built (`gaitgrf.ingest.segment_model`), virtual
   accelerometers derived through the shared sensor model (`gaitgrf.ingest.virtual_imu`);
4. joint angles: the recording's own where present, the segment model's otherwise;
5. force plates: unloaded offset removed, contacts found, each contact given to the foot whose
   heel is nearest the centre of pressure just after contact, forces summed per foot.

Nothing unknown is invented: a subject's mass comes from the subjects file, the recording
(C3D PROCESSING:Bodymass) or the load of a static trial, else the import is refused; knee
alignment comes from a static trial with medial and lateral markers, else the subjects file,
else it stays empty. docs/importing.md has the details and the error rules.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from gaitgrf.core import contract as c
from gaitgrf.core.errors import ContractError, Violation
from gaitgrf.core.sensors import GRAVITY
from gaitgrf.ingest.formats.recording import ForcePlate, Recording, RecordingError, reject
from gaitgrf.ingest.segment_model import (
    Body,
    build_body,
    build_body_from_clusters,
    drop_cluster_outliers,
    fill_from_cluster,
    fill_gaps,
    heading_rotation,
    joint_angles,
    knee_alignment_deg,
    long_gaps,
    lowpass,
    match_markers,
    snap_axis,
    valid_span,
)
from gaitgrf.ingest.virtual_imu import accelerometer_stream, virtual_accelerometers
from gaitgrf.io.cohort_store import staged_cohort, write_manifest, write_subjects
from gaitgrf.io.trial_file import Stream, Trial, write_trial

IMPORTER_VERSION = "1.0.0"
#: File names that say "static standing trial".
STATIC_NAME = re.compile(r"static|stand|calib|still|neutral|quiet", re.IGNORECASE)
RECORDING_SUFFIXES = (".c3d", ".trc", ".csv", ".parquet")
#: Tables in a source folder that are not recordings.
NOT_RECORDINGS = ("subjects.csv",)


@dataclass(frozen=True)
class ImportOptions:
    """Tolerances of the conversion; the defaults are what docs/importing.md describes."""

    #: Longest interior marker gap bridged by interpolation; longer gaps refuse the trial.
    max_gap_s: float = 0.1
    #: Low-pass cut-off for markers before differentiation (clamped below 0.4 x rate).
    marker_cutoff_hz: float = 10.0
    #: Vertical force above which a plate is loaded.
    contact_threshold_n: float = 20.0
    #: Shorter loaded runs are noise, not foot contacts.
    min_contact_s: float = 0.1
    #: A heel farther than this from the centre of pressure after contact is not on the plate.
    heel_max_distance_m: float = 0.25
    #: Both heels closer to the COP than this to each other: the contact is ambiguous.
    heel_min_margin_m: float = 0.05
    #: The COP farther than this from the heel-toe line: another foot is on the plate.
    foot_outline_m: float = 0.1
    #: A plate peak above this many body weights is refused as overloaded or mis-scaled.
    overload_bw: float = 3.0
    #: Before heel strike and after toe off on a plate the foot is in swing: zero force.
    swing_pad_s: float = 0.1
    #: Pelvis displacement below which a trial is a standing (static) trial.
    static_max_displacement_m: float = 0.3
    #: Refuse walking recordings without force plates (their targets would be all unknown).
    require_grf: bool = True


@dataclass
class TrialReport:
    """What the conversion of one recording did, for the user and the trial metadata."""

    source: str
    trial_id: str
    kind: str
    notes: list[str] = field(default_factory=list)
    gaps_filled: list[tuple[str, float, float]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    #: Mean total vertical load of a static trial with each foot on a plate (N).
    static_load_n: float | None = None
    #: Knee alignment (deg, varus negative) from a static trial, per side.
    alignment_deg: dict[str, float] = field(default_factory=dict)
    grf_peak_n: dict[str, float] = field(default_factory=dict)
    acc_range: dict[str, tuple[float, float]] = field(default_factory=dict)

    def as_extra(self) -> dict[str, Any]:
        return {
            "notes": self.notes,
            "gaps_filled": [
                {"marker": m, "start_s": a, "length_s": d} for m, a, d in self.gaps_filled
            ],
            "contacts": self.contacts,
        }


# --- one recording -----------------------------------------------------------------------------
def _is_static_name(path: str) -> bool:
    return bool(STATIC_NAME.search(Path(path).stem))


def _up_from_plates(plates: Sequence[ForcePlate]) -> np.ndarray | None:
    total = np.zeros(3)
    for plate in plates:
        norm = np.linalg.norm(plate.force, axis=1)
        loaded = np.isfinite(norm) & (norm > 50.0)
        if loaded.any():
            total += np.nansum(plate.force[loaded], axis=0)
    if not np.linalg.norm(total) > 0:
        return None
    return snap_axis(total)


def _up_from_markers(mapping_points: Mapping[str, np.ndarray]) -> np.ndarray | None:
    pelvis = np.nanmean(mapping_points["pelvis"], axis=0)
    feet = np.nanmean(mapping_points["feet"], axis=0)
    return snap_axis(pelvis - feet)


def _crop_plate(plate: ForcePlate, t0: float, t1: float) -> ForcePlate:
    keep = (plate.time >= t0 - 1e-9) & (plate.time <= t1 + 1e-9)
    return replace(plate, time=plate.time[keep], force=plate.force[keep], cop=plate.cop[keep])


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _zero_offset(plate: ForcePlate, vertical: np.ndarray) -> tuple[ForcePlate, list[float] | None]:
    """Subtract the unloaded reading when the plate has a clear unloaded period.

    The lowest fifth of the vertical force is taken as unloaded if it is small (< 50 N) and
    steady (sd < 5 N); a plate loaded all trial (a static trial) keeps its reading as is.
    """
    fz = vertical
    finite = np.isfinite(fz)
    if finite.sum() < 10:
        return plate, None
    low = fz[finite] <= np.quantile(fz[finite], 0.2)
    base = plate.force[finite][low]
    if abs(float(np.median(base[:, 2]))) >= 50.0 or float(np.std(base[:, 2])) >= 5.0:
        return plate, None
    offset = np.median(base, axis=0)
    if float(np.linalg.norm(offset)) < 0.5:
        return plate, None
    return replace(plate, force=plate.force - offset), [round(float(v), 2) for v in offset]


def _contacts(plate: ForcePlate, opts: ImportOptions) -> list[tuple[int, int]]:
    """Loaded runs of a plate, [start, stop) samples.

    Runs shorter than `min_contact_s` are dropped first: a plate unloading hovers around the
    threshold for a few milliseconds, and those flickers are not contacts (the foot's force is
    then 0 below the threshold, the usual force-plate convention). Long runs separated by less
    than 30 ms (a dip within one stance) are merged afterwards.
    """
    loaded = np.nan_to_num(plate.force[:, 2]) > opts.contact_threshold_n
    shortest = opts.min_contact_s * plate.rate_hz
    runs = [(a, b) for a, b in _runs(loaded) if b - a >= shortest]
    merged: list[tuple[int, int]] = []
    bridge = round(0.03 * plate.rate_hz)
    for a, b in runs:
        if merged and a - merged[-1][1] <= bridge:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def _at(time: np.ndarray, xyz: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.stack([np.interp(t, time, xyz[:, k]) for k in range(xyz.shape[1])], axis=1)


@dataclass(frozen=True)
class _Feet:
    stream: Stream
    contacts: list[dict[str, Any]]
    notes: list[str]
    static_load_n: float | None
    peaks: dict[str, float]


def _feet_grf(
    file: str,
    plates: Sequence[ForcePlate],
    marker_time: np.ndarray,
    body: Body,
    static: bool,
    mass_kg: float | None,
    opts: ImportOptions,
) -> _Feet:
    """Per-foot GRF and COP on the plates' clock, heading frame (plates already rotated)."""
    base = plates[0]
    time = base.time
    n = time.size
    grf = {s: np.zeros((n, 3)) for s in c.SIDES}
    weight = {s: np.zeros(n) for s in c.SIDES}
    cop_sum = {s: np.zeros((n, 2)) for s in c.SIDES}
    known = {s: np.zeros(n, dtype=bool) for s in c.SIDES}
    unknown = np.zeros(n, dtype=bool)
    contacts: list[dict[str, Any]] = []
    notes: list[str] = []
    pad = round(opts.swing_pad_s * base.rate_hz)
    static_cover = {s: 0 for s in c.SIDES}
    peaks: dict[str, float] = {}
    for plate in plates:
        if plate.time.size != n or not np.allclose(plate.time, time):
            force = _at(plate.time, plate.force, time)
            cop = _at(plate.time, plate.cop, time)
            plate = replace(plate, time=time, force=force, cop=cop)
        peak = float(np.nanmax(plate.force[:, 2])) if n else 0.0
        peaks[plate.name] = round(peak, 1)
        if mass_kg is not None and peak > opts.overload_bw * mass_kg * GRAVITY:
            raise reject(
                file,
                "plate_overload",
                f"peak vertical force {peak:.0f} N is {peak / (mass_kg * GRAVITY):.1f} body "
                f"weights (limit {opts.overload_bw:g}); a calibration or unit error, or more "
                "than one person on the plate",
                channel=plate.name,
            )
        for a, b in _contacts(plate, opts):
            side, why, distances = _assign(plate, a, b, body, marker_time, static, opts)
            entry: dict[str, Any] = {
                "plate": plate.name,
                "start_s": round(float(time[a]), 4),
                "stop_s": round(float(time[b - 1]), 4),
                "foot": side,
                "heel_distance_m": distances,
            }
            if plate.declared_side is not None:
                entry["declared_foot"] = plate.declared_side
                if side is not None and side != plate.declared_side:
                    notes.append(
                        f"{plate.name} contact at {time[a]:.2f} s: the file says foot "
                        f"{plate.declared_side!r} but the markers put the "
                        f"{c.SIDE_NAMES[side]} heel on it ({why}); markers win"
                    )
                elif (
                    side is None
                    and distances
                    and (min(distances.values()) <= opts.heel_max_distance_m)
                ):
                    # A foot is on the plate but the heels cannot tell which: the file decides.
                    side = plate.declared_side
                    entry["foot"] = side
                    why = "markers inconclusive; the file's foot used"
            entry["why"] = why
            contacts.append(entry)
            if side is None:
                unknown[a:b] = True
                notes.append(f"{plate.name} contact at {time[a]:.2f} s not assigned: {why}")
                continue
            end = b
            if not static:
                shared = _second_foot(plate, a, b, side, body, marker_time, opts)
                if shared is not None:
                    end = shared
                    unknown[shared:b] = True
                    entry["shared_from_s"] = round(float(time[shared]), 4)
                    notes.append(
                        f"{plate.name}: from {time[shared]:.2f} s the centre of pressure leaves "
                        f"the {c.SIDE_NAMES[side]} foot (a second foot on the plate); both "
                        "feet unknown until the plate unloads"
                    )
            sl = slice(a, end)
            fz = np.clip(np.nan_to_num(plate.force[sl, 2]), 0.0, None)
            grf[side][sl] += np.nan_to_num(plate.force[sl])
            weight[side][sl] += fz
            cop_sum[side][sl] += fz[:, None] * np.nan_to_num(plate.cop[sl, :2])
            known[side][sl] = True
            if not static:
                known[side][max(0, a - pad) : a] = True
                if end == b:
                    known[side][b : b + pad] = True
            static_cover[side] += end - a
    if not any(e["foot"] is not None for e in contacts):
        raise reject(
            file,
            "no_foot_contact",
            "no plate contact could be given to a foot (no plate loaded above "
            f"{opts.contact_threshold_n:g} N for {opts.min_contact_s:g} s, or no heel within "
            f"{opts.heel_max_distance_m:g} m of the centre of pressure)",
            channel=",".join(p.name for p in plates),
        )
    static_load = None
    if static and all(static_cover[s] >= 0.9 * n for s in c.SIDES):
        total = sum(np.nan_to_num(p.force[:, 2]) for p in plates)
        static_load = float(np.mean(np.asarray(total)))
    cols, names, units = [], [], []
    for side in c.SIDES:
        f = np.where(known[side][:, None] & ~unknown[:, None], grf[side], np.nan)
        w = weight[side]
        cop = np.where(
            (w > opts.contact_threshold_n)[:, None] & ~unknown[:, None],
            cop_sum[side] / np.where(w > 0, w, 1.0)[:, None],
            np.nan,
        )
        cols += [f, cop]
        names += [c.grf_channel(side, ax) for ax in c.AXES]
        names += [c.cop_channel(side, ax) for ax in ("x", "y")]
        units += ["N"] * 3 + ["m"] * 2
    stream = Stream(
        c.STREAM_GRF, base.rate_hz, time, tuple(names), np.concatenate(cols, axis=1), tuple(units)
    )
    return _Feet(stream, contacts, notes, static_load, peaks)


def _assign(
    plate: ForcePlate,
    a: int,
    b: int,
    body: Body,
    marker_time: np.ndarray,
    static: bool,
    opts: ImportOptions,
) -> tuple[str | None, str, dict[str, float]]:
    """The foot on a plate contact: nearest heel to the COP just after contact.

    For a standing trial the foot centre (heel-toe midpoint) is compared with the mean COP.
    """
    t = plate.time
    if static:
        window = np.arange(a, b)
        points = {s: 0.5 * (body.points[f"heel_{s}"] + body.points[f"toe_{s}"]) for s in c.SIDES}
    else:
        lo = a + round(0.02 * plate.rate_hz)
        hi = a + max(lo - a + 1, round(min(0.1, 0.3 * (b - a) / plate.rate_hz) * plate.rate_hz))
        window = np.arange(lo, min(hi, b))
        points = {s: body.points[f"heel_{s}"] for s in c.SIDES}
    cop = plate.cop[window, :2]
    ok = np.isfinite(cop).all(axis=1)
    if not ok.any():
        return None, "no centre of pressure in the first 100 ms", {}
    tw = t[window][ok]
    inside = (tw >= marker_time[0]) & (tw <= marker_time[-1])
    if not inside.any():
        return None, "contact outside the marker recording", {}
    dist = {}
    for side in c.SIDES:
        heel = _at(marker_time, points[side][:, :2], tw[inside])
        dist[side] = round(float(np.median(np.linalg.norm(heel - cop[ok][inside], axis=1))), 3)
    near = min(dist, key=lambda s: dist[s])
    far = "r" if near == "l" else "l"
    if dist[near] > opts.heel_max_distance_m:
        return None, f"nearest heel {dist[near]:.2f} m from the centre of pressure", dist
    if dist[far] - dist[near] < opts.heel_min_margin_m:
        return None, "both heels equally close to the centre of pressure", dist
    return near, f"{c.SIDE_NAMES[near]} heel {dist[near]:.2f} m from the COP", dist


def _second_foot(
    plate: ForcePlate,
    a: int,
    b: int,
    side: str,
    body: Body,
    marker_time: np.ndarray,
    opts: ImportOptions,
) -> int | None:
    """First sample where the COP leaves the assigned foot: another foot shares the plate.

    While one foot stands on a plate its centre of pressure stays under that foot, between heel
    and toe (plus the toes' length beyond the toe marker). When the other foot lands on the
    same plate, the COP moves towards it, beyond the first foot's outline. Only samples loaded
    with at least a tenth of the contact's peak are used: the COP of a light load is noise.
    """
    t = plate.time[a:b]
    inside = (t >= marker_time[0]) & (t <= marker_time[-1])
    heel = _at(marker_time, body.points[f"heel_{side}"][:, :2], t)
    toe = _at(marker_time, body.points[f"toe_{side}"][:, :2], t)
    cop = plate.cop[a:b, :2]
    fz = np.nan_to_num(plate.force[a:b, 2])
    along = toe - heel
    u = np.clip(np.sum((cop - heel) * along, axis=1) / np.sum(along * along, axis=1), 0.0, 1.0)
    dist = np.linalg.norm(cop - (heel + u[:, None] * along), axis=1)
    away = inside & (fz > 0.1 * fz.max()) & np.isfinite(dist) & (dist > opts.foot_outline_m)
    hits = np.flatnonzero(away)
    if hits.size == 0:
        return None
    # Back to where the COP started to leave the foot (last sample within 2 cm of its outline):
    # the second foot was loading the plate from then on.
    near = np.flatnonzero(np.nan_to_num(dist[: hits[0]], nan=np.inf) <= 0.02)
    return a + (int(near[-1]) + 1 if near.size else int(hits[0]))


def _speed(pelvis: np.ndarray, time: np.ndarray) -> float:
    d = pelvis[-1, :2] - pelvis[0, :2]
    return float(np.linalg.norm(d) / max(time[-1] - time[0], 1e-9))


def convert_recording(
    rec: Recording,
    *,
    trial_id: str,
    subject_id: str,
    cohort_id: str,
    kind: str | None = None,
    mass_kg: float | None = None,
    height_m: float | None = None,
    options: ImportOptions | None = None,
) -> tuple[Trial, TrialReport, Body]:
    """One recording -> one contract trial (not yet written), its report and segment model.

    `kind` None decides from the file name, then from the pelvis displacement. `mass_kg` is
    only used to refuse overloaded plates here.
    """
    opts = options or ImportOptions()
    file = rec.source
    mapping, missing = match_markers(rec.markers)
    if missing:
        raise RecordingError(
            [
                Violation(
                    file,
                    "marker_missing",
                    "landmark needed by the segment model has no marker with data in the "
                    "whole trial",
                    channel=m,
                )
                for m in missing
            ],
            context=f"import of {file}",
        )
    used = {name: np.asarray(rec.markers[name], dtype=float) for name in mapping.names()}
    rigid_filled: list[tuple[str, float, float]] = []
    dropped: list[tuple[str, float, float]] = []
    if mapping.clusters:
        used, dropped = drop_cluster_outliers(used, mapping.clusters, rec.marker_time)
        used, rigid_filled = fill_from_cluster(used, mapping.clusters, rec.marker_time)
    start, stop = valid_span(used)
    time_all = rec.marker_time
    if stop - start < max(3, int(0.5 * rec.marker_rate_hz)):
        raise reject(
            file,
            "marker_gap",
            "the landmark markers are seen together for less than 0.5 s",
            channel=",".join(sorted(used)),
        )
    time = time_all[start:stop]
    used = {k: v[start:stop] for k, v in used.items()}
    too_long = long_gaps(used, time, opts.max_gap_s)
    if too_long:
        raise RecordingError(
            [
                Violation(
                    file,
                    "marker_gap",
                    f"gap of {length:.3f} s from {t0:.3f} s, longer than the "
                    f"{opts.max_gap_s:g} s that interpolation may bridge",
                    channel=name,
                )
                for name, t0, length in too_long
            ],
            context=f"import of {file}",
        )
    used, filled = fill_gaps(used, time)
    t_lo, t_hi = float(time[0]), float(time[-1])
    filled = [g for g in rigid_filled if t_lo - 1e-9 <= g[1] <= t_hi] + filled
    report = TrialReport(source=file, trial_id=trial_id, kind="walking", gaps_filled=filled)
    if mapping.clusters and dropped:
        report.notes.append(
            "cluster samples breaking the cluster's rigidity dropped: "
            + ", ".join(f"{m} {t0:.2f} s +{d:.2f} s" for m, t0, d in dropped)
        )
    if rigid_filled:
        report.notes.append(
            "cluster markers rebuilt from the rest of their rigid cluster: "
            + ", ".join(f"{m} {t0:.2f} s +{d:.2f} s" for m, t0, d in rigid_filled)
        )
    if start > 0 or stop < time_all.size:
        report.notes.append(
            f"cropped to {time[0]:.3f}-{time[-1]:.3f} s where every landmark marker is seen"
        )
    plates = tuple(_crop_plate(p, float(time[0]), float(time[-1])) for p in rec.plates)

    # Heading frame: z up, x the walking (or facing) direction.
    up = rec.lab_up if rec.lab_up is not None else _up_from_plates(plates)
    asis = mapping.pelvis_centre(used)
    if up is None:
        up = _up_from_markers({"pelvis": asis, "feet": mapping.foot_points(used)})
    if up is None:
        raise reject(
            file,
            "vertical_axis",
            "cannot tell which lab axis is vertical: the plates' mean force and the "
            "pelvis-over-feet direction are not along a lab axis",
            channel="POINT",
        )
    k = max(1, len(time) // 10)
    displacement = np.mean(asis[-k:], axis=0) - np.mean(asis[:k], axis=0)
    horizontal = displacement - np.dot(displacement, up) * up
    moved = float(np.linalg.norm(horizontal))
    if kind is None:
        kind = (
            "static"
            if _is_static_name(file) or moved < opts.static_max_displacement_m
            else ("walking")
        )
    report.kind = kind
    if moved >= opts.static_max_displacement_m:
        forward = horizontal
    else:
        facing = mapping.facing(used)
        if facing is None:
            raise reject(
                file,
                "marker_missing",
                f"a standing trial (pelvis moved {moved:.2f} m) with only technical marker "
                "clusters: no anatomical marker says which way the subject faces",
                channel="pelvis",
            )
        forward = facing
    rot = heading_rotation(up, forward)
    markers_h = {
        k2: lowpass(v @ rot.T, rec.marker_rate_hz, opts.marker_cutoff_hz) for k2, v in used.items()
    }
    widths = {k2: float(v) for k2, v in rec.info.get("joint_widths_m", {}).items() if v is not None}
    height = height_m if height_m is not None else rec.height_m
    if mapping.clusters:
        body = build_body_from_clusters(markers_h, mapping, height)
        report.notes.append(
            "segment model from technical clusters only (functional joint centres; "
            "docs/importing.md section 5)"
        )
    else:
        body = build_body(markers_h, mapping, widths)
    readings = virtual_accelerometers(body, rec.marker_rate_hz, height)
    acc = accelerometer_stream(time, readings, rec.marker_rate_hz)
    report.acc_range = {
        loc: (round(float(np.min(v)), 2), round(float(np.max(v)), 2)) for loc, v in readings.items()
    }
    kin, sources = _kinematics(rec, start, stop, time, body, opts, report)

    streams = {c.STREAM_ACC: acc, c.STREAM_KIN: kin}
    plates_h = tuple(replace(p, force=p.force @ rot.T, cop=p.cop @ rot.T) for p in plates)
    loaded = []
    for p in plates_h:
        fixed, offset = _zero_offset(p, p.force[:, 2])
        if offset is not None:
            report.notes.append(f"{p.name}: unloaded offset {offset} N removed")
        if fixed.time.size >= 2:
            loaded.append(fixed)
    if loaded:
        feet = _feet_grf(file, loaded, time, body, kind == "static", mass_kg, opts)
        streams[c.STREAM_GRF] = feet.stream
        report.contacts = feet.contacts
        report.notes += feet.notes
        report.static_load_n = feet.static_load_n
        report.grf_peak_n = {
            s: round(float(np.nanmax(feet.stream.channel(c.grf_channel(s, "z")), initial=0.0)), 1)
            for s in c.SIDES
        }
    elif opts.require_grf and kind == "walking":
        raise reject(
            file,
            "no_force_platform",
            "no force platform in the recording: the GRF targets would be unknown "
            "(import with require_grf=False for an inference-only cohort)",
            channel="FORCE_PLATFORM",
        )
    else:
        names = tuple(c.grf_channel(s, ax) for s in c.SIDES for ax in c.AXES)
        streams[c.STREAM_GRF] = Stream(
            c.STREAM_GRF,
            rec.marker_rate_hz,
            time,
            names,
            np.full((time.size, len(names)), np.nan),
            ("N",) * len(names),
        )
        report.notes.append("no force platform: GRF left unknown (NaN)")
    if kind == "static":
        for side in c.SIDES:
            if ("knee_med", side) in mapping.sided and ("ankle_med", side) in mapping.sided:
                report.alignment_deg[side] = round(knee_alignment_deg(body, side), 2)

    extra = {
        "source_file": file,
        "importer": "gaitgrf.ingest.convert",
        "importer_version": IMPORTER_VERSION,
        "speed_mps": round(_speed(body.points["sacrum"], time), 4) if kind == "walking" else 0.0,
        "heading_rotation": np.round(rot, 6).tolist(),
        "angle_sources": sources,
        "joint_centres": body.methods,
        "accelerometers": "virtual (markers, gaitgrf.ingest.virtual_imu)",
        "import": report.as_extra(),
    }
    trial = Trial(trial_id, subject_id, cohort_id, kind, streams, extra)
    found = _check(trial, file)
    if found:
        raise RecordingError(found, context=f"import of {file}")
    return trial, report, body


def _check(trial: Trial, file: str) -> list[Violation]:
    from gaitgrf.io.loader import check_trial  # the loader pulls in config; keep import light

    return check_trial(trial, file)


def _kinematics(
    rec: Recording,
    start: int,
    stop: int,
    time: np.ndarray,
    body: Body,
    opts: ImportOptions,
    report: TrialReport,
) -> tuple[Stream, dict[str, str]]:
    """The recording's own angles where usable, the segment model's for the rest."""
    model = joint_angles(body)
    keys = [(j, s, p) for j in c.JOINTS for s in c.SIDES for p in c.PLANES]
    cols, sources = [], {}
    max_run = int(opts.max_gap_s * rec.marker_rate_hz + 1e-9)
    for key in keys:
        name = c.angle_channel(*key)
        own = rec.angles.get(key)
        use_model = True
        if own is not None:
            x = np.asarray(own, dtype=float)[start:stop]
            bad = ~np.isfinite(x)
            runs = _runs(bad)
            if not bad.all() and all(b - a <= max_run for a, b in runs):
                if bad.any():
                    good = ~bad
                    x = x.copy()
                    x[bad] = np.interp(time[bad], time[good], x[good])
                    report.gaps_filled += [
                        (
                            name,
                            round(float(time[a]), 4),
                            round(float((b - a) / rec.marker_rate_hz), 4),
                        )
                        for a, b in runs
                    ]
                cols.append(x)
                sources[name] = rec.angle_source or "recording"
                use_model = False
            else:
                report.notes.append(f"{name}: recorded angle has long gaps; segment model used")
        if use_model:
            cols.append(model[key])
            sources[name] = "segment_model"
    data = np.stack(cols, axis=1)
    channels = tuple(c.angle_channel(*k) for k in keys)
    return (
        Stream(c.STREAM_KIN, rec.marker_rate_hz, time, channels, data, ("deg",) * len(channels)),
        sources,
    )


# --- folders and cohorts -----------------------------------------------------------------------


def read_recording(path: Path, root: Path | None = None) -> Recording:
    """Dispatch on the suffix: .c3d (C3D), .trc (OpenSim), .csv/.parquet (with a mapping file
    found beside it or in a parent folder up to `root`)."""
    from gaitgrf.ingest.formats.c3d import read_c3d
    from gaitgrf.ingest.formats.opensim import read_opensim
    from gaitgrf.ingest.formats.tabular import find_mapping, read_table

    suffix = path.suffix.lower()
    if suffix == ".c3d":
        return read_c3d(path)
    if suffix == ".trc":
        return read_opensim(path)
    if suffix in (".csv", ".parquet"):
        mapping = find_mapping(path, root)
        if mapping is None:
            raise reject(
                str(path),
                "mapping_missing",
                f"no column mapping: put {path.stem}.mapping.yaml beside it or mapping.yaml in "
                "its folder (docs/importing.md)",
            )
        return read_table(path, mapping)
    raise reject(
        str(path),
        "file_unreadable",
        f"unknown recording type {suffix!r} (.c3d, .trc, .csv or .parquet expected)",
    )


def _safe_id(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-_")
    return (cleaned or "x")[:64]


def find_recordings(src: Path) -> dict[str, list[Path]]:
    """Subject id -> recordings. A file is one subject; in a folder, each subfolder holding
    recordings is a subject, and recordings lying directly in the folder are one more subject
    named after the folder."""
    src = Path(src)
    if src.is_file():
        return {_safe_id(src.stem): [src]}
    if not src.is_dir():
        raise reject(str(src), "file_unreadable", "no such file or folder")

    def recordings(folder: Path) -> list[Path]:
        return sorted(
            p
            for p in folder.iterdir()
            if p.is_file()
            and p.suffix.lower() in RECORDING_SUFFIXES
            and not p.name.startswith(".")
            and p.name.lower() not in NOT_RECORDINGS
        )

    found: dict[str, list[Path]] = {}
    direct = recordings(src)
    if direct:
        found[_safe_id(src.name)] = direct
    for sub in sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = recordings(sub)
        if files:
            found.setdefault(_safe_id(sub.name), []).extend(files)
    if not found:
        raise reject(str(src), "file_unreadable", "no .c3d or .trc recording found")
    return found


_TEXT_COLUMNS = ("subject_id", "cohort_id", "sex", "affected_side", "group")


def read_subjects_file(path: Path) -> dict[str, dict[str, Any]]:
    """subject_id -> known values from a CSV with `subject_id` and any contract columns.

    Empty cells stay unknown (None). Columns the contract does not know are refused.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
            columns = [col.strip() for col in (rows[0].keys() if rows else [])]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise reject(str(path), "file_unreadable", f"not a readable CSV file ({exc})") from None
    if "subject_id" not in columns:
        raise reject(str(path), "subjects_schema", "no 'subject_id' column", channel="subject_id")
    unknown = [col for col in columns if col not in c.SUBJECT_COLUMNS]
    if unknown:
        raise reject(
            str(path),
            "subjects_schema",
            f"columns {unknown} are not subject columns of the contract "
            f"({', '.join(c.SUBJECT_COLUMNS)})",
        )
    out: dict[str, dict[str, Any]] = {}
    problems: list[Violation] = []
    for line, row in enumerate(rows, start=2):
        values: dict[str, Any] = {}
        for key, raw in row.items():
            key = key.strip()
            text = (raw or "").strip()
            if key == "cohort_id" or not text:
                continue
            if key in _TEXT_COLUMNS:
                values[key] = text
                continue
            try:
                values[key] = float(text)
            except ValueError:
                problems.append(
                    Violation(
                        str(path), "subject_value", f"line {line}: {key}={text!r} is not a number"
                    )
                )
        sid = values.pop("subject_id", None)
        if sid is not None:
            out[sid] = values
    if problems:
        raise RecordingError(problems, context=f"subjects file {path}")
    return out


@dataclass(frozen=True)
class ImportResult:
    cohort_dir: Path
    subjects: list[dict[str, Any]]
    reports: list[TrialReport]
    manifest: dict[str, Any]
    #: Subject-level notes (mass sources and how they agree, alignment source).
    notes: list[str]


def _subject_row(
    sid: str,
    cohort_id: str,
    known: Mapping[str, Any],
    recordings: Sequence[Recording],
    reports: Sequence[TrialReport],
    defaults: Mapping[str, str | None],
    folder: str,
) -> tuple[dict[str, Any], list[str], list[Violation]]:
    notes: list[str] = []
    problems: list[Violation] = []
    rec_masses = [r.mass_kg for r in recordings if r.mass_kg is not None]
    loads = [r.static_load_n for r in reports if r.static_load_n is not None]
    static_mass = float(np.mean(loads)) / GRAVITY if loads else None
    rec_mass = float(np.median(rec_masses)) if rec_masses else None
    mass = known.get("mass_kg")
    source = "subjects file"
    if mass is None and rec_mass is not None:
        mass, source = rec_mass, "recording (PROCESSING:Bodymass)"
    if mass is None and static_mass is not None:
        mass, source = round(static_mass, 2), "static trial load"
    if mass is None:
        unitless = sorted(
            {
                float(r.info["subject_weight_no_unit"])
                for r in recordings
                if "subject_weight_no_unit" in r.info
            }
        )
        hint = (
            f"; the C3D's SUBJECT:WEIGHT reads {', '.join(f'{w:g}' for w in unitless)} with no "
            "unit (kg or lb?): if you know it, give mass_kg in the subjects file"
            if unitless
            else ""
        )
        problems.append(
            Violation(
                folder,
                "mass_unknown",
                "body mass unknown: not in the subjects file, not in the recordings "
                "(PROCESSING:Bodymass), and no static trial with each foot on a plate" + hint,
                subject=sid,
                channel="mass_kg",
            )
        )
    else:
        notes.append(f"{sid}: mass {mass:.2f} kg from the {source}")
        if static_mass is not None and source != "static trial load":
            diff = 100.0 * (static_mass - mass) / mass
            notes.append(f"{sid}: static load {static_mass:.2f} kg, {diff:+.1f} % of the mass used")
    heights = [r.height_m for r in recordings if r.height_m is not None]
    height = known.get("height_m", float(np.median(heights)) if heights else None)
    align: dict[str, float | None] = {}
    for side, column in (("l", "knee_alignment_left_deg"), ("r", "knee_alignment_right_deg")):
        measured = [r.alignment_deg[side] for r in reports if side in r.alignment_deg]
        if measured:
            align[column] = round(float(np.mean(measured)), 2)
            notes.append(f"{sid}: {column} {align[column]} deg from the static trial's markers")
        else:
            align[column] = known.get(column)
    row: dict[str, Any] = {
        "subject_id": sid,
        "cohort_id": cohort_id,
        "sex": known.get("sex"),
        "age_years": known.get("age_years"),
        "mass_kg": None if mass is None else round(float(mass), 3),
        "height_m": None if height is None else round(float(height), 3),
        **align,
    }
    for key in ("affected_side", "group"):
        value = known.get(key, defaults.get(key))
        if value is None:
            problems.append(
                Violation(
                    folder,
                    "subject_value",
                    f"{key} is required by the contract and no recording says it: give it in "
                    f"the subjects file (or as a default for all subjects)",
                    subject=sid,
                    channel=key,
                )
            )
        row[key] = value
    return row, notes, problems


def import_recordings(
    src: Path,
    cohort_id: str,
    raw_dir: Path,
    subjects_file: Path | None = None,
    *,
    group: str | None = None,
    affected_side: str | None = None,
    options: ImportOptions | None = None,
    lab: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Import one recording or a folder of subject folders as the cohort `raw_dir/cohort_id`.

    Every recording is converted (`convert_recording`) and every problem of every file is
    collected; if there is any, one RecordingError lists them all and nothing is left under
    `raw_dir` (the cohort is written in a staging folder and renamed only at the end).
    `group` and `affected_side` are defaults for subjects the subjects file does not cover.
    """
    opts = options or ImportOptions()
    out_dir = Path(raw_dir) / cohort_id
    found = find_recordings(Path(src))
    root = Path(src) if Path(src).is_dir() else Path(src).parent
    known = read_subjects_file(subjects_file) if subjects_file is not None else {}
    defaults = {"group": group, "affected_side": affected_side}
    total = sum(len(v) for v in found.values())
    problems: list[Violation] = []
    reports: list[TrialReport] = []
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    trial_ids: set[str] = set()
    files: list[str] = []
    done = 0
    with staged_cohort(out_dir, cohort_id) as stage:
        for sid, paths in found.items():
            facts = known.get(sid, {})
            recs: list[Recording] = []
            subject_reports: list[TrialReport] = []
            peaks: list[tuple[str, dict[str, float]]] = []
            for path in paths:
                done += 1
                try:
                    rec = read_recording(path, root)
                    mass = facts.get("mass_kg", rec.mass_kg)
                    tid = _safe_id(f"{sid}_{path.stem}")
                    while tid in trial_ids:
                        tid = _safe_id(f"{tid}_{len(trial_ids)}")
                    trial, report, _ = convert_recording(
                        rec,
                        trial_id=tid,
                        subject_id=sid,
                        cohort_id=cohort_id,
                        kind="static" if _is_static_name(str(path)) else None,
                        mass_kg=mass,
                        height_m=facts.get("height_m"),
                        options=opts,
                    )
                except ContractError as exc:
                    problems += [replace(v, subject=v.subject or sid) for v in exc.violations]
                    continue
                finally:
                    if progress is not None:
                        progress(done, total)
                trial_ids.add(tid)
                write_trial(trial, stage / c.TRIALS_DIR / f"{tid}{c.TRIAL_SUFFIX}")
                recs.append(rec)
                subject_reports.append(report)
                files.append(str(path))
                peaks.append((str(path), _plate_peaks(trial)))
            if not subject_reports:
                continue
            row, subject_notes, subject_problems = _subject_row(
                sid, cohort_id, facts, recs, subject_reports, defaults, str(paths[0].parent)
            )
            problems += subject_problems
            notes += subject_notes
            if row["mass_kg"] is not None:
                problems += _overloads(sid, float(row["mass_kg"]), peaks, opts)
            rows.append(row)
            reports += subject_reports
        if problems:
            raise RecordingError(problems, context=f"import of {src} as cohort {cohort_id!r}")
        write_subjects(rows, stage / c.SUBJECTS_FILE)
        source = {
            "kind": "import",
            "importer": "gaitgrf.ingest.convert",
            "importer_version": IMPORTER_VERSION,
            "src": str(src),
            "files": files,
            "subjects_file": None if subjects_file is None else str(subjects_file),
            "lab": lab,
            "options": {k: getattr(opts, k) for k in opts.__dataclass_fields__},
        }
        manifest = write_manifest(stage, cohort_id, source)
    return ImportResult(out_dir, rows, reports, manifest, notes)


def _plate_peaks(trial: Trial) -> dict[str, float]:
    peaks = {}
    grf = trial.streams[c.STREAM_GRF]
    for side in c.SIDES:
        fz = grf.channel(c.grf_channel(side, "z"))
        peaks[side] = float(np.nanmax(fz)) if np.isfinite(fz).any() else 0.0
    return peaks


def _overloads(
    sid: str, mass_kg: float, peaks: Sequence[tuple[str, dict[str, float]]], opts: ImportOptions
) -> list[Violation]:
    """Feet loaded far beyond body weight, checked once the subject's mass is settled."""
    limit = opts.overload_bw * mass_kg * GRAVITY
    return [
        Violation(
            file,
            "plate_overload",
            f"peak vertical force {peak:.0f} N is {peak / (mass_kg * GRAVITY):.1f} body weights "
            f"(limit {opts.overload_bw:g}) for a subject of {mass_kg:.1f} kg",
            subject=sid,
            channel=c.grf_channel(side, "z"),
        )
        for file, by_side in peaks
        for side, peak in by_side.items()
        if peak > limit
    ]
