"""`gaitgrf ui` serves the MLflow UI and optuna-dashboard on localhost and stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.servers import free_port, is_up, wait_until_up

pytestmark = pytest.mark.integration


def test_ui_serves_both_and_stops(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        yaml.safe_dump(
            {"paths": {"mlflow_db": str(tmp_path / "m.db"), "optuna_db": str(tmp_path / "o.db")}}
        )
    )
    mlflow_port, optuna_port = free_port(), free_port()
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
        urls = [f"http://127.0.0.1:{mlflow_port}/", f"http://127.0.0.1:{optuna_port}/"]
        wait_until_up(proc, urls, "gaitgrf ui", 120, lambda: proc.communicate()[0], 1.0)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert f"MLflow UI:        http://127.0.0.1:{mlflow_port}" in out
    assert f"optuna-dashboard: http://127.0.0.1:{optuna_port}" in out
    assert not any(is_up(u) for u in urls)
