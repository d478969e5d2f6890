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
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from gaitgrf.core.config import SynthConfig
from gaitgrf.synth import generate_cohort
from tests.integration.test_bootstrap import COPIED, COPIED_TREES, TINY_BUDGET, TINY_SYNTH

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kill_leftovers(root: Path) -> int:
    """Kill every process still working in the project (flow runs the runner spawned)."""
    killed = 0
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(proc_dir / "cwd"))
        except OSError:
            continue
        if cwd == root or root in cwd.parents:
            try:
                os.kill(int(proc_dir.name), signal.SIGKILL)
                killed += 1
            except OSError:
                pass
    return killed


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
    import shutil

    root = tmp_path / "project"
    for rel in COPIED:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, root / rel)
    for rel in [*COPIED_TREES, "flows"]:
        shutil.copytree(REPO / rel, root / rel, ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["synth"].update(TINY_SYNTH)
    params["models"]["architectures"] = ["mlp"]
    params["tune"]["folds"] = 2
    params["tune"]["budget"].update(TINY_BUDGET)
    params["retrain"].update(watch_interval_s=10.0, settle_s=600.0)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(
        [sys.executable, "-m", "gaitgrf.cli", "bootstrap"],
        cwd=root,
        env=_env(root),
        check=True,
        capture_output=True,
    )
    return root


def test_dropped_cohort_is_added_and_retrained(project: Path) -> None:
    port = _free_port()
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
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        _kill_leftovers(project)
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
    with socket.socket() as sock:  # the server is gone
        assert sock.connect_ex(("127.0.0.1", port)) != 0
