"""dvc.yaml's `params:` make each tune stage depend on the shared budget and its own override.

DVC re-runs a stage when a value under one of its `params:` keys changes. With the whole `tune`
section listed, editing one architecture's `tune.overrides.<arch>` re-ran all twenty tune
stages (issue 17); each stage now lists `tune` key by key and `tune.overrides.${item.arch}`.
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


def test_one_architectures_override_reruns_its_studies_only(project: Path) -> None:
    def longer_lstm(params: dict[str, Any]) -> None:
        params["tune"]["overrides"]["lstm"] = {"epochs": 9}

    assert _changed_by(project, longer_lstm) == ["tune@lstm-base", "tune@lstm-subject"]


def test_the_shared_budget_reaches_every_tune_stage(project: Path) -> None:
    def more_trials(params: dict[str, Any]) -> None:
        params["tune"]["budget"]["n_trials"] = 5

    studies = [
        f"tune@{arch}-{condition}"
        for arch in yaml.safe_load((REPO / "params.yaml").read_text())["models"]["architectures"]
        for condition in ("base", "subject")
    ]
    assert _changed_by(project, more_trials) == sorted(studies)


def test_tune_stage_lists_every_tune_key_but_the_other_overrides() -> None:
    """A key added to TuneConfig must be listed too, or changing it would re-run nothing."""
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["tune"]
    listed = {p for p in stage["params"] if p == "tune" or p.startswith("tune.")}
    expected = {f"tune.{f}" for f in TuneConfig.model_fields if f != "overrides"}
    assert listed == expected | {"tune.overrides.${item.arch}"}


def test_params_yaml_has_an_override_entry_for_every_architecture() -> None:
    """DVC refuses a params key that params.yaml lacks ("Parameters 'tune.overrides.x' are
    missing"): every registered architecture has an entry, `{}` for none, as in the defaults."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    assert list(raw["tune"]["overrides"]) == list(REGISTRY)
    assert list(TuneConfig().overrides) == list(REGISTRY)
