"""Lab marker sets on the generator's moving segments, as a motion-capture system records them.

Real recordings carry markers, not accelerometers: the importer turns markers into joint angles
and virtual accelerometers (`gaitgrf.ingest.convert`). So that a model can train on inputs made
the same way, the generator can put the same markers on its own segments (`BodyMotion`), move
them through the lab with the pelvis, and hand them to the importer (`synth.marker_path`).

Two marker sets (`MARKER_SETS`): Plug-in Gait lower body (Davis et al. 1991, Vicon Plug-in Gait
Reference Guide) and the OpenCap/OpenSim set of the shared recordings (`L.ASIS`, `L_knee`,
`L_calc`, ..., with the hip centres its pipeline exports as `L_HJC`). Both name the same
landmarks, so the markers are placed once, under Plug-in Gait's names, and renamed per set.
Where they sit, in each segment's frame (x anterior, y left, z towards proximal):

* **LASI/RASI, LPSI/RPSI (or SACR)** on the pelvis. They are placed so that the Harrington et
  al. (2007) regression the importer uses puts the hip centre exactly on the generator's hip:
  the inter-ASIS width follows from the hip's lateral offset (y = 0.33 PW + 7.3 mm), the
  ASIS-PSIS depth from its anterior one, all in the plane of the pelvis' x axis. For a 1.75 m
  subject PW is 0.235 m and PD 0.145 m, within the adult ranges Harrington reports. PSIS 9 cm
  apart (scaled); SACR, when a lab uses it instead, midway between them.
* **LKNE / LANK** on the lateral femoral epicondyle and the lateral malleolus: half the knee
  (ankle) width plus the 7 mm marker radius lateral of the joint centre, along the thigh's
  (shank's) y axis: Plug-in Gait's rule read backwards. Widths scale 0.100 / 0.070 m at 1.75 m.
* **LTHI / LTIB** wand markers over the lower lateral third of thigh and shank.
* **LHEE / LTOE** on the posterior calcaneus and the second metatarsal head, at the same height
  above the sole (Plug-in Gait's instruction), so the heel-toe line is the foot's x axis.
* OpenCap only: **L_HJC**, the hip centre its model exports (about a centimetre off the true
  one, moving with the pelvis markers), and **L_5meta** on the fifth metatarsal head.

What makes them differ from the bones (sizes in `PLACEMENT_SD_M` and `ARTEFACT_RMS_M`, sources in
docs/synthetic-cohort.md):

* **placement**: a per-subject offset per marker, mm-level (palpation: Della Croce et al.
  1999, 2005), centimetre-level for the wands;
* **skin artefact**: per-sample displacement in the segment frame, a per-subject linear mix of
  the neighbouring joints' flexion (soft tissue slides with the joint: Cappozzo et al. 1996,
  Leardini et al. 2005), largest on the thigh;
* **jitter**: white noise of 0.3 mm per axis per sample (camera reconstruction; Chiari et al.
  2005).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaitgrf.core import contract as c
from gaitgrf.core.sensors import REFERENCE_HEIGHT_M
from gaitgrf.synth.kinematics import BodyMotion

PLUG_IN_GAIT = "plug_in_gait"
OPENCAP = "opencap"
#: Set -> Plug-in Gait name -> the set's name. A marker a set lacks is not recorded.
MARKER_SETS: dict[str, dict[str, str]] = {
    PLUG_IN_GAIT: {
        f"{b}{r}": f"{b}{r}"
        for b in "LR"
        for r in ("ASI", "PSI", "THI", "KNE", "TIB", "ANK", "HEE", "TOE")
    }
    | {"SACR": "SACR"},
    # As spelled in the shared OpenCap trials (left "L", right "r"; hip centres "R_HJC").
    OPENCAP: {
        f"{b}{pig}": f"{side}{name}"
        for b, side, hjc in (("L", "L", "L"), ("R", "r", "R"))
        for pig, name in (
            ("ASI", ".ASIS"),
            ("PSI", ".PSIS"),
            ("KNE", "_knee"),
            ("ANK", "_ankle"),
            ("HEE", "_calc"),
            ("TOE", "_toe"),
            ("MT5", "_5meta"),
        )
    }
    | {"LHJC": "L_HJC", "RHJC": "R_HJC"},
}
#: Plug-in Gait's 14 mm markers.
MARKER_RADIUS_M = 0.007
#: Knee and ankle widths of a 1.75 m adult (PiG KneeWidth / AnkleWidth), scaled with height.
KNEE_WIDTH_M = 0.100
ANKLE_WIDTH_M = 0.070
#: SD of the caliper measurement of a joint width; relative SD of widths between subjects.
WIDTH_SD_M = 0.003
WIDTH_SPREAD = 0.07
JITTER_SD_M = 0.0003
#: Per-subject placement SD per axis (m), by marker role.
PLACEMENT_SD_M = {
    "ASI": 0.005,
    "PSI": 0.005,
    "SACR": 0.005,
    "KNE": 0.006,
    "ANK": 0.004,
    "HEE": 0.005,
    "TOE": 0.005,
    "THI": 0.015,
    "TIB": 0.015,
    "HJC": 0.010,
    "MT5": 0.005,
}
#: RMS of the 3-D skin-artefact displacement (m) over a walking cycle, by marker role.
ARTEFACT_RMS_M = {
    "ASI": 0.003,
    "PSI": 0.003,
    "SACR": 0.003,
    "KNE": 0.006,
    "ANK": 0.003,
    "HEE": 0.002,
    "TOE": 0.002,
    "THI": 0.010,
    "TIB": 0.006,
    "HJC": 0.003,
    "MT5": 0.002,
}
#: The joint flexions that drag each role's skin (deg; normalised by a typical walking SD).
_DRIVERS = {
    "ASI": ("hip",),
    "PSI": ("hip",),
    "SACR": ("hip",),
    "KNE": ("knee", "hip"),
    "THI": ("hip", "knee"),
    "TIB": ("knee", "ankle"),
    "ANK": ("ankle", "knee"),
    "HEE": ("ankle",),
    "TOE": ("ankle",),
    "HJC": ("hip",),
    "MT5": ("ankle",),
}
_FLEX_SD_DEG = {"hip": 15.0, "knee": 20.0, "ankle": 8.0}


@dataclass(frozen=True)
class Spot:
    """Where a marker sits: `local` (m) in the frame of `segment`, from the point `anchor`."""

    role: str
    segment: str
    anchor: str
    local: np.ndarray


@dataclass(frozen=True)
class Placement:
    """What stays fixed for a subject across trials: offsets, skin mixing, measured widths."""

    use_sacrum: bool
    offset_m: dict[str, np.ndarray]
    #: Marker -> (drivers, 3) mixing of normalised joint flexions into displacement (m).
    artefact: dict[str, np.ndarray]
    #: The lab's caliper widths ('knee_l', 'ankle_r', ...; m), as C3D PROCESSING gives them.
    widths_m: dict[str, float]
    #: The subject's own knee and ankle widths (m), which place the lateral markers.
    true_widths_m: dict[str, float]


def _scale(height_m: float) -> float:
    return height_m / REFERENCE_HEIGHT_M


def _pelvis_spots(motion: BodyMotion, height_m: float, use_sacrum: bool) -> dict[str, Spot]:
    """ASIS and PSIS (or SACR) where Harrington's regression finds the generator's hip."""
    r0 = motion.rotations["pelvis"][0]
    hips = np.stack([r0.T @ motion.points[f"hip_{s}"][0] for s in c.SIDES])
    hx, hz = float(hips[:, 0].mean()), float(hips[:, 2].mean())
    hy = float(np.abs(hips[:, 1]).mean())
    width = (hy - 0.0073) / 0.33
    depth_x = (hx + 0.0099) / 0.76  # PSIS midpoint at x = 0: depth = ASIS x
    z = hz + 0.30 * width + 0.0109
    spots = {}
    for side, sign in (("l", 1.0), ("r", -1.0)):
        big = side.upper()
        spots[f"{big}ASI"] = Spot(
            "ASI", "pelvis", "origin", np.array([depth_x, sign * width / 2, z])
        )
        if not use_sacrum:
            psis = np.array([0.0, sign * 0.045 * _scale(height_m), z])
            spots[f"{big}PSI"] = Spot("PSI", "pelvis", "origin", psis)
        spots[f"{big}HJC"] = Spot("HJC", "pelvis", "origin", hips[0 if side == "l" else 1])
    if use_sacrum:
        spots["SACR"] = Spot("SACR", "pelvis", "origin", np.array([0.0, 0.0, z]))
    return spots


def _leg_spots(
    motion: BodyMotion, side: str, height_m: float, widths: dict[str, float]
) -> dict[str, Spot]:
    """Lateral knee and ankle, wands, heel and toe of one leg."""
    s = _scale(height_m)
    lat = 1.0 if side == "l" else -1.0
    big = side.upper()
    thigh = float(
        np.linalg.norm(motion.points[f"hip_{side}"][0] - motion.points[f"knee_{side}"][0])
    )
    shank = float(
        np.linalg.norm(motion.points[f"knee_{side}"][0] - motion.points[f"ankle_{side}"][0])
    )
    knee_out = 0.5 * widths[f"knee_{side}"] + MARKER_RADIUS_M
    ankle_out = 0.5 * widths[f"ankle_{side}"] + MARKER_RADIUS_M
    return {
        f"{big}KNE": Spot("KNE", f"thigh_{side}", f"knee_{side}", np.array([0, lat * knee_out, 0])),
        f"{big}THI": Spot(
            "THI", f"thigh_{side}", f"hip_{side}", np.array([0, lat * 0.10 * s, -0.65 * thigh])
        ),
        f"{big}TIB": Spot(
            "TIB", f"shank_{side}", f"knee_{side}", np.array([0, lat * 0.08 * s, -0.65 * shank])
        ),
        f"{big}ANK": Spot(
            "ANK", f"shank_{side}", f"ankle_{side}", np.array([0, lat * ankle_out, 0])
        ),
        f"{big}HEE": Spot(
            "HEE", f"foot_{side}", f"ankle_{side}", np.array([-0.055 * s, 0, -0.035 * s])
        ),
        f"{big}TOE": Spot(
            "TOE", f"foot_{side}", f"ankle_{side}", np.array([0.14 * s, 0, -0.035 * s])
        ),
        f"{big}MT5": Spot(
            "MT5",
            f"foot_{side}",
            f"ankle_{side}",
            np.array([0.115 * s, lat * 0.035 * s, -0.04 * s]),
        ),
    }


def anatomical_spots(
    motion: BodyMotion, height_m: float, widths: dict[str, float], use_sacrum: bool
) -> dict[str, Spot]:
    """Every marker's anatomical place on the subject (no placement error)."""
    spots = _pelvis_spots(motion, height_m, use_sacrum)
    for side in c.SIDES:
        spots |= _leg_spots(motion, side, height_m, widths)
    return spots


