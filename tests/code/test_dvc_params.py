"""dvc.yaml's `params:` make each tune stage depend on the picked budget profile's shared
budget and its own architecture's override in that profile.

DVC re-runs a stage when a value under one of its `params:` keys changes. With the whole `tune`
section listed, editing one architecture's override re-ran all twenty tune stages (issue 17);
each stage now lists `tune` key by key, `tune.profile`, `tune.profiles.${tune.profile}.budget`
and `tune.profiles.${tune.profile}.overrides.${item.arch}` (issue 15: named profiles).
The stages are resolved by DVC itself (its Python API, in a copy of dvc.yaml and params.yaml),
so matrix interpolation in a params key is checked as DVC reads it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from gaitgrf.core.config import TuneConfig
from gaitgrf.models import REGISTRY

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A DVC repository (no git) holding this project's dvc.yaml and params.yaml."""
    from dvc.repo import Repo

    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy2(REPO / name, tmp_path / name)
    Repo.init(str(tmp_path), no_scm=True).close()
    return tmp_path


def _stage_params(root: Path) -> dict[str, dict[str, Any]]:
    """Stage name -> the values of its params keys, as DVC reads them (what `dvc status`
    compares with dvc.lock)."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return {
            stage.name: {
                key: value
                for dep in stage.deps
                if isinstance(dep, ParamsDependency)
                for key, value in dep.read_params().items()
            }
            for stage in repo.index.stages
        }


def _changed_by(root: Path, edit: Callable[[dict[str, Any]], None]) -> list[str]:
    """The stages whose params values change when params.yaml is `edit`ed."""
    before = _stage_params(root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    edit(params)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    after = _stage_params(root)
    return sorted(name for name in before if before[name] != after[name])


def _all_studies() -> list[str]:
    return sorted(
        f"tune@{arch}-{condition}"
        for arch in yaml.safe_load((REPO / "params.yaml").read_text())["models"]["architectures"]
        for condition in ("base", "subject")
    )


def _picked(params: dict[str, Any]) -> dict[str, Any]:
    profile: dict[str, Any] = params["tune"]["profiles"][params["tune"]["profile"]]
    return profile


def test_one_architectures_override_reruns_its_studies_only(project: Path) -> None:
    def longer_lstm(params: dict[str, Any]) -> None:
        _picked(params)["overrides"]["lstm"] = {"epochs": 9}

    assert _changed_by(project, longer_lstm) == ["tune@lstm-base", "tune@lstm-subject"]


def test_the_shared_budget_reaches_every_tune_stage(project: Path) -> None:
    def more_trials(params: dict[str, Any]) -> None:
        _picked(params)["budget"]["n_trials"] = 5

    assert _changed_by(project, more_trials) == _all_studies()


def test_switching_the_profile_reruns_every_study(project: Path) -> None:
    def study(params: dict[str, Any]) -> None:
        params["tune"]["profile"] = "study"

    assert _changed_by(project, study) == _all_studies()


def test_a_profile_not_picked_reruns_nothing(project: Path) -> None:
    def other(params: dict[str, Any]) -> None:
        assert params["tune"]["profile"] != "study"
        params["tune"]["profiles"]["study"]["budget"]["n_trials"] = 99
        params["tune"]["profiles"]["study"]["overrides"]["lstm"] = {"epochs": 9}

    assert _changed_by(project, other) == []


def test_tune_stage_lists_every_tune_key_but_the_other_overrides() -> None:
    """A key added to TuneConfig must be listed too, or changing it would re-run nothing."""
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["tune"]
    listed = {p for p in stage["params"] if p == "tune" or p.startswith("tune.")}
    expected = {f"tune.{f}" for f in TuneConfig.model_fields if f != "profiles"}
    assert listed == expected | {
        "tune.profiles.${tune.profile}.budget",
        "tune.profiles.${tune.profile}.overrides.${item.arch}",
    }


def test_params_yaml_has_an_override_entry_for_every_architecture() -> None:
    """DVC refuses a params key that params.yaml lacks ("Parameters
    'tune.profiles.smoke.overrides.x' are missing"): every profile has an entry for every
    registered architecture, `{}` for none, as in the defaults."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    for name, profile in raw["tune"]["profiles"].items():
        assert list(profile["overrides"]) == list(REGISTRY), name
    for name, default in TuneConfig().profiles.items():
        assert list(default.overrides) == list(REGISTRY), name
