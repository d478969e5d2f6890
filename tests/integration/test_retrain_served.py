"""A cohort dropped into data/incoming is picked up, added and trained on, by served deployments.

Real processes end to end: `gaitgrf serve` starts `prefect server start` on a free localhost port
and serves the `watch` (every 10 s) and `retrain` (cron + event) deployments from a temporary
project (git + DVC bootstrapped, tiny synthetic cohort, two light architectures, one-epoch
budget). A tiny cohort with a READY marker lands in data/incoming; the watcher emits
`gaitgrf.cohort.arrived`, the trigger starts `retrain`, which validates and commits the cohort,
runs `dvc repro` and promotes. All processes are stopped at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gaitgrf.core.config import SynthConfig
from gaitgrf.synth import generate_cohort
from tests.support.projects import COPIED_TREES, TINY_SYNTH, write_tiny_project
from tests.support.servers import free_port, kill_processes_in, port_answers, stop_group

pytestmark = pytest.mark.integration


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        DVC_NO_ANALYTICS="1",
        DO_NOT_TRACK="true",
        MLFLOW_DISABLE_TELEMETRY="true",
        PREFECT_HOME=str(root / ".prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PYTHONPATH=str(root),
    )
    return env


@pytest.fixture
def project(tmp_path: Path) -> Path:
    def poll_often(params: dict[str, Any]) -> None:
        params["retrain"].update(watch_interval_s=10.0, settle_s=600.0)

    root = write_tiny_project(
        tmp_path / "project", ["mlp"], [*COPIED_TREES, "flows"], edit=poll_often
    )
    subprocess.run(
        [sys.executable, "-m", "gaitgrf.cli", "bootstrap"],
        cwd=root,
        env=_env(root),
        check=True,
        capture_output=True,
    )
    return root


def test_dropped_cohort_is_added_and_retrained(project: Path) -> None:
    port = free_port()
    log = (project / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gaitgrf.cli", "serve", "--port", str(port)],
        cwd=project,
        env=_env(project),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    outcome_file = project / "reports" / "retrain" / "last.json"
    try:
        incoming = project / "data" / "incoming"
        cfg = SynthConfig(**{**TINY_SYNTH, "cohort_id": "clinic-b", "seed": 7})
        generate_cohort(cfg, incoming / "clinic-b")
        (incoming / "clinic-b" / "READY").touch()
        deadline = time.monotonic() + 540
        while not outcome_file.is_file():
            assert proc.poll() is None, (project / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (project / "serve.log").read_text()[-3000:]
            time.sleep(2)
    finally:
        stop_group(proc, signal.SIGINT, 60)
        log.close()
        # Checked before the clean-up below, which would hide a server that outlived serve.
        server_left = port_answers(port)
        kill_processes_in(project)
    assert proc.returncode == 0, (project / "serve.log").read_text()[-3000:]
    assert not server_left, (project / "serve.log").read_text()[-3000:]
    outcome = json.loads(outcome_file.read_text())
    assert outcome["trigger"] == "event" and outcome["cohort"] == "clinic-b"
    assert "validate" in outcome["stages"] and "promote" in outcome["stages"]
    assert outcome["promotion_decided"] and outcome["champion"] == "1"
    assert (project / "data" / "raw" / "clinic-b.dvc").is_file()
    subjects = (project / "data" / "validated").rglob("subjects.csv")
    assert any("clinic-b" in p.read_text() for p in subjects)
    head = subprocess.run(
        ["git", "log", "--format=%s", "-1"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert head.startswith("Add cohort clinic-b")
    assert not (project / "data" / "incoming" / "clinic-b").exists()  # parked in .done/
    assert list((project / "data" / "incoming" / ".done").glob("clinic-b-*"))
