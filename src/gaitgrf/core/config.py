"""Typed, frozen configuration mirroring `params.yaml`, one model per section.

Unknown keys are rejected so that a typo in params.yaml fails loudly instead of silently falling
back to a default. The library receives these objects; only entry points (stages, CLI, flows)
read the YAML file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gaitgrf.core import contract as c
from gaitgrf.core.cron import check_cron
from gaitgrf.core.errors import GaitGrfError

#: A study's name, `<architecture>__<condition>` (`pipeline.tune.study.study_name`).
STUDY_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_]*__[a-z][a-z0-9_]*$")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


def _check_pair(value: tuple[float, float], name: str, lo: float, hi: float) -> None:
    """Refuse a (low, high) range that is reversed or leaves the plausible [lo, hi]."""
    if not lo <= value[0] <= value[1] <= hi:
        raise ValueError(f"{name} {value} must be (low, high) with {lo} <= low <= high <= {hi}")


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
    cutoff_hz: dict[str, float] = {
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
    conditions: dict[str, tuple[str, ...]] = {
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


class PretrainedConfig(Section):
    """ImageNet weights for the image backbones (resnet50, inception_v3), as in the study."""

    enabled: bool = False
    #: Folder holding torchvision checkpoint files; None: torch's hub cache ($TORCH_HOME).
    weights_dir: Path | None = None


class ModelsConfig(Section):
    """The model zoo (docs/models.md)."""

    architectures: tuple[str, ...] = (
        "mlp",
        "cnn1d",
        "cnn2d",
        "lstm",
        "bilstm",
        "gru",
        "cnn1d_lstm",
        "cnn2d_lstm",
        "resnet50",
        "inception_v3",
    )
    pretrained: PretrainedConfig = PretrainedConfig()

    @model_validator(mode="after")
    def _known(self) -> ModelsConfig:
        from gaitgrf.models import REGISTRY

        unknown = [a for a in self.architectures if a not in REGISTRY]
        if unknown:
            raise ValueError(f"unknown architecture(s) {unknown}; registered: {list(REGISTRY)}")
        return self


class BudgetConfig(Section):
    """How much compute one Optuna study may spend (docs/tuning.md, "Budget")."""

    #: Trials (completed + pruned) a study stops at; a resumed study only runs what is missing.
    n_trials: int = Field(3, ge=1)
    #: Opt-in wall time after which a study starts no new trial (seconds; None: no limit). Off by
    #: default: with it, how many trials run depends on the machine's load, so the same params,
    #: data and code would not give the same results.
    timeout_s: float | None = Field(None, gt=0)
    epochs: int = Field(4, ge=1)
    #: Early stopping: epochs without a better validation loss before a fold stops (0: never).
    patience: int = Field(2, ge=0)
    #: How many of the k folds one trial trains (None: all k); the trial's score is their mean.
    folds_used: int | None = Field(None, ge=1)
    #: Training samples drawn (from the training subjects only) per fold; None: all.
    max_train_samples: int | None = Field(512, ge=8)
    #: Validation samples drawn per fold; None: all.
    max_val_samples: int | None = Field(384, ge=8)
    #: Epochs of the final refit on all tuning subjects; None: the best trial's best epoch + 1.
    refit_epochs: int | None = Field(None, ge=1)
    #: Samples of the refit (drawn from all tuning subjects); None: all.
    max_refit_samples: int | None = Field(1536, ge=8)


class PrunerConfig(Section):
    """Optuna MedianPruner on the per-epoch validation loss."""

    startup_trials: int = Field(2, ge=0)
    warmup_epochs: int = Field(1, ge=0)


#: Today's smoke-sized budget: all twenty studies in about 15 minutes on 2 CPU cores.
SMOKE_BUDGET: Final[dict[str, Any]] = {
    "n_trials": 3,
    "timeout_s": None,
    "epochs": 4,
    "patience": 2,
    "folds_used": None,
    "max_train_samples": 512,
    "max_val_samples": 384,
    "refit_epochs": None,
    "max_refit_samples": 1536,
}
#: The smoke profile's cut for the ImageNet backbones (24 M parameters, ~100x a custom network
#: per sample on a CPU): one short trial on one fold keeps them in the 15 minutes.
SMOKE_BACKBONE: Final[dict[str, Any]] = {
    "n_trials": 1,
    "timeout_s": None,
    "epochs": 1,
    "folds_used": 1,
    "max_train_samples": 192,
    "max_val_samples": 128,
    "refit_epochs": 1,
    "max_refit_samples": 256,
}
#: The comparison's budget: every architecture alike, trained until early stopping, all data.
STUDY_BUDGET: Final[dict[str, Any]] = {
    "n_trials": 20,
    "timeout_s": None,
    "epochs": 60,
    "patience": 8,
    "folds_used": None,
    "max_train_samples": None,
    "max_val_samples": None,
    "refit_epochs": None,
    "max_refit_samples": None,
}
_ARCHITECTURES: Final = ModelsConfig.model_fields["architectures"].default


class BudgetProfile(Section):
    """A named budget: the shared `budget` and per-architecture `overrides` (docs/tuning.md).

    `fair: true` promises a comparison: every architecture gets the same effective budget, so an
    override may not set any budget key to another value than `budget`'s (checked at load).
    """

    #: Every architecture's effective budget must equal `budget` (no per-architecture cut).
    fair: bool = False
    budget: BudgetConfig = BudgetConfig()
    #: Per-architecture changes to `budget`, one entry per architecture (`{}`: none): each DVC
    #: tune stage depends on its own `tune.profiles.<profile>.overrides.<arch>` only (dvc.yaml),
    #: and DVC refuses a key params.yaml lacks.
    overrides: dict[str, dict[str, Any]] = {}

    def budget_for(self, arch: str) -> BudgetConfig:
        """The budget of `arch`: `budget` with the architecture's overrides applied."""
        return BudgetConfig.model_validate(
            {**self.budget.model_dump(), **self.overrides.get(arch, {})}
        )

    def unfair_keys(self, name: str) -> list[str]:
        """`tune.profiles.<name>.overrides.<arch>.<key>` of every override that gives one
        architecture another budget than the rest (what a fair profile refuses)."""
        shared = self.budget.model_dump()
        return [
            f"tune.profiles.{name}.overrides.{arch}.{key} = {value!r} "
            f"(budget.{key} = {shared[key]!r})"
            for arch, entry in self.overrides.items()
            for key, value in entry.items()
            if key in shared and value != shared[key]
        ]


