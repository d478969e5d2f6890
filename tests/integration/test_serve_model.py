"""`mlflow models serve -m models:/gaitgrf@champion` answers a real request like the in-process
model (the pyfunc wrapper: raw long DataFrame in, forces in body weights out)."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from champion_factory import Champion, session_champion

from gaitgrf.predictor import frame_from_arrays
from gaitgrf.serving.inputs import load_predictor
from gaitgrf.serving.onnx_export import example_inputs
from tests.support.servers import free_port, http_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> Champion:
    return session_champion(tmp_path_factory)


@pytest.fixture(scope="module")
def server(champion: Champion, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": champion.tracking_uri,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        # mlflow runs `uvicorn` by name: the venv's bin folder must be on PATH.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/gaitgrf@champion"]
    command += ["--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    # Its own process group (own_group): the workers go with it.
    with http_server(
        [*command, "--workers", "1"],
        f"{url}/ping",
        "mlflow models serve",
        240,
        env,
        log,
        own_group=True,
        stop_timeout_s=30,
    ):
        yield url


def test_served_champion_equals_in_process_prediction(server: str, champion: Champion) -> None:
    predictor = load_predictor("models:/gaitgrf@champion", champion.tracking_uri)
    inputs, static = example_inputs(predictor, 3, seed=3)
    frame = frame_from_arrays(inputs, static, predictor.channels, predictor.static_names)
    body = json.dumps({"dataframe_split": json.loads(frame.to_json(orient="split"))})
    request = urllib.request.Request(
        f"{server}/invocations",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        assert reply.status == 200
        answer = json.loads(reply.read())
    served = pd.DataFrame(answer["predictions"])
    assert list(served.columns) == ["sample", "point", "vertical", "anterior", "lateral"]
    assert len(served) == 3 * predictor.length
    expected = predictor.predict_arrays(inputs, static)  # (N, 3, T) body weights
    got = served.sort_values(["sample", "point"])[["vertical", "anterior", "lateral"]].to_numpy()
    got = got.reshape(3, predictor.length, 3).transpose(0, 2, 1)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_server_log_has_no_traceback(server: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    logs = list(Path(tmp_path_factory.getbasetemp()).glob("serve*/server.log"))
    assert logs and "Traceback" not in logs[0].read_text()
