"""Training inputs computed from simulated markers through the importer, as a lab's are.

A lab recording has markers and force plates; `gaitgrf.ingest.convert.convert_recording` turns
its markers into joint angles (segment model) and virtual accelerometers. A subject on this path
gets the same: the generator's segments carry a lab's markers (`synth.markers`: Plug-in Gait, or
the OpenCap set in OpenSim's Y-up lab frame, one of `synth.marker_sets` per subject), the pelvis
travels through the lab as Newton says it must, the markers are sampled at the motion-capture
rate, packed into an ingest `Recording` (no plates: the generator's own force plates stay the
target) and converted by the importer itself. Its `acc` and `kin` streams replace the direct
ones; the GRF stream, the events and every other draw of the trial are unchanged, so switching a
subject's path changes only its inputs.

Which subjects take this path is `synth.marker_fraction`, decided per subject from a random
stream of its own (`INPUT_PATH_PURPOSE`), so the other draws of every subject stay as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.integrate import cumulative_trapezoid
from scipy.signal import detrend

from gaitgrf.core import contract as c
from gaitgrf.core.config import SynthConfig
from gaitgrf.ingest.convert import IMPORTER_VERSION, convert_recording
from gaitgrf.ingest.formats.recording import Recording
from gaitgrf.ingest.options import ImportOptions
from gaitgrf.io.trial_file import Trial
from gaitgrf.synth import markers as mk
from gaitgrf.synth.gait import Forces
from gaitgrf.synth.kinematics import BodyMotion
from gaitgrf.synth.newton import body_accelerations
from gaitgrf.synth.population import SubjectTruth, subject_rng

#: Random-stream purposes of this path, far from those of `trials` and `population`.
INPUT_PATH_PURPOSE = 101
PLACEMENT_PURPOSE = 102
MARKER_SET_PURPOSE = 103
MARKER_TRIAL_BASE = 3000
PATH_MARKERS = "markers"
PATH_SENSORS = "sensors"
#: Ankle height above the sole, fraction of stature (Winter 2009): puts the feet on the floor.
ANKLE_HEIGHT_FRACTION = 0.039
#: Heading frame -> OpenSim's lab frame (x forward, y up, z to the right), rows = lab axes.
_OPENSIM_LAB = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


@dataclass(frozen=True)
class TrialMotion:
    """What the generator simulated for one trial, on its 1 kHz padded clock."""

    t: np.ndarray
    motion: BodyMotion
    forces: Forces
    legs: dict[str, dict[tuple[str, str], np.ndarray]]
    speed_mps: float


def uses_markers(cfg: SynthConfig, subject_index: int) -> bool:
    """Whether a subject's inputs come from markers; the same answer for all its trials."""
    draw = subject_rng(cfg.seed, subject_index, INPUT_PATH_PURPOSE).random()
    return bool(draw < cfg.marker_fraction)


def marker_set_of(cfg: SynthConfig, subject_index: int) -> str:
    """The marker set of a marker-path subject's lab, one of `cfg.marker_sets`."""
    sets = cfg.marker_sets
    pick = subject_rng(cfg.seed, subject_index, MARKER_SET_PURPOSE).integers(len(sets))
    return str(sets[int(pick)])


def pelvis_acceleration(sim: TrialMotion, mass_kg: float) -> np.ndarray:
    """World acceleration of the pelvis (n, 3): what Newton leaves after the limbs
    (`synth.newton.body_accelerations`, the balance the direct sensor model uses too)."""
    return np.asarray(body_accelerations(sim.t, sim.motion, sim.forces, mass_kg)[0])


def pelvis_path(sim: TrialMotion, subject: SubjectTruth) -> np.ndarray:
    """The pelvis origin's path through the lab (n, 3): forward travel plus Newton's sway.

    The acceleration is integrated twice; each integral loses its linear trend, since the
    generator's subject walks at a steady mean speed and height (a treadmill's drift is not
    information). The forward travel at the trial's speed is added on x, and the height puts
    the ankles an ankle height above the floor.
    """
    acc = pelvis_acceleration(sim, subject.mass_kg)
    vel = detrend(cumulative_trapezoid(acc, sim.t, axis=0, initial=0.0), axis=0)
    pos = detrend(cumulative_trapezoid(vel, sim.t, axis=0, initial=0.0), axis=0)
    pos[:, 0] += sim.speed_mps * sim.t
    ankles = np.concatenate([sim.motion.points[f"ankle_{s}"][:, 2] for s in c.SIDES])
    pos[:, 2] += ANKLE_HEIGHT_FRACTION * subject.height_m - float(np.min(ankles))
    return pos


