"""The embedded synthetic cohort against the contract and against walking biomechanics.

Ranges are the literature's (docs/synthetic-cohort.md, "Checks"): vertical peaks ~1.0-1.2 BW
with a mid-stance dip, anterior-posterior peaks ~0.2 BW, medio-lateral ~0.05-0.1 BW, stance
~60 % of the cycle, pelvis accelerations within about 1.5 g and tibial peaks of a few g.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.signal import detrend

from gaitgrf.core.config import ContractConfig, SynthConfig
from gaitgrf.core.sensors import GRAVITY
from gaitgrf.io.loader import Cohort, load_cohort, read_trial
from gaitgrf.io.trial_file import Trial
from gaitgrf.synth import generate_cohort

CONFIG = SynthConfig(
    cohort_id="synth-test", subjects=12, walking_trials=2, static_trials=1, trial_duration_s=8.0
)


@dataclass
class Loaded:
    cohort: Cohort
    trials: list[Trial]
    manifest: dict

    def walking(self) -> list[Trial]:
        return [t for t in self.trials if t.kind == "walking"]

    def weight(self, trial: Trial) -> float:
        return float(self.cohort.subject(trial.subject_id)["mass_kg"]) * GRAVITY


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    root = tmp_path_factory.mktemp("raw") / CONFIG.cohort_id
    manifest = generate_cohort(CONFIG, root)
    loaded = load_cohort(root, ContractConfig())
    return Loaded(loaded, [read_trial(ref) for ref in loaded.trials], manifest)


def stances(trial: Trial, side: str) -> list[tuple[float, float]]:
    events = trial.extra["synthetic"]
    hs = np.array(events[f"heel_strikes_{side}"])
    to = np.array(events[f"toe_offs_{side}"])
    return [(h, to[to > h][0]) for h in hs if np.any(to > h)]


def stance_table(data: Loaded) -> pd.DataFrame:
    rows = []
    for trial in data.walking():
        grf = trial.streams["grf"]
        bw = data.weight(trial)
        for side in ("l", "r"):
            for on, off in stances(trial, side):
                sel = (grf.time >= on) & (grf.time < off)
                fz, fx = (
                    grf.channel(f"grf_{side}_z")[sel] / bw,
                    grf.channel(f"grf_{side}_x")[sel] / bw,
                )
                fy = grf.channel(f"grf_{side}_y")[sel] / bw
                n = fz.size
                rows.append(
                    {
                        "stance_s": off - on,
                        "peak1": fz[: n // 2].max(),
                        "peak2": fz[n // 2 :].max(),
                        "dip": fz[int(0.4 * n) : int(0.6 * n)].min(),
                        "braking": -fx.min(),
                        "propulsion": fx.max(),
                        "medial": (-fy if side == "l" else fy).max(),
                    }
                )
    return pd.DataFrame(rows)


def test_cohort_passes_the_contract_loader(cohort: Loaded) -> None:
    assert cohort.cohort.cohort_id == CONFIG.cohort_id
    assert len(cohort.cohort.subjects) == CONFIG.subjects
    assert len(cohort.trials) == CONFIG.subjects * 3
    assert cohort.manifest["source"]["seed"] == CONFIG.seed


def test_streams_keep_their_own_rates(cohort: Loaded) -> None:
    for trial in cohort.trials:
        assert trial.streams["grf"].rate_hz == 1000.0
        assert trial.streams["kin"].rate_hz == 100.0
        assert trial.streams["acc"].rate_hz in CONFIG.rates.accelerometer_hz
        dt = np.diff(trial.streams["acc"].time)
        assert np.allclose(dt, 1.0 / trial.streams["acc"].rate_hz)


def test_vertical_grf_has_literature_shape(cohort: Loaded) -> None:
    table = stance_table(cohort)
    assert len(table) > 150
    assert 1.0 <= table.peak1.median() <= 1.2
    assert 1.0 <= table.peak2.median() <= 1.2
    assert table[["peak1", "peak2"]].to_numpy().min() > 0.85
    assert table[["peak1", "peak2"]].to_numpy().max() < 1.4
    assert 0.7 <= table.dip.median() <= 0.95
    assert (table.dip < table[["peak1", "peak2"]].min(axis=1)).mean() > 0.9


def test_horizontal_grf_has_literature_size(cohort: Loaded) -> None:
    table = stance_table(cohort)
    assert 0.1 <= table.braking.median() <= 0.25
    assert 0.1 <= table.propulsion.median() <= 0.25
    assert 0.04 <= table.medial.median() <= 0.1
    assert table.medial.max() < 0.16


def test_stance_time_and_fraction(cohort: Loaded) -> None:
    table = stance_table(cohort)
    assert 0.55 <= table.stance_s.median() <= 0.85
    for trial in cohort.walking():
        hs = np.array(trial.extra["synthetic"]["heel_strikes_l"])
        fraction = np.median([off - on for on, off in stances(trial, "l")]) / np.median(np.diff(hs))
        assert 0.56 <= fraction <= 0.69


def test_newton_feet_carry_body_weight(cohort: Loaded) -> None:
    """Walking averages to body weight; standing matches it almost exactly."""
    for trial in cohort.trials:
        grf = trial.streams["grf"]
        total = grf.channel("grf_l_z") + grf.channel("grf_r_z")
        tolerance = 0.03 if trial.kind == "walking" else 0.01
        assert total.mean() / cohort.weight(trial) == pytest.approx(1.0, abs=tolerance)


def test_centre_of_mass_excursion_is_realistic(cohort: Loaded) -> None:
    """Integrating (GRF / m - g) twice gives the vertical COM path: a few cm, no drift."""
    excursions = []
    for trial in cohort.walking():
        grf = trial.streams["grf"]
        mass = cohort.weight(trial) / GRAVITY
        az = (grf.channel("grf_l_z") + grf.channel("grf_r_z")) / mass - GRAVITY
        dt = 1.0 / grf.rate_hz
        vz = detrend(np.cumsum(az - az.mean()) * dt)
        z = detrend(np.cumsum(vz) * dt)
        excursions.append(np.ptp(z[1000:-1000]))
    assert 0.02 < np.median(excursions) < 0.08
    assert max(excursions) < 0.13


def accel_magnitude(trial: Trial, location: str) -> np.ndarray:
    acc = trial.streams["acc"]
    xyz = acc.select([f"acc_{location}_{ax}" for ax in "xyz"])
    return np.linalg.norm(xyz, axis=1)


def test_accelerometer_magnitudes_are_physiological(cohort: Loaded) -> None:
    for trial in cohort.walking():
        pelvis = accel_magnitude(trial, "pelvis")
        shank = np.nanmax(accel_magnitude(trial, "shank_l")) / GRAVITY
        assert 9.3 < np.nanmean(pelvis) < 10.3
        assert 1.1 < np.nanmax(pelvis) / GRAVITY < 1.9
        assert 1.3 < shank < 7.0
        thigh = np.nanmax(accel_magnitude(trial, "thigh_r")) / GRAVITY
        assert 1.1 < thigh < 3.5


def test_still_sensors_read_gravity(cohort: Loaded) -> None:
    """Standing still, every sensor reads |g|, up to its bias (0.15 m/s^2 SD per axis)."""
    readings = [
        np.nanmedian(accel_magnitude(trial, location))
        for trial in cohort.trials
        if trial.kind == "static"
        for location in ("pelvis", "thigh_l", "shank_r", "foot_l")
    ]
    assert np.all(np.abs(np.asarray(readings) - GRAVITY) < 0.65)
    assert np.mean(readings) == pytest.approx(GRAVITY, abs=0.15)


def test_dropouts_are_short_and_rare(cohort: Loaded) -> None:
    nan_fraction = np.mean([np.isnan(t.streams["acc"].data).mean() for t in cohort.trials])
    assert 0.0 < nan_fraction < 0.01


def test_knee_kinematics_show_alignment_only_partly(cohort: Loaded) -> None:
    """Measured knee adduction follows the HKA angle, but marker error keeps it imperfect."""
    subjects = cohort.cohort.subjects.set_index("subject_id")
    measured, hka = [], []
    for trial in cohort.trials:
        if trial.kind != "static":
            continue
        row = subjects.loc[trial.subject_id]
        if pd.isna(row["knee_alignment_left_deg"]):
            continue
        measured.append(np.mean(trial.streams["kin"].channel("angle_knee_l_add")))
        hka.append(row["knee_alignment_left_deg"])
    r = np.corrcoef(measured, -np.asarray(hka))[0, 1]
    assert 0.5 < r < 0.995
    for trial in cohort.walking():
        knee = trial.streams["kin"].channel("angle_knee_r_flex")
        assert 45 < knee.max() < 80 and knee.min() < 15


def test_subjects_file_keeps_unknowns_empty(tmp_path: Path) -> None:
    cfg = CONFIG.model_copy(
        update={
            "subjects": 30,
            "walking_trials": 1,
            "static_trials": 0,
            "trial_duration_s": 3.0,
            "unknown_alignment_fraction": 0.3,
        }
    )
    generate_cohort(cfg, tmp_path / "c")
    subjects = pd.read_csv(tmp_path / "c" / "subjects.csv")
    unknown = subjects.knee_alignment_left_deg.isna()
    assert 0 < unknown.sum() < 30
    assert subjects.loc[unknown, "knee_alignment_right_deg"].isna().all()
    assert set(subjects.affected_side) <= {"left", "right", "none"}
    assert (subjects.loc[subjects.group == "healthy", "affected_side"] == "none").all()


def test_generation_is_deterministic(tmp_path: Path, cohort: Loaded) -> None:
    again = generate_cohort(CONFIG, tmp_path / CONFIG.cohort_id)
    assert again["checksums"] == cohort.manifest["checksums"]
