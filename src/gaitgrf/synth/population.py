"""Who walks in the synthetic cohort: groups, anthropometrics, alignment, speed.

Each subject draws from its own random stream (seed, subject index), so subject k is the same
person whatever the cohort size, and cohorts of different sizes share their first subjects.
Parameter sources are listed in docs/synthetic-cohort.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gaitgrf.core.config import SynthConfig
from gaitgrf.synth import variation
from gaitgrf.synth.variation import WalkPattern

GROUPS = ("healthy", "knee_oa", "post_surgery")


@dataclass(frozen=True)
class SubjectTruth:
    """Everything the generator knows about a subject, including what the CSV may hide."""

    subject_id: str
    index: int
    group: str
    sex: str
    age_years: float
    mass_kg: float
    height_m: float
    #: Hip-knee-ankle angle per side, degrees, varus negative (always known to the generator).
    hka_deg: dict[str, float]
    affected_side: str  # "left", "right" or "none"
    alignment_recorded: bool
    speed_mps: float
    accelerometer_hz: float
    #: Step width, toe-out, trunk sway, gait patterns (defaults: the core model's adult).
    pattern: WalkPattern = field(default_factory=WalkPattern)

    @property
    def affected(self) -> str | None:
        """Affected side as the contract's side code ("l"/"r"), None for healthy subjects."""
        return {"left": "l", "right": "r"}.get(self.affected_side)

    def csv_row(self, cohort_id: str) -> dict[str, object]:
        known = self.alignment_recorded
        return {
            "subject_id": self.subject_id,
            "cohort_id": cohort_id,
            "sex": self.sex,
            "age_years": round(self.age_years),
            "mass_kg": round(self.mass_kg, 1),
            "height_m": round(self.height_m, 3),
            "knee_alignment_left_deg": round(self.hka_deg["l"], 1) if known else None,
            "knee_alignment_right_deg": round(self.hka_deg["r"], 1) if known else None,
            "affected_side": self.affected_side,
            "group": self.group,
        }


def subject_rng(seed: int, index: int, purpose: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, index, purpose]))


def _group(rng: np.random.Generator, cfg: SynthConfig) -> str:
    weights = np.array([getattr(cfg.groups, g) for g in GROUPS], dtype=float)
    if weights.sum() <= 0:
        raise ValueError("synth.groups: at least one group needs a positive share")
    return str(GROUPS[rng.choice(len(GROUPS), p=weights / weights.sum())])


def _alignment(rng: np.random.Generator, group: str) -> tuple[dict[str, float], str]:
    """HKA per side and the affected side.

    Healthy adults sit slightly varus on average (about -1 deg, SD 2.5); medial knee OA is
    mostly varus (0 to -15 deg on the affected side, milder on the other); a fifth of OA knees
    are valgus (lateral OA); post-surgery knees (osteotomy/arthroplasty) end near neutral or
    slightly valgus.
    """
    if group == "healthy":
        base = rng.normal(-1.0, 2.5)
        return {"l": base + rng.normal(0, 1.0), "r": base + rng.normal(0, 1.0)}, "none"
    side = "l" if rng.random() < 0.5 else "r"
    other = "r" if side == "l" else "l"
    if group == "knee_oa":
        affected = rng.uniform(-15.0, -3.0) if rng.random() < 0.8 else rng.uniform(3.0, 10.0)
        contralateral = affected * rng.uniform(0.3, 0.8) + rng.normal(0, 1.0)
    else:  # post_surgery
        affected = rng.normal(1.5, 2.0)
        contralateral = rng.normal(-2.0, 2.5)
    hka = {side: float(np.clip(affected, -20, 15)), other: float(np.clip(contralateral, -20, 15))}
    return hka, {"l": "left", "r": "right"}[side]


def draw_subject(index: int, cfg: SynthConfig) -> SubjectTruth:
    rng = subject_rng(cfg.seed, index)
    group = _group(rng, cfg)
    sex = "female" if rng.random() < 0.5 else "male"
    # Adult stature (NCD-RisC, European adults) and BMI higher in knee OA (Felson 1988).
    height = rng.normal(1.63, 0.065) if sex == "female" else rng.normal(1.77, 0.07)
    height = float(np.clip(height, 1.45, 2.05))
    bmi = rng.normal(24.0, 3.0) if group == "healthy" else rng.normal(28.5, 4.0)
    mass = float(np.clip(bmi, 18.0, 42.0) * height**2)
    age = rng.uniform(20, 65) if group == "healthy" else rng.normal(62, 8)
    hka, affected_side = _alignment(rng, group)
    # Self-selected speed: healthy ~1.3 m/s (Bohannon 2011); knee OA slower, more so when the
    # deformity is severe.
    severity = max(abs(v) for v in hka.values())
    mean_speed = {"healthy": 1.30, "knee_oa": 1.12 - 0.01 * severity, "post_surgery": 1.10}[group]
    speed = float(np.clip(rng.normal(mean_speed, 0.12), 0.6, 1.8))
    recorded = rng.random() >= cfg.unknown_alignment_fraction
    acc_hz = float(rng.choice(np.asarray(cfg.rates.accelerometer_hz)))
    # Ages, sizes, speed conditions and walking patterns come from streams of their own, after
    # every draw above, so they changed none of the core draws of a subject.
    adult = variation.Body("adult", float(np.clip(age, 18, 90)), height, mass, speed)
    body = variation.draw_body(cfg.seed, index, group, sex, adult, cfg.variation)
    affected = {"left": "l", "right": "r"}.get(affected_side)
    pattern = variation.draw_pattern(cfg.seed, index, group, body, affected, cfg.variation)
    return SubjectTruth(
        subject_id=f"S{index + 1:03d}",
        index=index,
        group=group,
        sex=sex,
        age_years=body.age_years,
        mass_kg=body.mass_kg,
        height_m=body.height_m,
        hka_deg=hka,
        affected_side=affected_side,
        alignment_recorded=recorded,
        speed_mps=body.speed_mps,
        accelerometer_hz=acc_hz,
        pattern=pattern,
    )
