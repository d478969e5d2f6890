"""The data sections of `params.yaml`: paths, synth, contract, validate, resample, fuse."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from gaitgrf.core import contract as c
from gaitgrf.core.config.base import Section, _check_pair


class PathsConfig(Section):
    """Every path the pipeline uses, relative to the project root, written once here."""

    raw: Path = Path("data/raw")
    incoming: Path = Path("data/incoming")
    validated: Path = Path("data/validated")
    resampled: Path = Path("data/resampled")
    fused: Path = Path("data/fused")
    tuned: Path = Path("data/tuned")
    reports: Path = Path("reports")
    #: State stores that outlive pipeline runs (never DVC outputs, never in git): the Optuna
    #: studies, the MLflow tracking/registry database and MLflow's artifact folder.
    optuna_db: Path = Path("optuna.db")
    mlflow_db: Path = Path("mlflow.db")
    mlflow_artifacts: Path = Path("mlartifacts")


class RatesConfig(Section):
    force_hz: float = Field(1000.0, gt=0)
    kinematics_hz: float = Field(100.0, gt=0)
    #: One device rate is drawn per subject, so a cohort mixes sensor systems.
    accelerometer_hz: tuple[float, ...] = (148.148, 200.0)


class GroupMix(Section):
    healthy: float = Field(0.45, ge=0)
    knee_oa: float = Field(0.40, ge=0)
    post_surgery: float = Field(0.15, ge=0)


class VariationConfig(Section):
    """Domain randomisation wide enough to cover what real labs record.

    Sizes and sources are in docs/synthetic-cohort.md ("Variation"). Every share is a
    probability per subject; setting one to 0 turns that variation off.
    """

    #: Share of healthy subjects who are children (6-17 years, CDC growth norms).
    child_fraction: float = Field(0.2, ge=0, le=1)
    #: Share of healthy subjects who are older adults (65-85 years: slower, shorter steps).
    older_fraction: float = Field(0.25, ge=0, le=1)
    #: Share of subjects asked to walk slowly or fast instead of at their own pace.
    speed_condition_fraction: float = Field(0.2, ge=0, le=1)
    #: Bounds of a subject's walking speed, m/s.
    speed_range_mps: tuple[float, float] = (0.5, 2.0)
    #: Step width of an adult (mean, SD) in metres; scaled with height for children.
    step_width_m: tuple[float, float] = (0.10, 0.025)
    #: Foot progression angle (mean, SD) in degrees, toe-out positive.
    foot_progression_deg: tuple[float, float] = (7.0, 5.0)
    #: Amplitude range of lateral trunk sway relative to the pelvis (degrees, once per stride).
    trunk_sway_deg: tuple[float, float] = (2.0, 5.0)
    #: Amplitude range of fore-aft trunk sway relative to the pelvis (degrees, once per step).
    trunk_pitch_deg: tuple[float, float] = (0.5, 1.5)
    #: Share of knee OA and post-surgery subjects who walk stiff-kneed on the affected side.
    stiff_knee_fraction: float = Field(0.3, ge=0, le=1)
    #: Share of knee OA and post-surgery subjects with a marked antalgic (pain-avoiding) gait.
    antalgic_fraction: float = Field(0.3, ge=0, le=1)

    @model_validator(mode="after")
    def _check_ranges(self) -> VariationConfig:
        if self.child_fraction + self.older_fraction > 1.0:
            raise ValueError("child_fraction + older_fraction must not exceed 1")
        _check_pair(self.speed_range_mps, "speed_range_mps", 0.3, 2.5)
        _check_pair(self.trunk_sway_deg, "trunk_sway_deg", 0.0, 10.0)
        _check_pair(self.trunk_pitch_deg, "trunk_pitch_deg", 0.0, 5.0)
        width, width_sd = self.step_width_m
        if not (0.02 <= width <= 0.3 and 0.0 <= width_sd <= 0.1):
            raise ValueError("step_width_m must be (mean 0.02-0.3 m, SD 0-0.1 m)")
        angle, angle_sd = self.foot_progression_deg
        if not (-20.0 <= angle <= 30.0 and 0.0 <= angle_sd <= 15.0):
            raise ValueError("foot_progression_deg must be (mean -20..30 deg, SD 0-15 deg)")
        return self


class SynthConfig(Section):
    """The embedded synthetic cohort (docs/synthetic-cohort.md)."""

    cohort_id: str = "synth-default"
    subjects: int = Field(40, ge=1, le=10_000)
    seed: int = 20250
    walking_trials: int = Field(4, ge=1)
    static_trials: int = Field(1, ge=0)
    trial_duration_s: float = Field(10.0, gt=2.0, le=600.0)
    static_duration_s: float = Field(3.0, gt=0.5)
    groups: GroupMix = GroupMix()
    rates: RatesConfig = RatesConfig()
    #: Fraction of subjects whose knee alignment is not recorded (left empty, never invented).
    unknown_alignment_fraction: float = Field(0.1, ge=0, le=1)
    #: Probability that an accelerometer drops out briefly (NaN run) in a trial.
    dropout_probability: float = Field(0.15, ge=0, le=1)
    #: Share of subjects whose joint angles and accelerometers are computed from simulated
    #: Plug-in Gait markers through the importer (as a lab recording's are) instead of the
    #: direct sensor model; decided per subject (docs/synthetic-cohort.md, section 8).
    marker_fraction: float = Field(0.0, ge=0, le=1)
    #: The labs' marker sets of those subjects, one drawn per subject.
    marker_sets: tuple[Literal["plug_in_gait", "opencap"], ...] = Field(
        ("plug_in_gait",), min_length=1
    )
    #: Who walks how beyond the core model: ages, speeds, step width, toe-out, trunk, patterns.
    variation: VariationConfig = VariationConfig()

    @model_validator(mode="after")
    def _check_id(self) -> SynthConfig:
        if not c.COHORT_ID_PATTERN.match(self.cohort_id):
            raise ValueError(
                f"cohort_id {self.cohort_id!r} must match {c.COHORT_ID_PATTERN.pattern}"
            )
        return self


class ContractConfig(Section):
    """Tolerances of the cohort loader (docs/data-contract.md, 'Rules')."""

    #: Longest run of missing samples a required channel may have before the trial is refused.
    max_nan_run_s: float = Field(0.1, gt=0)
    #: Allowed relative difference between the declared and the measured sampling rate.
    rate_tolerance: float = Field(0.01, gt=0, lt=0.5)
    #: Check file checksums against the manifest (slower on huge cohorts, on by default).
    verify_checksums: bool = True


class ValidateConfig(Section):
    """Great Expectations checks of the validate stage (docs/validation.md)."""

    #: The stage fails when more than this share of trials is quarantined.
    max_fail_fraction: float = Field(0.2, ge=0, le=1)
    #: Largest vertical GRF of a walking trial, in body weights.
    grf_peak_bw: tuple[float, float] = (0.8, 2.0)
    #: Median stance duration of a walking trial from the force plates, seconds.
    stance_s: tuple[float, float] = (0.35, 1.5)
    #: |mean vertical force while standing / (m g) - 1| allowed in static trials.
    static_weight_tolerance: float = Field(0.05, gt=0, lt=1)
    #: Fraction of accelerometer samples allowed at the sensor's saturation (clipping).
    max_clipped_fraction: float = Field(0.001, ge=0, le=1)
    #: Accelerometer magnitude |a| in g: median of a trial must fall inside.
    acc_median_g: tuple[float, float] = (0.7, 1.4)
    #: Standard deviation of the pelvis accelerometer magnitude, m/s^2 (a dead sensor is flat).
    acc_min_std: float = Field(0.05, ge=0)
    #: Share of missing samples allowed per required channel.
    max_nan_fraction: float = Field(0.05, ge=0, le=1)
    #: Joint angles beyond this absolute value (deg) are not physiological.
    max_abs_angle_deg: float = Field(180.0, gt=0)
    #: Trials longer than this are refused: lab trials are short; longer ones are usually a
    #: concatenation or an export error.
    max_duration_s: float = Field(90.0, gt=0)


class FilterConfig(Section):
    order: int = Field(4, ge=1, le=8)
    #: Low-pass cut-off per channel family (Hz), zero-lag (filtered forwards and backwards).
    cutoff_hz: dict[str, float] = {  # noqa: RUF012 (a pydantic field: copied per instance)
        "accelerometer": 20.0,
        "joint_angle": 6.0,
        "grf": 20.0,
        "cop": 10.0,
    }

    @model_validator(mode="after")
    def _known_families(self) -> FilterConfig:
        families = sorted(f.name for f in c.CHANNEL_FAMILIES)
        unknown = sorted(set(self.cutoff_hz) - set(families))
        if unknown:
            raise ValueError(f"unknown channel famil(ies) {unknown} (valid: {', '.join(families)})")
        bad = sorted(k for k, v in self.cutoff_hz.items() if not v > 0)
        if bad:
            raise ValueError(f"cut-offs must be positive (Hz): {bad}")
        return self


class EventsConfig(Section):
    #: Vertical force above which a foot is on the plate (N).
    force_threshold_n: float = Field(20.0, gt=0)
    min_stance_s: float = Field(0.25, gt=0)
    max_stance_s: float = Field(1.6, gt=0)


class WindowConfig(Section):
    length_s: float = Field(1.0, gt=0)
    stride_s: float = Field(0.5, gt=0)


class ResampleConfig(Section):
    #: Common time base for every channel (Hz).
    rate_hz: float = Field(100.0, gt=0)
    filter: FilterConfig = FilterConfig()
    events: EventsConfig = EventsConfig()
    #: Which sample layouts to build: stance-normalised and/or continuous windows.
    layouts: tuple[str, ...] = ("stance", "window")
    stance_points: int = Field(101, ge=11)
    window: WindowConfig = WindowConfig()

    @model_validator(mode="after")
    def _below_nyquist(self) -> ResampleConfig:
        """Every cut-off must lie below the common grid's Nyquist frequency (rate_hz / 2).

        Filters run at each stream's native rate, but the result is sampled at `rate_hz`: any
        content the filter lets through above rate_hz / 2 folds back (aliases) onto the grid.
        """
        from gaitgrf.core.samples import LAYOUTS

        unknown = sorted(set(self.layouts) - set(LAYOUTS))
        if unknown:
            raise ValueError(f"unknown layout(s) {unknown} (valid: {', '.join(LAYOUTS)})")
        nyquist = self.rate_hz / 2
        above = {k: v for k, v in self.filter.cutoff_hz.items() if v >= nyquist}
        if above:
            raise ValueError(
                f"filter.cutoff_hz {above} at or above the Nyquist frequency {nyquist:g} Hz of "
                f"rate_hz {self.rate_hz:g}: lower the cut-off or raise rate_hz"
            )
        return self


class FuseConfig(Section):
    #: Accelerometer locations used as model inputs (ipsi/contra expand to both legs).
    sensors: tuple[str, ...] = ("pelvis", "thigh", "shank")
    #: Joint angles used as model inputs, as joint_plane (both legs). Sagittal only by default:
    #: labs define the frontal and transverse angles differently (Plug-in Gait, OpenSim IK, a
    #: segment model), and a model trained on one definition met the others 2-6 SDs away;
    #: flexion agrees across them (docs/inference.md, "Diagnosis").
    kinematics: tuple[str, ...] = ("hip_flex", "knee_flex", "ankle_flex")
    #: Add the Newton estimate (per foot and total, BW; gaitgrf.physics) to every condition's
    #: inputs, so a network learns the residual and the split rather than the whole force.
    physics: bool = False
    #: Static feature groups per condition: knee_alignment, affected_side, stance_side,
    #: anthropometrics. `base` must stay empty: it is the no-subject-feature baseline.
    conditions: dict[str, tuple[str, ...]] = {  # noqa: RUF012 (a pydantic field: copied per instance)
        "base": (),
        "subject": ("knee_alignment", "affected_side", "stance_side"),
    }

    @model_validator(mode="after")
    def _known_names(self) -> FuseConfig:
        """Sensor, joint-angle and feature-group names exist, `base` has none (at load)."""
        from gaitgrf.core import samples as s

        problems = []
        for what, given, valid in (
            ("sensor location(s)", self.sensors, tuple(s.SENSOR_LOCATIONS)),
            ("joint angle(s)", self.kinematics, s.KINEMATIC_NAMES),
            (
                "feature group(s)",
                [g for gs in self.conditions.values() for g in gs],
                s.STATIC_GROUPS,
            ),
        ):
            unknown = sorted(set(given) - set(valid))
            if unknown:
                problems.append(f"unknown {what} {unknown} (valid: {', '.join(valid)})")
        if not self.sensors and not self.kinematics:
            problems.append("no input channel selected: sensors and kinematics are both empty")
        if not self.conditions:
            problems.append("conditions is empty: configure at least the base condition")
        bad = [n for n in self.conditions if not c.COHORT_ID_PATTERN.match(n)]
        if bad:
            problems.append(f"condition name(s) {bad} must match {c.COHORT_ID_PATTERN.pattern}")
        if self.conditions.get(s.BASE_CONDITION):
            problems.append(f"condition {s.BASE_CONDITION!r} must have no static features")
        if problems:
            raise ValueError("; ".join(problems))
        return self
