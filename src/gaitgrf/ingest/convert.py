"""Turn one lab recording (C3D, OpenSim, table export) into a contract trial.

`cohort.import_recordings` runs this for every recording of a cohort; `gaitgrf predict` runs it
for one. The conversion of one recording (`convert_recording`) is the same for every format:

1. landmarks found in the marker set, trial cropped to where they are all seen, short gaps
   bridged (and reported), long gaps refused;
2. the heading frame: z up (from the plates' mean force, else the format's convention, else the
   markers), x the pelvis' horizontal displacement (its facing direction when standing still),
   then the walking direction over time relative to it, which GRF and COP are read in;
3. markers low-pass filtered, the segment model built (`gaitgrf.ingest.segment_model`), virtual
   accelerometers derived through the shared sensor model (`gaitgrf.ingest.virtual_imu`);
4. joint angles: the recording's own where present, the segment model's otherwise;
5. force plates (`gaitgrf.ingest.plates`): unloaded offset removed, contacts found, each contact
   given to the foot whose heel is nearest the centre of pressure just after contact, forces
   summed per foot.

Nothing unknown is invented: a subject's mass comes from the subjects file, the recording
(C3D PROCESSING:Bodymass) or the load of a static trial, else the import is refused; knee
alignment comes from a static trial whose knee and ankle centres are measured (medial markers,
the lab's exported centres, or Plug-in Gait's rule from the lab's joint widths), else the
subjects file, else it stays empty. docs/importing.md has the details and the error rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from gaitgrf.core import contract as c
from gaitgrf.core.errors import Violation
from gaitgrf.ingest.formats.recording import ForcePlate, Recording, RecordingError, reject
from gaitgrf.ingest.marker_frame import (
    TrialMarkers,
    clean_markers,
    heading,
    heading_over_time,
)
from gaitgrf.ingest.options import ImportOptions
from gaitgrf.ingest.plates import crop_plate, feet_grf, zero_offset
from gaitgrf.ingest.segment_model.alignment import KneeAlignment, static_alignment
from gaitgrf.ingest.segment_model.cleaning import lowpass, true_runs
from gaitgrf.ingest.segment_model.clusters import build_body_from_clusters
from gaitgrf.ingest.segment_model.frames import Body, joint_angles, turn
from gaitgrf.ingest.segment_model.landmarks import build_body
from gaitgrf.ingest.virtual_imu import accelerometer_stream, virtual_accelerometers
from gaitgrf.io.trial_file import Stream, Trial

IMPORTER_VERSION = "1.0.0"


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
    #: The same with the method it rests on (`segment_model.alignment`), per side.
    alignment: dict[str, KneeAlignment] = field(default_factory=dict)
    grf_peak_n: dict[str, float] = field(default_factory=dict)
    acc_range: dict[str, tuple[float, float]] = field(default_factory=dict)

    def as_extra(self) -> dict[str, Any]:
        return {
            "notes": self.notes,
            "gaps_filled": [
                {"marker": m, "start_s": a, "length_s": d} for m, a, d in self.gaps_filled
            ],
            "contacts": self.contacts,
            "knee_alignment": {side: a.as_extra() for side, a in self.alignment.items()},
        }


def _speed(pelvis: np.ndarray, time: np.ndarray, yaw: np.ndarray) -> float:
    """Mean walking speed: the pelvis' progress along the walking direction of each sample, so
    the arc of a curved path counts, not its chord, and the sideways sway does not."""
    step = np.diff(pelvis[:, :2], axis=0)
    ahead = turn(step, 0.5 * (yaw[1:] + yaw[:-1]))[:, 0]
    return float(np.sum(ahead) / max(time[-1] - time[0], 1e-9))


def _heading_note(yaw: np.ndarray, stride: float | None, kind: str) -> str:
    """One line for the report: how the heading was followed and how far the path turned."""
    if kind == "static":
        return "standing trial: one heading, the way the subject faces"
    if stride is None:
        return "no full stride seen: one heading for the whole trial"
    turned = np.degrees(float(np.max(yaw) - np.min(yaw)))
    return (
        f"heading followed over time (pelvis displacement over one {stride:.2f} s stride): "
        f"walking direction spans {turned:.1f} deg"
    )


# --- step 3: segment model and accelerometers ----------------------------------------------------
def heading_markers(
    rec: Recording, markers: TrialMarkers, rot: np.ndarray, opts: ImportOptions
) -> dict[str, np.ndarray]:
    """The markers in the reference heading frame, low-pass filtered.

    The segment model is built in this fixed frame, not in the turning one: differentiating
    positions in a rotating frame would add centripetal and Coriolis terms that no sensor
    feels. Nothing lost: an accelerometer reads `R^T (a - g)` in its own segment frame and a
    joint angle is one segment in another, both the same whichever way the world frame points.
    """
    return {
        k2: lowpass(v @ rot.T, rec.marker_rate_hz, opts.marker_cutoff_hz)
        for k2, v in markers.used.items()
    }


def joint_widths(rec: Recording) -> dict[str, float]:
    """The lab's measured joint widths (m, 'knee_l' ...: C3D PROCESSING), where it gives them."""
    return {k: float(v) for k, v in rec.info.get("joint_widths_m", {}).items() if v is not None}


