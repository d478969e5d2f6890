"""A registered version and its logged model point at each other (issue 17, item 6).

MLflow 3's logged model page lists its registered versions from the logged model's
`mlflow.modelVersions` tag; the version page links to the logged model through the version's
source `models:/m-<id>`. `create_model_version` on a database store writes only the second, so
the champion's logged model read "Not registered". A tiny pyfunc model stands in for the GRF
model here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import pytest
from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

from gaitgrf.pipeline.promote import MODEL_DESCRIPTION
from gaitgrf.tracking.client import (
    TUNING_EXPERIMENT,
    Tracker,
    fluent_uris,
    logged_model_id,
    sqlite_uri,
)


class _Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return model_input


@pytest.fixture()
def logged(tmp_path: Path) -> tuple[Tracker, str, str]:
    tracker = Tracker(sqlite_uri(tmp_path / "mlflow.db"), tmp_path / "artifacts")
    run_id = tracker.start_run(TUNING_EXPERIMENT, "s#refit")
    with fluent_uris(tracker.tracking_uri), mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(name="model", python_model=_Echo(), pip_requirements=[])
    tracker.end_run(run_id)
    return tracker, str(info.model_uri), run_id


def _linked(tracker: Tracker, model_id: str) -> list[dict[str, str]]:
    tags = tracker.client.get_logged_model(model_id).tags
    return json.loads(tags.get(MLFLOW_MODEL_VERSIONS, "[]"))


def test_register_links_version_and_logged_model_both_ways(
    logged: tuple[Tracker, str, str],
) -> None:
    tracker, uri, run_id = logged
    model_id = logged_model_id(uri)
    assert model_id is not None and model_id.startswith("m-")
    version = tracker.register("gaitgrf", uri, run_id, {"gaitgrf.study": "s"})
    # version -> logged model (the version page's "Source logged model") and -> run
    # (a database registry has no model_id column: the source names the logged model)
    mv = tracker.client.get_model_version("gaitgrf", version)
    assert mv.source == uri and logged_model_id(mv.source) == model_id
    assert mv.model_id in (None, model_id) and mv.run_id == run_id
    found = tracker.client.search_model_versions(f"name = 'gaitgrf' and run_id = '{run_id}'")
    assert [v.source for v in found] == [uri]
    # logged model -> version (the logged model page's "Registered versions")
    assert _linked(tracker, model_id) == [{"name": "gaitgrf", "version": version}]
    row = next(v for v in tracker.versions("gaitgrf") if v["version"] == version)
    assert row["model_id"] == model_id


def test_linking_again_adds_no_duplicate(logged: tuple[Tracker, str, str]) -> None:
    tracker, uri, run_id = logged
    model_id = str(logged_model_id(uri))
    first = tracker.register("gaitgrf", uri, run_id, {})
    tracker.link_version("gaitgrf", first, model_id)  # a reused version is linked again
    second = tracker.register("other", uri, run_id, {})
    assert _linked(tracker, model_id) == [
        {"name": "gaitgrf", "version": first},
        {"name": "other", "version": second},
    ]


def test_registered_model_and_version_have_descriptions(logged: tuple[Tracker, str, str]) -> None:
    tracker, uri, run_id = logged
    version = tracker.register("gaitgrf", uri, run_id, {}, "study s: cv loss 0.1")
    assert tracker.client.get_model_version("gaitgrf", version).description == (
        "study s: cv loss 0.1"
    )
    tracker.describe_version("gaitgrf", version, "newer numbers")  # a reused version
    assert tracker.client.get_model_version("gaitgrf", version).description == "newer numbers"
    tracker.describe_model("gaitgrf", MODEL_DESCRIPTION)
    assert tracker.client.get_registered_model("gaitgrf").description == MODEL_DESCRIPTION
