"""Fault cases with real processes: signals to `gaitgrf ui`, kill -9 and concurrency in intake.

Each test provokes one fault the way it happens in the field and then checks what must hold
(docs/retraining.md, "What survives a crash"; docs/promotion.md, "Threat model"): no server left
listening, no traceback, and a project whose git and DVC state is clean after a retry.
The kill -9 of a running study is tests/integration/test_tune_resume.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from gaitgrf.core.config import SynthConfig
from gaitgrf.synth import generate_cohort
from gaitgrf.workspace import ensure_dvc, ensure_git_repo
from tests.support.projects import REPO, command_env, run_ok
from tests.support.servers import free_port, is_up, wait_until_up

pytestmark = pytest.mark.integration


def _processes() -> list[tuple[int, str, int, int]]:
    """(pid, state, parent pid, process group) of every process, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found.append((int(entry.name), fields[0], int(fields[1]), int(fields[2])))
    return found


def _children(pid: int) -> list[int]:
    """Direct children of `pid`: the servers, each leading its own process group."""
    return [p for p, _, parent, _ in _processes() if parent == pid]


def _alive_in_groups(groups: list[int]) -> list[int]:
    """Processes (not zombies) still in any of the process groups `groups`."""
    return [p for p, state, _, group in _processes() if state != "Z" and group in groups]


def _start_ui(tmp_path: Path) -> tuple[subprocess.Popen[str], list[str]]:
    params = tmp_path / "params.yaml"
    params.write_text(
        yaml.safe_dump(
            {"paths": {"mlflow_db": str(tmp_path / "m.db"), "optuna_db": str(tmp_path / "o.db")}}
        )
    )
    ports = free_port(), free_port()
    env = {k: v for k, v in command_env().items() if k != "MLFLOW_TRACKING_URI"}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    command = [sys.executable, "-m", "gaitgrf.cli", "ui", "--params", str(params)]
    command += ["--port", str(ports[0]), "--optuna-port", str(ports[1])]
    proc = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    urls = [f"http://127.0.0.1:{p}/" for p in ports]
    wait_until_up(proc, urls, "gaitgrf ui", 120, lambda: proc.communicate()[0], 1.0)
    return proc, urls


def _gone_within(groups: list[int], urls: list[str], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive_in_groups(groups) and not any(is_up(u) for u in urls):
            return True
        time.sleep(0.5)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_ui_stops_every_server_and_their_children_on_a_signal(tmp_path: Path, sig: int) -> None:
    proc, urls = _start_ui(tmp_path)
    groups = _children(proc.pid)
    assert len(groups) == 2
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=90)
    assert "Traceback" not in out, out
    assert _gone_within(groups, urls, 30), f"left running: {_alive_in_groups(groups)}"


def test_servers_die_with_a_killed_ui(tmp_path: Path) -> None:
    proc, urls = _start_ui(tmp_path)
    groups = _children(proc.pid)
    proc.kill()  # SIGKILL: the CLI cannot clean up; the kernel tells the servers (PDEATHSIG)
    proc.communicate(timeout=30)
    assert _gone_within(groups, urls, 40), f"left running: {_alive_in_groups(groups)}"


# --- intake ----------------------------------------------------------------------------------
@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    ensure_git_repo(root)
    ensure_dvc(root, commit=True)
    (root / "params.yaml").write_text("{}\n")
    shutil.copy(REPO / ".gitignore", root / ".gitignore")  # as in a clone of the project
    run_ok(root, "git", "add", "params.yaml", ".gitignore")
    run_ok(root, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "params")
    return root


def _cohort(parent: Path, cohort_id: str) -> Path:
    cfg = SynthConfig(
        cohort_id=cohort_id, subjects=2, walking_trials=1, static_trials=1,
        trial_duration_s=4.0, static_duration_s=1.0,
    )  # fmt: skip
    generate_cohort(cfg, parent / cohort_id)
    return parent / cohort_id


def _add_command(src: Path) -> list[str]:
    return [sys.executable, "-m", "gaitgrf.cli", "cohort", "add", str(src)]


def test_kill_9_during_intake_then_retry_finishes_cleanly(project: Path, tmp_path: Path) -> None:
    src = _cohort(tmp_path / "incoming", "late")
    raw = project / "data" / "raw"
    add = subprocess.Popen(
        _add_command(src), cwd=project, env=command_env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not (raw / ".intake-scratch" / "raw" / "late").exists():
        assert add.poll() is None, add.communicate()[0]
        assert time.monotonic() < deadline, "the add never started"
        time.sleep(0.05)
    add.kill()
    add.communicate(timeout=30)
    assert not (raw / "late").exists()
    out = run_ok(project, *_add_command(src))
    assert "late" in out
    assert (raw / "late.dvc").is_file() and not (raw / ".intake-scratch").exists()
    assert "Add cohort late" in run_ok(project, "git", "log", "--oneline", "-1")
    assert run_ok(project, "git", "status", "--porcelain").strip() == ""


def test_two_concurrent_adds_of_one_cohort_one_wins_one_line_for_the_other(
    project: Path, tmp_path: Path
) -> None:
    src = _cohort(tmp_path / "incoming", "twice")
    procs = [
        subprocess.Popen(
            _add_command(src),
            cwd=project,
            env=command_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results
    loser = next(err for code, _, err in results if code == 1)
    assert "Traceback" not in loser
    assert "another `gaitgrf cohort add` is running" in loser or "already exists" in loser
    assert (project / "data" / "raw" / "twice.dvc").is_file()
    assert run_ok(project, "git", "status", "--porcelain").strip() == ""