def _sample(t_src: np.ndarray, x: np.ndarray, t_dst: np.ndarray) -> np.ndarray:
    return np.stack([np.interp(t_dst, t_src, x[:, j]) for j in range(x.shape[1])], axis=1)


def lab_recording(
    sim: TrialMotion,
    subject: SubjectTruth,
    placement: mk.Placement,
    rate_hz: float,
    duration_s: float,
    rng: np.random.Generator,
    source: str,
    marker_set: str = mk.PLUG_IN_GAIT,
) -> Recording:
    """The trial as a motion-capture system would deliver it: markers only, lab frame.

    A Plug-in Gait lab is z-up and records the caliper joint widths (C3D PROCESSING); an
    OpenSim export is y-up, says so (`lab_up`, as the .trc reader does) and has no widths.
    """
    paths = mk.marker_paths(
        sim.motion, pelvis_path(sim, subject), sim.legs, subject.height_m, placement, marker_set
    )
    time = np.arange(0.0, duration_s, 1.0 / rate_hz)
    sampled = mk.jitter({k: _sample(sim.t, v, time) for k, v in paths.items()}, rng)
    opensim = marker_set == mk.OPENCAP
    if opensim:
        sampled = {k: v @ _OPENSIM_LAB.T for k, v in sampled.items()}
    return Recording(
        source=source,
        marker_rate_hz=rate_hz,
        marker_time=time,
        markers=sampled,
        plates=(),
        mass_kg=subject.mass_kg,
        height_m=subject.height_m,
        lab_up=np.array([0.0, 1.0, 0.0]) if opensim else None,
        info={} if opensim else {"joint_widths_m": dict(placement.widths_m)},
    )


def marker_inputs(
    trial: Trial, sim: TrialMotion, subject: SubjectTruth, cfg: SynthConfig, trial_index: int
) -> Trial:
    """`trial` with its acc and kin streams replaced by the importer's, from simulated markers."""
    placement = mk.draw_placement(
        subject.height_m, subject_rng(cfg.seed, subject.index, PLACEMENT_PURPOSE)
    )
    rng = subject_rng(cfg.seed, subject.index, MARKER_TRIAL_BASE + trial_index)
    duration = cfg.trial_duration_s if trial.kind == "walking" else cfg.static_duration_s
    marker_set = marker_set_of(cfg, subject.index)
    rec = lab_recording(
        sim,
        subject,
        placement,
        cfg.rates.kinematics_hz,
        duration,
        rng,
        f"synthetic:{trial.trial_id}",
        marker_set,
    )
    imported, _, _ = convert_recording(
        rec,
        trial_id=trial.trial_id,
        subject_id=trial.subject_id,
        cohort_id=trial.cohort_id,
        kind=trial.kind,
        height_m=subject.height_m,
        options=ImportOptions(require_grf=False),
    )
    streams = dict(trial.streams)
    for name in (c.STREAM_ACC, c.STREAM_KIN):
        streams[name] = imported.streams[name]
    inputs = {
        "path": PATH_MARKERS,
        "marker_set": marker_set,
        "pelvis_back_markers": "SACR" if "SACR" in rec.markers else "PSIS",
        "importer": "gaitgrf.ingest.convert",
        "importer_version": IMPORTER_VERSION,
        "joint_centres": imported.extra["joint_centres"],
    }
    return replace(trial, streams=streams, extra={**trial.extra, "inputs": inputs})


def choose_inputs(
    trial: Trial, sim: TrialMotion, subject: SubjectTruth, cfg: SynthConfig, trial_index: int
) -> Trial:
    """The trial on its subject's input path, which its metadata names (`extra.inputs.path`)."""
    if uses_markers(cfg, subject.index):
        return marker_inputs(trial, sim, subject, cfg, trial_index)
    return replace(trial, extra={**trial.extra, "inputs": {"path": PATH_SENSORS}})
