"""Force plates -> per-foot GRF and centre of pressure (step 5 of `convert.convert_recording`).

Plates measure whoever stands on them; the contract wants forces per foot. Each plate's
unloaded offset is removed, its loaded runs (contacts) found, and each contact given to the
foot whose heel is nearest the centre of pressure just after contact (the foot centre for a
standing trial). A second foot landing on the same plate, or a contact no heel explains, makes
the forces unknown (NaN) rather than wrong. A walking trial with no contact on any foot is
refused; a static trial is not (it is for the markers): its forces are then unknown.
docs/importing.md section 4 has the rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from gaitgrf.core import contract as c
from gaitgrf.core.sensors import GRAVITY
from gaitgrf.ingest.formats.recording import ForcePlate, reject
from gaitgrf.ingest.options import ImportOptions
from gaitgrf.ingest.segment_model.cleaning import true_runs
from gaitgrf.ingest.segment_model.frames import Body
from gaitgrf.io.trial_file import Stream


def crop_plate(plate: ForcePlate, t0: float, t1: float) -> ForcePlate:
    """The plate's samples within [t0, t1] (the markers' span), with a nanosecond tolerance."""
    keep = (plate.time >= t0 - 1e-9) & (plate.time <= t1 + 1e-9)
    return replace(plate, time=plate.time[keep], force=plate.force[keep], cop=plate.cop[keep])


def zero_offset(plate: ForcePlate, vertical: np.ndarray) -> tuple[ForcePlate, list[float] | None]:
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
    runs = [(a, b) for a, b in true_runs(loaded) if b - a >= shortest]
    merged: list[tuple[int, int]] = []
    bridge = round(0.03 * plate.rate_hz)
    for a, b in runs:
        if merged and a - merged[-1][1] <= bridge:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def _at(time: np.ndarray, xyz: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Columns of `xyz` (sampled at `time`) linearly interpolated at `t`."""
    return np.stack([np.interp(t, time, xyz[:, k]) for k in range(xyz.shape[1])], axis=1)


@dataclass(frozen=True)
class Feet:
    """What the plates say per foot: the GRF stream and the report's contact facts."""

    stream: Stream
    contacts: list[dict[str, Any]]
    notes: list[str]
    static_load_n: float | None
    peaks: dict[str, float]


@dataclass
class _FootForces:
    """Per-foot sums over all plates on the first plate's clock, and what each contact did.

    Contacts are taken one at a time (`take_contact`), in plate order; a sample is known for a
    foot once one of its contacts (or the swing padding around it) covers it, and unknown for
    both feet where a contact could not be given to one foot.
    """

    time: np.ndarray
    body: Body
    marker_time: np.ndarray
    static: bool
    opts: ImportOptions
    #: Swing samples before and after a walking contact whose force is known to be zero.
    pad: int
    contacts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    grf: dict[str, np.ndarray] = field(init=False)
    weight: dict[str, np.ndarray] = field(init=False)
    cop_sum: dict[str, np.ndarray] = field(init=False)
    known: dict[str, np.ndarray] = field(init=False)
    unknown: np.ndarray = field(init=False)
    static_cover: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        n = self.time.size
        self.grf = {s: np.zeros((n, 3)) for s in c.SIDES}
        self.weight = {s: np.zeros(n) for s in c.SIDES}
        self.cop_sum = {s: np.zeros((n, 2)) for s in c.SIDES}
        self.known = {s: np.zeros(n, dtype=bool) for s in c.SIDES}
        self.unknown = np.zeros(n, dtype=bool)
        self.static_cover = {s: 0 for s in c.SIDES}

    def take_contact(self, plate: ForcePlate, a: int, b: int) -> None:
        """Give the contact [a, b) to a foot (or to none) and add its force to that foot."""
        time = self.time
        side, why, distances = _assign(
            plate, a, b, self.body, self.marker_time, self.static, self.opts
        )
        entry: dict[str, Any] = {
            "plate": plate.name,
            "start_s": round(float(time[a]), 4),
            "stop_s": round(float(time[b - 1]), 4),
            "foot": side,
            "heel_distance_m": distances,
        }
        if plate.declared_side is not None:
            side, why = self._with_declared_side(plate, a, side, why, distances, entry)
        entry["why"] = why
        self.contacts.append(entry)
        if side is None:
            self.unknown[a:b] = True
            self.notes.append(f"{plate.name} contact at {time[a]:.2f} s not assigned: {why}")
            return
        end = b
        if not self.static:
            end = self._single_foot_end(plate, a, b, side, entry)
        self._add(plate, side, a, end, b)

    def _with_declared_side(
        self,
        plate: ForcePlate,
        a: int,
        side: str | None,
        why: str,
        distances: dict[str, float],
        entry: dict[str, Any],
    ) -> tuple[str | None, str]:
        """Weigh the file's foot against the markers': markers win, the file breaks a tie."""
        entry["declared_foot"] = plate.declared_side
        if side is not None and side != plate.declared_side:
            self.notes.append(
                f"{plate.name} contact at {self.time[a]:.2f} s: the file says foot "
                f"{plate.declared_side!r} but the markers put the "
                f"{c.SIDE_NAMES[side]} heel on it ({why}); markers win"
            )
        elif (
            side is None
            and distances
            and (min(distances.values()) <= self.opts.heel_max_distance_m)
        ):
            # A foot is on the plate but the heels cannot tell which: the file decides.
            side = plate.declared_side
            entry["foot"] = side
            why = "markers inconclusive; the file's foot used"
        return side, why

    def _single_foot_end(
        self, plate: ForcePlate, a: int, b: int, side: str, entry: dict[str, Any]
    ) -> int:
        """Where the contact stops being one foot's: a second foot landing makes both unknown."""
        shared = _second_foot(plate, a, b, side, self.body, self.marker_time, self.opts)
        if shared is None:
            return b
        self.unknown[shared:b] = True
        entry["shared_from_s"] = round(float(self.time[shared]), 4)
        self.notes.append(
            f"{plate.name}: from {self.time[shared]:.2f} s the centre of pressure leaves "
            f"the {c.SIDE_NAMES[side]} foot (a second foot on the plate); both "
            "feet unknown until the plate unloads"
        )
        return shared

    def _add(self, plate: ForcePlate, side: str, a: int, end: int, b: int) -> None:
        """Add the plate's force over [a, end) to the foot; walking swing padding is zero."""
        sl = slice(a, end)
        fz = np.clip(np.nan_to_num(plate.force[sl, 2]), 0.0, None)
        self.grf[side][sl] += np.nan_to_num(plate.force[sl])
        self.weight[side][sl] += fz
        self.cop_sum[side][sl] += fz[:, None] * np.nan_to_num(plate.cop[sl, :2])
        self.known[side][sl] = True
        if not self.static:
            self.known[side][max(0, a - self.pad) : a] = True
            if end == b:
                self.known[side][b : b + self.pad] = True
        self.static_cover[side] += end - a

    def stream(self, rate_hz: float) -> Stream:
        """The GRF stream: force where known, COP where the foot carries load, else NaN."""
        unknown = self.unknown
        cols, names, units = [], [], []
        for side in c.SIDES:
            f = np.where(self.known[side][:, None] & ~unknown[:, None], self.grf[side], np.nan)
            w = self.weight[side]
            cop = np.where(
                (w > self.opts.contact_threshold_n)[:, None] & ~unknown[:, None],
                self.cop_sum[side] / np.where(w > 0, w, 1.0)[:, None],
                np.nan,
            )
            cols += [f, cop]
            names += [c.grf_channel(side, ax) for ax in c.AXES]
            names += [c.cop_channel(side, ax) for ax in ("x", "y")]
            units += ["N"] * 3 + ["m"] * 2
        return Stream(
            c.STREAM_GRF,
            rate_hz,
            self.time,
            tuple(names),
            np.concatenate(cols, axis=1),
            tuple(units),
        )


