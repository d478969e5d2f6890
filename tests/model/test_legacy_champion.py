"""A champion registered by an earlier layout of the package still loads and predicts the same.

Registered pyfunc models hold a cloudpickle that names `gaitgrf.predictor` (and the networks
`gaitgrf.models.*`) by import path. `tests/fixtures/legacy_champion/` was logged by the flat
layout of commit c70815c (tests/champion_factory.py: cnn1d, condition `subject`, one tiny study)
together with its prediction of its own input example. The test registers that model in a fresh
registry, loads it as `models:/gaitgrf@champion` with today's code and compares the forces.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "legacy_champion"


@pytest.fixture
def legacy_registry(tmp_path: Path) -> str:
    from mlflow import MlflowClient

    model_dir = tmp_path / "model"
    shutil.copytree(FIXTURE / "model", model_dir)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    client.create_registered_model("gaitgrf")
    version = client.create_model_version("gaitgrf", source=str(model_dir))
    client.set_registered_model_alias("gaitgrf", "champion", version.version)
    return uri


def test_legacy_champion_loads_by_alias_and_predicts_as_before(legacy_registry: str) -> None:
    import mlflow

    from gaitgrf.tracking.client import fluent_uris

    example = json.loads((FIXTURE / "model" / "input_example.json").read_text())
    frame = pd.DataFrame(example["data"], columns=example["columns"])
    with fluent_uris(legacy_registry):
        model = mlflow.pyfunc.load_model("models:/gaitgrf@champion")
    forces = model.predict(frame)
    expected = pd.read_csv(FIXTURE / "expected.csv")
    assert list(forces.columns) == list(expected.columns)
    assert len(forces) == len(expected) > 0
    for column in ("vertical", "anterior", "lateral"):
        np.testing.assert_allclose(
            forces[column].to_numpy(), expected[column].to_numpy(), rtol=1e-5, atol=1e-6
        )
