"""A copied or moved MLflow SQLite store brings its artifact locations along (issue 17, item 5).

MLflow writes absolute `file://` locations; gaitgrf records each experiment's folder relative
to the database's and rewrites the locations when the database is opened somewhere else
(`gaitgrf.tracking.location`). A whole project with a finished study is moved in
tests/code/test_moved_project.py; these tests cover the rules on a small store.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import pytest
from mlflow import MlflowClient

from gaitgrf import runtime
from gaitgrf.core.config import parse_params
from gaitgrf.core.stores import anchor_stores
from gaitgrf.tracking.client import TUNING_EXPERIMENT, Tracker, fluent_uris, sqlite_uri
from gaitgrf.tracking.location import (
    LOCATION_TAG,
    TRACE_LOCATION_TAG,
    UNDER_EXPERIMENT,
    RelocationError,
    relocate_artifacts,
)


class _Echo(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    def predict(self, context: Any, model_input: list[Any]) -> list[Any]:
        return model_input


def _store(folder: Path, artifacts: Path) -> tuple[str, str]:
    """A store in `folder` with a run, an artifact, a logged model and a registered version."""
    folder.mkdir(parents=True, exist_ok=True)
    tracker = Tracker(sqlite_uri(folder / "mlflow.db"), artifacts)
    run = tracker.start_run(TUNING_EXPERIMENT, "study")
    (folder / "note.txt").write_text("a study's artifact\n")
    tracker.log_artifacts(run, [folder / "note.txt"])
    with fluent_uris(tracker.tracking_uri), mlflow.start_run(run_id=run):
        info = mlflow.pyfunc.log_model(name="model", python_model=_Echo(), pip_requirements=[])
    tracker.end_run(run)
    tracker.register("echo", info.model_uri, run, {})
    return run, str(info.model_uri)


def _locations(db: Path) -> list[str]:
    """Every location the store holds (experiments, runs, logged models, model versions)."""
    with sqlite3.connect(db) as con:
        return [
            row[0]
            for query in (
                "SELECT artifact_location FROM experiments WHERE name = 'gaitgrf-tuning'",
                "SELECT artifact_uri FROM runs",
                "SELECT artifact_location FROM logged_models",
                "SELECT storage_location FROM model_versions",
            )
            for row in con.execute(query)
        ]


def _open(folder: Path, artifacts: str = "mlartifacts") -> str:
    """The project in `folder` opens its store, as every stage and command does."""
    params = parse_params({"paths": {"mlflow_artifacts": artifacts}})
    return runtime.tracking_uri(anchor_stores(params, folder), {})


def test_a_moved_store_reads_and_writes_artifacts_in_its_new_folder(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    run, model_uri = _store(old, old / "mlartifacts")
    exp = MlflowClient(sqlite_uri(old / "mlflow.db")).get_experiment_by_name(TUNING_EXPERIMENT)
    assert exp is not None and exp.tags[LOCATION_TAG] == "mlartifacts/gaitgrf-tuning"
    shutil.copytree(old, new)
    shutil.rmtree(old)

    uri = _open(new)
    locations = _locations(new / "mlflow.db")
    assert len(locations) == 4
    assert all(loc.startswith((new / "mlartifacts").as_uri() + "/") for loc in locations)
    client = MlflowClient(uri)
    assert [f.path for f in client.list_artifacts(run)] == ["note.txt"]
    with fluent_uris(uri):
        model = mlflow.pyfunc.load_model("models:/echo/1")
        assert model.metadata.model_uuid  # read from the new folder
        assert mlflow.pyfunc.load_model(model_uri) is not None
    tracker = Tracker(uri, new / "mlartifacts")
    after = tracker.start_run(TUNING_EXPERIMENT, "after the move")
    tracker.log_artifacts(after, [new / "note.txt"])
    assert (new / "mlartifacts" / "gaitgrf-tuning" / after / "artifacts" / "note.txt").is_file()
    assert not old.exists()
    assert relocate_artifacts(new / "mlflow.db") == []  # done once; a second open finds nothing


def test_a_copy_leaves_the_original_store_alone(tmp_path: Path) -> None:
    old, copy = tmp_path / "old", tmp_path / "copy"
    _store(old, old / "mlartifacts")
    before = _locations(old / "mlflow.db")
    shutil.copytree(old, copy)
    assert relocate_artifacts(copy / "mlflow.db") == [TUNING_EXPERIMENT]
    assert all(loc.startswith(copy.as_uri() + "/") for loc in _locations(copy / "mlflow.db"))
    _open(old)
    assert _locations(old / "mlflow.db") == before


def test_artifacts_outside_the_database_folder_stay_where_they_are(tmp_path: Path) -> None:
    shared = tmp_path / "shared-disk" / "mlartifacts"
    _store(tmp_path / "old", shared)
    before = _locations(tmp_path / "old" / "mlflow.db")
    shutil.move(tmp_path / "old", tmp_path / "new")
    assert relocate_artifacts(tmp_path / "new" / "mlflow.db") == []
    assert _locations(tmp_path / "new" / "mlflow.db") == before
    assert all(loc.startswith(shared.as_uri()) for loc in before)


def test_a_store_made_before_the_record_is_adopted_where_it_is(tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    uri = sqlite_uri(old / "mlflow.db")
    location = (old / "mlartifacts" / "legacy").as_uri()
    exp_id = MlflowClient(uri).create_experiment("legacy", artifact_location=location)
    assert LOCATION_TAG not in MlflowClient(uri).get_experiment(exp_id).tags
    assert relocate_artifacts(old / "mlflow.db") == []  # not moved: only recorded
    assert MlflowClient(uri).get_experiment(exp_id).tags[LOCATION_TAG] == "mlartifacts/legacy"
    # A folder in a DVC temporary workspace is not recorded: it is deleted with the workspace.
    scratch = (old / ".dvc/tmp/exps/standalone/tmpab12/mlruns").as_uri()
    scratch_id = MlflowClient(uri).create_experiment("scratch", artifact_location=scratch)
    relocate_artifacts(old / "mlflow.db")
    assert LOCATION_TAG not in MlflowClient(uri).get_experiment(scratch_id).tags
    shutil.move(old, tmp_path / "new")
    assert relocate_artifacts(tmp_path / "new" / "mlflow.db") == ["legacy"]
    moved = MlflowClient(sqlite_uri(tmp_path / "new" / "mlflow.db")).get_experiment(exp_id)
    assert moved.artifact_location == (tmp_path / "new" / "mlartifacts" / "legacy").as_uri()


def test_a_moved_store_that_cannot_be_rewritten_says_so_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    client = MlflowClient(sqlite_uri(tmp_path / "old" / "mlflow.db"))
    client.create_experiment("e", artifact_location=(tmp_path / "old/mlartifacts/e").as_uri())
    relocate_artifacts(tmp_path / "old" / "mlflow.db")  # recorded where it is
    shutil.move(tmp_path / "old", tmp_path / "new")
    db = tmp_path / "new" / "mlflow.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing, for longer than we wait
    try:
        with pytest.raises(RelocationError, match="copied or moved") as caught:
            relocate_artifacts(db, timeout_s=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "\n" not in str(caught.value) and "e still points at file://" in str(caught.value)
    assert relocate_artifacts(db) == ["e"]  # once the lock is gone


def test_nothing_happens_to_a_missing_or_foreign_database(tmp_path: Path) -> None:
    assert relocate_artifacts(tmp_path / "none.db") == []
    assert not (tmp_path / "none.db").exists()
    with sqlite3.connect(tmp_path / "other.db") as con:
        con.execute("CREATE TABLE t (x)")
    assert relocate_artifacts(tmp_path / "other.db") == []


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("experiments", "experiment_id"),
        ("experiments", "name"),
        ("experiments", "artifact_location"),
        ("experiment_tags", "key"),
        ("experiment_tags", "value"),
        ("experiment_tags", "experiment_id"),
        ("trace_tags", "key"),
        ("trace_tags", "request_id"),
        ("trace_info", "request_id"),
        ("trace_info", "experiment_id"),
        *((t, c) for t, c, _ in UNDER_EXPERIMENT),
        *((t, "experiment_id") for t, _, cond in UNDER_EXPERIMENT if cond == "experiment_id = ?"),
    ],
)
def test_the_rewritten_columns_are_mlflows(table: str, column: str) -> None:
    """The names `relocate_artifacts` writes SQL with exist in MLflow's own ORM models."""
    from mlflow.store.db.base_sql_model import Base
    from mlflow.store.model_registry.dbmodels import models as _registry  # noqa: F401
    from mlflow.store.tracking.dbmodels import models as _tracking  # noqa: F401

    assert column in Base.metadata.tables[table].columns
    from mlflow.utils.mlflow_tags import MLFLOW_ARTIFACT_LOCATION

    assert TRACE_LOCATION_TAG == MLFLOW_ARTIFACT_LOCATION