def typical_widths(height_m: float) -> dict[str, float]:
    """Knee and ankle widths (m) of an average adult of this height."""
    s = _scale(height_m)
    return {
        f"{joint}_{side}": width * s
        for joint, width in (("knee", KNEE_WIDTH_M), ("ankle", ANKLE_WIDTH_M))
        for side in c.SIDES
    }


def draw_placement(height_m: float, rng: np.random.Generator) -> Placement:
    """A subject's marker placement, artefact mixing and measured widths.

    Draws the same numbers whatever the marker set, so choosing SACR over the PSIS markers,
    or OpenCap over Plug-in Gait, does not shift the other markers' offsets.
    """
    use_sacrum = bool(rng.random() < 0.25)
    names = sorted(
        [f"{b}{r}" for b in "LR" for r in ("ASI", "PSI", "KNE", "THI", "TIB", "ANK", "HEE", "TOE")]
        + ["SACR"]
    )
    offsets, artefact = {}, {}
    for name in names:
        role = name if name == "SACR" else name[1:]
        offsets[name] = rng.normal(0.0, PLACEMENT_SD_M[role], 3)
        k = len(_DRIVERS[role])
        artefact[name] = rng.normal(0.0, ARTEFACT_RMS_M[role] / np.sqrt(3 * k), (k, 3))
    widths = {
        k: v + float(rng.normal(0.0, WIDTH_SD_M)) for k, v in typical_widths(height_m).items()
    }
    for name in ("LHJC", "LMT5", "RHJC", "RMT5"):  # after the others: their draws stay put
        offsets[name] = rng.normal(0.0, PLACEMENT_SD_M[name[1:]], 3)
        k = len(_DRIVERS[name[1:]])
        artefact[name] = rng.normal(0.0, ARTEFACT_RMS_M[name[1:]] / np.sqrt(3 * k), (k, 3))
    spread = {k: float(rng.normal(1.0, WIDTH_SPREAD)) for k in ("knee", "ankle")}
    true = {k: v * spread[k.split("_")[0]] for k, v in typical_widths(height_m).items()}
    measured = {k: true[k] + widths[k] - v for k, v in typical_widths(height_m).items()}
    return Placement(use_sacrum, offsets, artefact, measured, true)


