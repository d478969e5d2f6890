"""A real straight walk carried round a circle arc, for the heading frame's tests.

Real curved walks with plates are not in the shared data, and a synthetic walker would have to
get every marker and force right; instead a straight recording is bent: at every instant the
whole body (markers, centres of pressure) is moved rigidly so that its progress along the
walkway becomes arc length on a circle of radius `radius_m`, and rotated to the circle's
tangent there. Forces are turned with it. Within each sample nothing changes shape, so the
plates land under the same heels and the joint angles stay the same, and the ground reaction
in the walker's own frame is known exactly: the straight walk's.

Importable from any test folder (tests/conftest.py puts this folder on sys.path).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from gaitgrf.ingest.formats.recording import Recording
from gaitgrf.ingest.segment_model.markers import match_markers


class _Walkway:
    """The straight walk's lab axes: up (the plates' mean force), forward (the pelvis' horizontal
    displacement over the trial), left; and where the pelvis started."""

    def __init__(self, rec: Recording) -> None:
        total = sum(np.nansum(p.force, axis=0) for p in rec.plates)
        k = int(np.argmax(np.abs(total)))
        self.up = np.zeros(3)
        self.up[k] = np.sign(total[k])
        mapping, _ = match_markers(rec.markers)
        pelvis = mapping.pelvis_centre(rec.markers)
        ok = np.isfinite(pelvis).all(axis=1)
        seen = pelvis[ok]
        forward = seen[-1] - seen[0]
        forward -= np.dot(forward, self.up) * self.up
        self.fwd = forward / np.linalg.norm(forward)
        self.left = np.cross(self.up, self.fwd)
        self.origin = seen[0] - np.dot(seen[0], self.up) * self.up
        along = (pelvis - self.origin) @ self.fwd
        #: Progress along the walkway at each marker sample (m), gaps bridged.
        self.progress = np.interp(rec.marker_time, rec.marker_time[ok], along[ok])

    def turn(self, v: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Vectors (n, 3) rotated about up by theta (n,), towards left."""
        a, b = v @ self.fwd, v @ self.left
        c, si = np.cos(theta), np.sin(theta)
        return (
            (c * a - si * b)[:, None] * self.fwd
            + (si * a + c * b)[:, None] * self.left
            + (v @ self.up)[:, None] * self.up
        )

    def carry(
        self, points: np.ndarray, s: np.ndarray, radius_m: float, straight_m: float
    ) -> np.ndarray:
        """Points (n, 3) moved rigidly, sample by sample, so that progress s becomes distance
        along the path (straight for `straight_m`, then the circle) and the walkway's forward
        its tangent there."""
        theta = self.theta(s, radius_m, straight_m)
        on_path = (
            self.origin
            + np.minimum(s, straight_m)[:, None] * self.fwd
            + (radius_m * np.sin(theta))[:, None] * self.fwd
            + (radius_m * (1.0 - np.cos(theta)))[:, None] * self.left
        )
        rel = points - self.origin - s[:, None] * self.fwd
        return on_path + self.turn(rel, theta)

    @staticmethod
    def theta(s: np.ndarray, radius_m: float, straight_m: float) -> np.ndarray:
        """How far the path has turned (rad) at progress s."""
        return np.maximum(s - straight_m, 0.0) / radius_m


def carry_round_arc(
    rec: Recording, radius_m: float, straight_fraction: float = 0.0
) -> tuple[Recording, np.ndarray]:
    """The recording walked straight for `straight_fraction` of its length, then on a circle
    of radius `radius_m` (> 0 turns left, < 0 right).

    Also returns the turn of the walker's frame (rad) at each marker sample.
    """
    way = _Walkway(rec)
    s = way.progress
    straight = straight_fraction * float(s[-1])
    markers = {name: way.carry(xyz, s, radius_m, straight) for name, xyz in rec.markers.items()}
    plates = []
    for plate in rec.plates:
        sp = np.interp(plate.time, rec.marker_time, s)
        plates.append(
            replace(
                plate,
                force=way.turn(plate.force, way.theta(sp, radius_m, straight)),
                cop=way.carry(plate.cop, sp, radius_m, straight),
            )
        )
    bent = replace(rec, markers=markers, plates=tuple(plates), source=f"{rec.source}#arc")
    return bent, way.theta(s, radius_m, straight)


def write_table(rec: Recording, folder: Path, up: str) -> Path:
    """The recording as a CSV export with its mapping (metres, force on the body), plates
    resampled onto the markers' clock: a table has one clock."""
    columns: dict[str, np.ndarray] = {"Time": rec.marker_time}
    markers = {}
    for name, xyz in rec.markers.items():
        cols = [f"{name}:{ax}" for ax in "XYZ"]
        columns |= dict(zip(cols, xyz.T, strict=True))
        markers[name] = cols
    plates = []
    for i, plate in enumerate(rec.plates, start=1):
        spec = {"force": [f"F{i}{ax}" for ax in "xyz"], "cop": [f"C{i}{ax}" for ax in "xyz"]}
        for key, values in (("force", plate.force), ("cop", plate.cop)):
            at = [np.interp(rec.marker_time, plate.time, col) for col in values.T]
            columns |= dict(zip(spec[key], at, strict=True))
        plates.append(spec)
    mapping = {
        "time": {"column": "Time", "unit": "s"},
        "units": {"length": "m", "force": "N", "angle": "deg"},
        "force_on": "body",
        "up": up,
        "markers": markers,
        "plates": plates,
    }
    folder.mkdir(parents=True, exist_ok=True)
    table = folder / "arc.csv"
    pd.DataFrame(columns).to_csv(table, index=False)
    (folder / "mapping.yaml").write_text(yaml.safe_dump(mapping))
    return table