def _body_and_accelerometers(
    rec: Recording,
    markers: TrialMarkers,
    markers_h: dict[str, np.ndarray],
    yaw: np.ndarray,
    height_m: float | None,
    report: TrialReport,
) -> tuple[Body, Stream]:
    """Step 3: filtered heading-frame markers -> segment model -> virtual accelerometers."""
    widths = joint_widths(rec)
    height = height_m if height_m is not None else rec.height_m
    if markers.mapping.clusters:
        forward = np.stack([np.cos(yaw), np.sin(yaw), np.zeros_like(yaw)], axis=1)
        body = build_body_from_clusters(markers_h, markers.mapping, height, forward)
        report.notes.append(
            "segment model from technical clusters only (functional joint centres; "
            "docs/importing.md section 5)"
        )
    else:
        body = build_body(markers_h, markers.mapping, widths)
    readings = virtual_accelerometers(body, rec.marker_rate_hz, height)
    acc = accelerometer_stream(markers.time, readings, rec.marker_rate_hz)
    report.acc_range = {
        loc: (round(float(np.min(v)), 2), round(float(np.max(v)), 2)) for loc, v in readings.items()
    }
    return body, acc


# --- step 4: kinematics --------------------------------------------------------------------------
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
            runs = true_runs(bad)
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


# --- step 5: force plates ------------------------------------------------------------------------
def _grf(
    rec: Recording,
    plates: Sequence[ForcePlate],
    rot: np.ndarray,
    yaw: np.ndarray,
    time: np.ndarray,
    body: Body,
    kind: str,
    mass_kg: float | None,
    opts: ImportOptions,
    report: TrialReport,
) -> Stream:
    """Step 5: the per-foot GRF stream in the turning heading frame, or all unknown without.

    Feet are found on the plates in the reference frame (`rot`), where the segment model is;
    the per-foot forces and COP paths are then turned by the walking direction `yaw` (on the
    markers' clock `time`) of each sample (`_turned`).
    """
    file = rec.source
    plates_h = tuple(replace(p, force=p.force @ rot.T, cop=p.cop @ rot.T) for p in plates)
    loaded = []
    for p in plates_h:
        fixed, offset = zero_offset(p, p.force[:, 2])
        if offset is not None:
            report.notes.append(f"{p.name}: unloaded offset {offset} N removed")
        if fixed.time.size >= 2:
            loaded.append(fixed)
    if loaded:
        feet = feet_grf(file, loaded, time, body, kind == "static", mass_kg, opts)
        report.contacts = feet.contacts
        report.notes += feet.notes
        report.static_load_n = feet.static_load_n
        stream = _turned(feet.stream, time, yaw)
        report.grf_peak_n = {
            s: round(float(np.nanmax(stream.channel(c.grf_channel(s, "z")), initial=0.0)), 1)
            for s in c.SIDES
        }
        return stream
    if opts.require_grf and kind == "walking":
        raise reject(
            file,
            "no_force_platform",
            "no force platform in the recording: the GRF targets would be unknown "
            "(import with require_grf=False for an inference-only cohort)",
            channel="FORCE_PLATFORM",
        )
    names = tuple(c.grf_channel(s, ax) for s in c.SIDES for ax in c.AXES)
    report.notes.append("no force platform: GRF left unknown (NaN)")
    return Stream(
        c.STREAM_GRF,
        rec.marker_rate_hz,
        time,
        names,
        np.full((time.size, len(names)), np.nan),
        ("N",) * len(names),
    )