def _artefact(
    spot: Spot, mix: np.ndarray, legs: dict[str, dict[tuple[str, str], np.ndarray]], side: str
) -> np.ndarray:
    """(n, 3) skin displacement in the segment frame: joint flexions mixed per subject."""
    drivers = np.stack(
        [
            (legs[side][(joint, "flex")] - float(np.mean(legs[side][(joint, "flex")])))
            / _FLEX_SD_DEG[joint]
            for joint in _DRIVERS[spot.role]
        ],
        axis=1,
    )
    return np.asarray(drivers @ mix)


def marker_paths(
    motion: BodyMotion,
    pelvis_world: np.ndarray,
    legs: dict[str, dict[tuple[str, str], np.ndarray]],
    height_m: float,
    placement: Placement,
    marker_set: str = PLUG_IN_GAIT,
) -> dict[str, np.ndarray]:
    """Heading-frame (n, 3) trajectories of a marker set, named as the set names them.

    `pelvis_world` is the pelvis origin's path through the lab (m); everything in `motion` is
    relative to it. Placement offsets and skin artefact are added here; jitter is a property of
    the cameras and is added after sampling (`jitter`).
    """
    names = MARKER_SETS[marker_set]
    use_sacrum = placement.use_sacrum and marker_set == PLUG_IN_GAIT
    spots = anatomical_spots(motion, height_m, placement.true_widths_m, use_sacrum)
    out = {}
    for name, spot in spots.items():
        if name not in names:
            continue
        rot = motion.rotations[spot.segment]
        side = name[0].lower() if name != "SACR" else "l"
        local = (
            spot.local
            + placement.offset_m[name]
            + _artefact(spot, placement.artefact[name], legs, side)
        )
        anchor = 0.0 if spot.anchor == "origin" else motion.points[spot.anchor]
        out[names[name]] = pelvis_world + anchor + np.einsum("nij,nj->ni", rot, local)
    return out


def jitter(markers: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Camera reconstruction noise, independent per marker, axis and sample."""
    return {k: v + rng.normal(0.0, JITTER_SD_M, v.shape) for k, v in sorted(markers.items())}