def _default_profiles() -> dict[str, BudgetProfile]:
    backbones = ("resnet50", "inception_v3")
    return {
        "smoke": BudgetProfile(
            budget=BudgetConfig(**SMOKE_BUDGET),
            overrides={a: dict(SMOKE_BACKBONE) if a in backbones else {} for a in _ARCHITECTURES},
        ),
        "study": BudgetProfile(
            fair=True,
            budget=BudgetConfig(**STUDY_BUDGET),
            overrides={a: {} for a in _ARCHITECTURES},
        ),
    }


class TuneConfig(Section):
    """Optuna studies, one per (architecture, condition) (docs/tuning.md)."""

    #: Sample layout the study compares on (`stance`: the literature's, with peak metrics).
    layout: str = "stance"
    #: Share of subjects held out as the fixed test set (stratified by group and alignment).
    test_fraction: float = Field(0.2, gt=0, lt=1)
    #: Cohorts that are test only: never in a tuning fold, never in the refit, reported per
    #: cohort by `evaluate` but not gated on by `promote` (docs/evaluation.md). In `tune`, not
    #: `evaluate`, because it changes the split: the tune stages must re-run when it changes.
    external_cohorts: tuple[str, ...] = ()
    #: Seed of the hold-out split, the folds, the sampler and the training.
    seed: int = 0
    #: k of GroupKFold over the tuning subjects.
    folds: int = Field(3, ge=2)
    #: Optuna storage URL (e.g. postgresql://...); None: SQLite at paths.optuna_db.
    storage: str | None = None
    #: torch threads per study process (None: torch's default, all cores).
    threads: int | None = Field(None, ge=1)
    pruner: PrunerConfig = PrunerConfig()
    #: The budget profile the studies run (a key of `profiles`); recorded in every study's
    #: summary and named by the evaluation report's header.
    profile: str = "smoke"
    #: Named budgets: `smoke` (today's 15-minute run, backbones cut), `study` (fair).
    profiles: dict[str, BudgetProfile] = Field(default_factory=_default_profiles)

    @model_validator(mode="after")
    def _check(self) -> TuneConfig:
        from gaitgrf.core.samples import LAYOUTS
        from gaitgrf.models import REGISTRY

        if self.layout not in LAYOUTS:
            raise ValueError(f"layout {self.layout!r} is not one of {list(LAYOUTS)}")
        bad = [i for i in self.external_cohorts if not c.COHORT_ID_PATTERN.match(i)]
        if bad:
            raise ValueError(f"external_cohorts {bad} must match {c.COHORT_ID_PATTERN.pattern}")
        twice = sorted({i for i in self.external_cohorts if self.external_cohorts.count(i) > 1})
        if twice:
            raise ValueError(f"external_cohorts names {twice} more than once")
        if self.profile not in self.profiles:
            raise ValueError(
                f"profile {self.profile!r} is not one of tune.profiles {list(self.profiles)}"
            )
        for name, profile in self.profiles.items():
            unknown = [a for a in profile.overrides if a not in REGISTRY]
            if unknown:
                raise ValueError(f"profiles.{name}.overrides for unknown architecture(s) {unknown}")
            for arch in profile.overrides:
                profile.budget_for(arch)
            unfair = profile.unfair_keys(name) if profile.fair else []
            if unfair:
                raise ValueError(
                    f"profile {name!r} is fair (fair: true), so every architecture gets the "
                    f"same budget, but {'; '.join(unfair)}: drop the override or set fair: false"
                )
        return self

    @property
    def active(self) -> BudgetProfile:
        """The profile the studies run (`profiles[profile]`)."""
        return self.profiles[self.profile]

    @property
    def budget(self) -> BudgetConfig:
        """The active profile's shared budget (before any architecture's override)."""
        return self.active.budget

    @property
    def overrides(self) -> dict[str, dict[str, Any]]:
        """The active profile's per-architecture changes to `budget`."""
        return self.active.overrides

    def budget_for(self, arch: str) -> BudgetConfig:
        """The budget of `arch` under the active profile (`budget` with its overrides)."""
        return self.active.budget_for(arch)

    @classmethod
    def with_budget(cls, budget: BudgetConfig, **fields: Any) -> TuneConfig:
        """A config whose active (only) profile gives every architecture `budget`: for callers
        that build a config in code (tests, benchmarks), not from params.yaml."""
        profile = fields.pop("profile", "smoke")
        return cls(profile=profile, profiles={profile: BudgetProfile(budget=budget)}, **fields)


