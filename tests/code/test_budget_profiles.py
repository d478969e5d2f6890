"""Named budget profiles (issue 15, section 2): `smoke` is the old default, `study` is fair.

`smoke` must reproduce the budget every study ran before profiles existed (same numbers, so
the default `make run` gives the same results); a profile marked fair refuses, at load, any
override that gives one architecture another budget; an unknown profile name is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gaitgrf.core.config import BudgetConfig, ConfigError, TuneConfig, load_params, parse_params
from gaitgrf.models import REGISTRY

REPO = Path(__file__).resolve().parents[2]

#: The budget before profiles: `tune.budget` and `tune.overrides` of params.yaml at 5ffcb25.
BEFORE = {
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
BEFORE_BACKBONE = {
    **BEFORE,
    "n_trials": 1,
    "epochs": 1,
    "folds_used": 1,
    "max_train_samples": 192,
    "max_val_samples": 128,
    "refit_epochs": 1,
    "max_refit_samples": 256,
}


def _raw() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((REPO / "params.yaml").read_text())
    return raw


@pytest.mark.parametrize("arch", list(REGISTRY))
def test_smoke_is_the_budget_before_profiles(arch: str) -> None:
    expected = BEFORE_BACKBONE if arch in ("resnet50", "inception_v3") else BEFORE
    for tune in (load_params(REPO / "params.yaml").tune, TuneConfig()):
        assert tune.profile == "smoke"
        assert tune.budget_for(arch).model_dump() == expected


def test_study_gives_every_architecture_the_same_budget() -> None:
    tune = load_params(REPO / "params.yaml").tune
    study = tune.profiles["study"]
    assert study.fair
    budgets = {arch: study.budget_for(arch) for arch in REGISTRY}
    assert len({b.model_dump_json() for b in budgets.values()}) == 1
    only = budgets["resnet50"]
    assert only.patience > 0 and only.epochs > only.patience  # early stopping can act
    assert (only.max_train_samples, only.max_val_samples, only.max_refit_samples) == (None,) * 3
    assert only.folds_used is None and only.timeout_s is None
    assert tune.profiles["study"] == TuneConfig().profiles["study"]


def test_a_fair_profile_refuses_a_cut_for_one_architecture() -> None:
    raw = _raw()
    raw["tune"]["profiles"]["study"]["overrides"]["resnet50"] = {"epochs": 1}
    with pytest.raises(ConfigError) as caught:
        parse_params(raw, source="params.yaml")
    message = str(caught.value)
    assert "\n" not in message
    assert "tune.profiles.study.overrides.resnet50.epochs = 1" in message
    assert "budget.epochs = 60" in message and "fair" in message


def test_a_fair_profile_refuses_a_raise_for_one_architecture_too() -> None:
    """Giving one architecture more is giving the others less than it."""
    raw = _raw()
    raw["tune"]["profiles"]["study"]["overrides"]["lstm"] = {"n_trials": 40}
    with pytest.raises(ConfigError, match=r"overrides\.lstm\.n_trials = 40"):
        parse_params(raw)


def test_a_fair_profile_accepts_an_override_equal_to_the_budget() -> None:
    raw = _raw()
    raw["tune"]["profiles"]["study"]["overrides"]["lstm"] = {"epochs": 60}
    assert parse_params(raw).tune.profiles["study"].budget_for("lstm").epochs == 60


def test_an_unfair_profile_may_cut_and_the_cut_is_applied() -> None:
    raw = _raw()
    raw["tune"]["profile"] = "study"
    raw["tune"]["profiles"]["study"]["fair"] = False
    raw["tune"]["profiles"]["study"]["overrides"]["resnet50"] = {"epochs": 3}
    tune = parse_params(raw).tune
    assert tune.budget_for("resnet50").epochs == 3
    assert tune.budget_for("mlp").epochs == 60


def test_unknown_profile_name_is_refused() -> None:
    raw = _raw()
    raw["tune"]["profile"] = "stduy"
    with pytest.raises(ConfigError) as caught:
        parse_params(raw, source="params.yaml")
    assert "profile 'stduy' is not one of tune.profiles ['smoke', 'study']" in str(caught.value)


def test_unknown_key_in_a_profile_is_refused() -> None:
    raw = _raw()
    raw["tune"]["profiles"]["smoke"]["budjet"] = {}
    with pytest.raises(ConfigError, match=r"tune\.profiles\.smoke\.budjet"):
        parse_params(raw)


def test_an_override_must_give_a_valid_budget() -> None:
    raw = _raw()
    raw["tune"]["profiles"]["smoke"]["overrides"]["gru"] = {"epochs": 0}
    with pytest.raises(ConfigError, match="epochs"):
        parse_params(raw)


def test_with_budget_builds_a_one_profile_config() -> None:
    budget = BudgetConfig(n_trials=2, epochs=1)
    tune = TuneConfig.with_budget(budget, folds=2)
    assert (tune.profile, list(tune.profiles), tune.folds) == ("smoke", ["smoke"], 2)
    assert tune.budget_for("resnet50") == budget
