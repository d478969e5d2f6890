"""Typed, frozen configuration mirroring `params.yaml`, one model per section.

Unknown keys are rejected so that a typo in params.yaml fails loudly instead of silently falling
back to a default. The library receives these objects; only entry points (stages, CLI, flows)
read the YAML file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator

from gaitgrf.core.config.base import STUDY_PATTERN, Section
from gaitgrf.core.config.data import (
    ContractConfig,
    EventsConfig,
    FilterConfig,
    FuseConfig,
    GroupMix,
    PathsConfig,
    RatesConfig,
    ResampleConfig,
    SynthConfig,
    ValidateConfig,
    VariationConfig,
    WindowConfig,
)
from gaitgrf.core.config.training import (
    AdaptConfig,
    BudgetConfig,
    BudgetProfile,
    EvaluateConfig,
    ModelsConfig,
    PretrainedConfig,
    PromoteConfig,
    PrunerConfig,
    RetrainConfig,
    RunnerConfig,
    TuneConfig,
)
from gaitgrf.core.errors import GaitGrfError

__all__ = [
    "STUDY_PATTERN",
    "AdaptConfig",
    "BudgetConfig",
    "BudgetProfile",
    "ConfigError",
    "ContractConfig",
    "EvaluateConfig",
    "EventsConfig",
    "FilterConfig",
    "FuseConfig",
    "GroupMix",
    "ModelsConfig",
    "Params",
    "PathsConfig",
    "PretrainedConfig",
    "PromoteConfig",
    "PrunerConfig",
    "RatesConfig",
    "ResampleConfig",
    "RetrainConfig",
    "RunnerConfig",
    "Section",
    "SynthConfig",
    "TuneConfig",
    "ValidateConfig",
    "VariationConfig",
    "WindowConfig",
    "load_params",
    "parse_params",
]


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