class RunnerConfig(Section):
    """How the Prefect flow `tune` fans out the studies (infra/README.md, "Scaling out").

    Kept out of `tune` on purpose: the DVC tune stages depend on `tune`, and where the studies
    run changes no result.
    """

    #: `sequential`: one study after another in the flow's process; `dask`: a Dask cluster.
    kind: Literal["sequential", "dask"] = "sequential"
    #: Address of an existing Dask scheduler (tcp://host:8786); None: start a local cluster.
    address: str | None = None
    #: Worker processes of the local Dask cluster (one study at a time each).
    workers: int = Field(2, ge=1)
    #: torch threads per study when kind is dask (workers x threads <= cores).
    threads: int = Field(1, ge=1)


class EvaluateConfig(Section):
    """Held-out test evaluation (docs/evaluation.md)."""

    #: Bootstrap resamples for the confidence interval of paired differences.
    bootstrap: int = Field(2000, ge=100)
    #: Significance level of the Holm-corrected Wilcoxon verdicts, the Friedman test and the
    #: Nemenyi critical difference.
    alpha: float = Field(0.05, gt=0, lt=1)


class AdaptConfig(Section):
    """Fine-tuning a trained model to real cohorts, subject-wise in each (docs/adaptation.md)."""

    #: External cohorts (`tune.external_cohorts`) to adapt to; empty: the stage reports none.
    cohorts: tuple[str, ...] = ()
    #: The model to start from: a study `<arch>__<condition>` (its tuned bundle) or a registry
    #: URI such as `models:/gaitgrf@champion`.
    start: str = "bilstm__base"
    #: k of GroupKFold over each cohort's subjects (at most its number of subjects).
    folds: int = Field(5, ge=2)
    #: Epochs of the fine-tuning and of the from-scratch model it is compared with.
    epochs: int = Field(20, ge=1)
    #: Fine-tuning learning rate = the start model's learning rate x this.
    lr_factor: float = Field(0.1, gt=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> AdaptConfig:
        bad = [i for i in self.cohorts if not c.COHORT_ID_PATTERN.match(i)]
        if bad:
            raise ValueError(f"cohorts {bad} must match {c.COHORT_ID_PATTERN.pattern}")
        if not (self.start.startswith("models:/") or STUDY_PATTERN.match(self.start)):
            raise ValueError(
                f"start {self.start!r} is neither a study <arch>__<condition> nor models:/..."
            )
        return self


class PromoteConfig(Section):
    """When the challenger replaces the champion (docs/promotion.md)."""

    #: Registered model name in the MLflow model registry.
    model_name: str = "gaitgrf"
    #: Relative improvement of the primary metric (mean rRMSE) the challenger must achieve.
    margin: float = Field(0.02, ge=0, lt=1)
    #: Relative worsening allowed on any single component's rRMSE.
    tolerance: float = Field(0.05, ge=0, lt=1)


class RetrainConfig(Section):
    """Retraining on a schedule and when a cohort arrives (docs/retraining.md)."""

    #: Cron schedule of the `retrain` deployment (minute hour day month weekday, server time).
    cron: str = "0 3 * * 1"
    #: Seconds between two polls of paths.incoming by the `watch-incoming` deployment.
    watch_interval_s: float = Field(30.0, gt=0)
    #: A folder without a READY marker counts as complete once unchanged for this long (s).
    settle_s: float = Field(120.0, ge=0)

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        # At params load, not minutes later when `gaitgrf serve` builds the deployment.
        return check_cron(value)


class Params(Section):
    paths: PathsConfig = PathsConfig()
    synth: SynthConfig = SynthConfig()
    contract: ContractConfig = ContractConfig()
    validate_: ValidateConfig = Field(ValidateConfig(), alias="validate")
    resample: ResampleConfig = ResampleConfig()
    fuse: FuseConfig = FuseConfig()
    models: ModelsConfig = ModelsConfig()
    tune: TuneConfig = TuneConfig()
    runner: RunnerConfig = RunnerConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    promote: PromoteConfig = PromoteConfig()
    adapt: AdaptConfig = AdaptConfig()
    retrain: RetrainConfig = RetrainConfig()

    @model_validator(mode="after")
    def _adapted_cohorts_are_external(self) -> Params:
        # A cohort the start model was tuned on would leak its subjects into every test fold.
        inside = [i for i in self.adapt.cohorts if i not in self.tune.external_cohorts]
        if inside:
            raise ValueError(
                f"adapt.cohorts {inside} must also be in tune.external_cohorts (never tuned on)"
            )
        return self


class ConfigError(GaitGrfError):
    hint = (
        "docs/configuration.md lists every section and key with its allowed values and an "
        "example; params.yaml in the repository writes each one out with its default"
    )


def parse_params(raw: dict[str, Any], *, source: str = "params") -> Params:
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise ConfigError(f"{source}: {problems}") from None


def load_params(path: Path) -> Params:
    """Read a params file the caller names; the library never looks for one on its own."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return parse_params(raw, source=str(path))
