"""`gaitgrf ui` serves the MLflow UI and optuna-dashboard on localhost and stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status) == 200
    except OSError:
        return False


def test_ui_serves_both_and_stops(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        yaml.safe_dump(
            {"paths": {"mlflow_db": str(tmp_path / "m.db"), "optuna_db": str(tmp_path / "o.db")}}
        )
    )
    mlflow_port, optuna_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI",)}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gaitgrf.cli",
            "ui",
            "--port",
            str(mlflow_port),
            "--optuna-port",
            str(optuna_port),
            "--params",
            str(params),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        urls = [f"http://127.0.0.1:{mlflow_port}/", f"http://127.0.0.1:{optuna_port}/"]
        while not all(_up(u) for u in urls):
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "UI servers not up within 2 minutes"
            time.sleep(1)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert f"MLflow UI:        http://127.0.0.1:{mlflow_port}" in out
    assert f"optuna-dashboard: http://127.0.0.1:{optuna_port}" in out
    assert not any(_up(u) for u in urls)
