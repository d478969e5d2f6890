"""The training sections of `params.yaml`: models, tune (budgets, profiles), runner,
evaluate, adapt, promote, retrain."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final, Literal

from pydantic import Field, field_validator, model_validator

from gaitgrf.core import contract as c
from gaitgrf.core.config.base import STUDY_PATTERN, Section
from gaitgrf.core.cron import check_cron


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
    overrides: dict[str, dict[str, Any]] = {}  # noqa: RUF012 (a pydantic field: copied per instance)

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
    #: `holdout`: each model is scored on the hold-out only (the fast default). `nested`: each
    #: tune stage also runs nested subject-wise cross-validation (one study per outer fold), so
    #: every subject gets an out-of-fold prediction and the paired tests have all subjects
    #: (docs/evaluation.md, "Nested cross-validation"). The hold-out study is run either way:
    #: the promotion gate keeps a hold-out no tuning saw.
    evaluation: Literal["holdout", "nested"] = "holdout"
    #: k of the outer GroupKFold of `nested` mode over every non-external subject.
    outer_folds: int = Field(5, ge=2)
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