def _on_clock(plate: ForcePlate, time: np.ndarray) -> ForcePlate:
    """The plate resampled onto `time` (the first plate's clock) unless already on it."""
    if plate.time.size != time.size or not np.allclose(plate.time, time):
        force = _at(plate.time, plate.force, time)
        cop = _at(plate.time, plate.cop, time)
        plate = replace(plate, time=time, force=force, cop=cop)
    return plate


def _checked_peak(
    file: str, plate: ForcePlate, mass_kg: float | None, opts: ImportOptions
) -> float:
    """The plate's vertical peak (N); refused when far beyond the subject's body weight."""
    peak = float(np.nanmax(plate.force[:, 2])) if plate.time.size else 0.0
    if mass_kg is not None and peak > opts.overload_bw * mass_kg * GRAVITY:
        raise reject(
            file,
            "plate_overload",
            f"peak vertical force {peak:.0f} N is {peak / (mass_kg * GRAVITY):.1f} body "
            f"weights (limit {opts.overload_bw:g}); a calibration or unit error, or more "
            "than one person on the plate",
            channel=plate.name,
        )
    return peak


def feet_grf(
    file: str,
    plates: Sequence[ForcePlate],
    marker_time: np.ndarray,
    body: Body,
    static: bool,
    mass_kg: float | None,
    opts: ImportOptions,
) -> Feet:
    """Per-foot GRF and COP on the plates' clock, heading frame (plates already rotated)."""
    base = plates[0]
    time = base.time
    n = time.size
    pad = round(opts.swing_pad_s * base.rate_hz)
    feet = _FootForces(time, body, marker_time, static, opts, pad)
    peaks: dict[str, float] = {}
    for plate in plates:
        plate = _on_clock(plate, time)
        peaks[plate.name] = round(_checked_peak(file, plate, mass_kg, opts), 1)
        for a, b in _contacts(plate, opts):
            feet.take_contact(plate, a, b)
    if not any(e["foot"] is not None for e in feet.contacts):
        why = (
            f"no plate loaded above {opts.contact_threshold_n:g} N for "
            f"{opts.min_contact_s:g} s, or no heel within {opts.heel_max_distance_m:g} m of "
            "the centre of pressure"
        )
        if not static:
            raise reject(
                file,
                "no_foot_contact",
                f"no plate contact could be given to a foot ({why})",
                channel=",".join(p.name for p in plates),
            )
        # A static (calibration) trial needs no plate: its markers give the pose, the
        # alignment and the segment sizes. Its forces are unknown, not zero.
        feet.notes.append(
            f"static trial off the force plates ({why}): GRF unknown (NaN), no body weight "
            "measured from it"
        )
    static_load = None
    if static and all(feet.static_cover[s] >= 0.9 * n for s in c.SIDES):
        total = sum(np.nan_to_num(p.force[:, 2]) for p in plates)
        static_load = float(np.mean(np.asarray(total)))
    return Feet(feet.stream(base.rate_hz), feet.contacts, feet.notes, static_load, peaks)


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
