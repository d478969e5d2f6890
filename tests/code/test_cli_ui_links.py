"""`gaitgrf ui` prints a direct link to the runs table of each gaitgrf experiment.

MLflow 3.17 opens an experiment (`#/experiments/<id>`) on its GenAI page; the `runs` tab route
opens the classic runs table. The route is read from the installed MLflow UI, so an MLflow
upgrade that renames it fails here rather than in a user's browser. The servers are replaced
by recorders: the real UI is in tests/integration/test_ui.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gaitgrf.cli import app
from gaitgrf.cli.supervisor import Supervisor
from gaitgrf.tracking.client import (
    EVALUATION_EXPERIMENT,
    RETRAIN_EXPERIMENT,
    TUNING_EXPERIMENT,
    Tracker,
    project_experiment_ids,
    runs_table_url,
    sqlite_uri,
)


def test_runs_table_url_is_the_runs_tab_of_the_hash_router() -> None:
    assert runs_table_url("http://127.0.0.1:5000/", "7") == (
        "http://127.0.0.1:5000/#/experiments/7/runs"
    )


def test_the_installed_mlflow_ui_has_that_route() -> None:
    import mlflow

    bundles = list(
        (Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js").glob(
            "main.*.js"
        )
    )
    if not bundles:
        pytest.skip("this MLflow has no UI bundle (mlflow-skinny)")
    code = bundles[0].read_text(errors="replace")
    assert '"/experiments/:experimentId/runs"' in code
    assert "createHashRouter" in code  # hence the `#/` in front of the route


def _ui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_db: Path) -> str:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(Supervisor, "start", lambda self, cmd, env=None: None)
    monkeypatch.setattr(Supervisor, "run", lambda self: None)
    params = tmp_path / "params.yaml"
    params.write_text(
        yaml.safe_dump(
            {"paths": {"mlflow_db": str(mlflow_db), "optuna_db": str(tmp_path / "o.db")}}
        )
    )
    result = CliRunner().invoke(app, ["ui", "--port", "5123", "--params", str(params)])
    assert result.exit_code == 0, result.output
    return result.output


def test_ui_prints_the_runs_table_of_each_project_experiment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "mlflow.db"
    tracker = Tracker(sqlite_uri(db), tmp_path / "mlartifacts")
    ids = {name: tracker.experiment(name) for name in (TUNING_EXPERIMENT, EVALUATION_EXPERIMENT)}
    tracker.experiment("someone-elses")
    out = _ui(tmp_path, monkeypatch, db)
    for name, experiment_id in ids.items():
        assert f"http://127.0.0.1:5123/#/experiments/{experiment_id}/runs  ({name})" in out
    assert RETRAIN_EXPERIMENT not in out  # not created yet: no link to nothing
    assert "someone-elses" not in out
    assert project_experiment_ids(sqlite_uri(db)) == ids


def test_ui_on_a_new_project_creates_no_store_to_find_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "mlflow.db"
    out = _ui(tmp_path, monkeypatch, db)
    assert "no gaitgrf experiment yet" in out
    assert "http://127.0.0.1:5123/#/experiments" in out
    assert not db.exists()
