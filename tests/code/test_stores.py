"""Relative store paths mean the project root (DVC_ROOT in a stage), never `.dvc/tmp` (issue 17).

`dvc exp run --temp` / `--queue` run the stages in a copy under `.dvc/tmp/exps/`; the stores
opened relative to that working directory were created there and deleted with it. The stage
shell anchors them at `DVC_ROOT` (`core.stores.anchor_stores`), and `gaitgrf.runtime` refuses
any store that still lands inside `.dvc/tmp`. The end-to-end check is
tests/integration/test_dvc_experiments.py.
"""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

import pytest

from gaitgrf import runtime
from gaitgrf.core.config import Params, parse_params
from gaitgrf.core.stores import StoreError, anchor_stores, inside_dvc_tmp
from stages.shell import run_stage


def test_relative_stores_are_anchored_at_the_root_data_paths_are_not(tmp_path: Path) -> None:
    params = parse_params(
        {
            "paths": {"mlflow_db": "state/mlflow.db", "optuna_db": "/abs/optuna.db"},
            "tune": {"storage": "sqlite:///studies.db?timeout=30"},
        }
    )
    anchored = anchor_stores(params, tmp_path)
    assert anchored.paths.mlflow_db == tmp_path / "state" / "mlflow.db"
    assert anchored.paths.mlflow_artifacts == tmp_path / "mlartifacts"
    assert anchored.paths.optuna_db == Path("/abs/optuna.db")  # absolute: kept
    assert anchored.tune.storage == f"sqlite:///{tmp_path / 'studies.db'}?timeout=30"
    # DVC outputs stay relative: an experiment writes them in its own workspace.
    assert anchored.paths.fused == Path("data/fused")
    assert anchored.paths.tuned == Path("data/tuned")
    for url in ("postgresql://u@h/db", "sqlite:////abs/studies.db"):
        assert anchor_stores(parse_params({"tune": {"storage": url}}), tmp_path).tune.storage == url


def test_the_stage_shell_anchors_stores_at_dvc_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, workspace = tmp_path / "project", tmp_path / "project/.dvc/tmp/exps/standalone/tmpab12"
    workspace.mkdir(parents=True)
    (workspace / "params.yaml").write_text("paths: {reports: reports}\n")
    monkeypatch.chdir(workspace)
    seen: list[Params] = []

    def body(params: Params, _: Namespace) -> list[str]:
        seen.append(params)
        return [runtime.storage_url(params, {}), runtime.tracking_uri(params, {})]

    monkeypatch.setenv("DVC_ROOT", str(root))
    assert run_stage("tune", None, body, []) == 0
    assert seen[0].paths.optuna_db == root / "optuna.db"
    assert seen[0].paths.mlflow_db == root / "mlflow.db"
    assert seen[0].paths.mlflow_artifacts == root / "mlartifacts"
    assert seen[0].paths.reports == Path("reports")


def test_a_store_inside_dvc_tmp_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = tmp_path / "project/.dvc/tmp/exps/standalone/tmpab12"
    workspace.mkdir(parents=True)
    (workspace / "params.yaml").write_text("paths: {reports: reports}\n")
    monkeypatch.chdir(workspace)
    monkeypatch.delenv("DVC_ROOT", raising=False)  # no DVC: the working directory is the root

    def body(params: Params, _: Namespace) -> list[str]:
        return [runtime.storage_url(params, {})]

    assert run_stage("tune", None, body, []) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("tune: the Optuna storage (paths.optuna_db, tune.storage) resolves")
    assert "inside DVC's temporary folder .dvc/tmp" in err[0]
    assert err[1].startswith("hint: run stages through `dvc repro` / `dvc exp run`")
    assert not (workspace / "optuna.db").exists()
    # The MLflow store and artifact folder, and an environment override, are checked too.
    params = Params()
    with pytest.raises(StoreError, match="the MLflow store"):
        runtime.tracking_uri(params, {})
    with pytest.raises(StoreError, match=r"paths\.mlflow_artifacts"):
        runtime.open_tracker(params, {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"})
    with pytest.raises(StoreError, match="Optuna"):
        runtime.storage_url(params, {"GAITGRF_OPTUNA_STORAGE": "sqlite:///o.db"})
    assert not (workspace / "mlflow.db").exists() and not (workspace / "mlartifacts").exists()


def test_inside_dvc_tmp() -> None:
    assert inside_dvc_tmp(Path("/p/.dvc/tmp/exps/standalone/tmpx/mlflow.db"))
    assert inside_dvc_tmp(Path("/p/.dvc/tmp/mlflow.db"))
    assert not inside_dvc_tmp(Path("/p/mlflow.db"))
    assert not inside_dvc_tmp(Path("/p/.dvc/cache/tmp/x"))  # `tmp` right below `.dvc` only
    assert not inside_dvc_tmp(Path("/p/dvc/tmp/x"))