def _static_alignment(body: Body, report: TrialReport) -> None:
    """A standing trial's knee alignment per side, with its method, or a note saying why not."""
    for side in c.SIDES:
        found, how = static_alignment(body, side)
        if found is None:
            report.notes.append(f"knee alignment ({c.SIDE_NAMES[side]}) {how}")
            continue
        report.alignment[side] = found
        report.alignment_deg[side] = found.deg
        report.notes.append(
            f"knee alignment ({c.SIDE_NAMES[side]}) {found.deg:+.2f} deg from {how} "
            f"({found.detail})"
        )


def _turned(stream: Stream, marker_time: np.ndarray, yaw: np.ndarray) -> Stream:
    """The per-foot GRF with forces and centre-of-pressure paths in each sample's heading.

    A force is a direction: it is read in the heading of its sample. A centre of pressure is a
    position, relative to the lab's origin: turning it about that origin would move a contact
    5 m from it by 9 cm per degree. Each contact's COP path is turned about its own mean point
    instead, so the path under the foot is read in the step's heading axes while the contact
    stays where the reference frame puts it.
    """
    psi = np.interp(stream.time, marker_time, yaw)
    data = stream.data.copy()
    for side in c.SIDES:
        force = [stream.channels.index(c.grf_channel(side, ax)) for ax in ("x", "y")]
        data[:, force] = turn(data[:, force], psi)
        cop_cols = [stream.channels.index(c.cop_channel(side, ax)) for ax in ("x", "y")]
        cop = data[:, cop_cols]
        for a, b in true_runs(np.isfinite(cop).all(axis=1)):
            pivot = cop[a:b].mean(axis=0)
            cop[a:b] = pivot + turn(cop[a:b] - pivot, psi[a:b])
        data[:, cop_cols] = cop
    return replace(stream, data=data)


# --- one recording -------------------------------------------------------------------------------
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
    markers = clean_markers(rec, opts)
    time = markers.time
    report = TrialReport(source=file, trial_id=trial_id, kind="walking", gaps_filled=markers.filled)
    report.notes += markers.notes
    plates = tuple(crop_plate(p, float(time[0]), float(time[-1])) for p in rec.plates)
    rot, kind = heading(rec, markers, plates, kind, opts)
    report.kind = kind
    markers_h = heading_markers(rec, markers, rot, opts)
    yaw, stride = heading_over_time(markers_h, markers.mapping, rec.marker_rate_hz, kind)
    report.notes.append(_heading_note(yaw, stride, kind))
    body, acc = _body_and_accelerometers(rec, markers, markers_h, yaw, height_m, report)
    kin, sources = _kinematics(rec, markers.start, markers.stop, time, body, opts, report)
    streams = {c.STREAM_ACC: acc, c.STREAM_KIN: kin}
    streams[c.STREAM_GRF] = _grf(rec, plates, rot, yaw, time, body, kind, mass_kg, opts, report)
    if kind == "static":
        _static_alignment(body, report)
    extra = {
        "source_file": file,
        "importer": "gaitgrf.ingest.convert",
        "importer_version": IMPORTER_VERSION,
        "speed_mps": round(_speed(body.points["sacrum"], time, yaw), 4)
        if kind == "walking"
        else 0.0,
        "heading_rotation": np.round(rot, 6).tolist(),
        "heading_yaw_deg": np.round(np.degrees(yaw), 3).tolist(),
        "heading_stride_s": None if stride is None else round(stride, 3),
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
