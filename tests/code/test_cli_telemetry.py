"""Every command runs with telemetry off, not only under `make`; a user's own setting wins.

The CLI's entry callback sets the switches in its environment (gaitgrf.cli.environment); these
tests run commands with the switches unset and look at what the child processes would inherit:
the tool `gaitgrf repro` starts, and the Prefect server and flow `gaitgrf serve` starts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gaitgrf.cli import app, servers
from gaitgrf.cli.environment import TELEMETRY_OFF, telemetry_off
from gaitgrf.cli.supervisor import Supervisor

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def unset(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No telemetry switch in the environment (as outside `make`); restored afterwards."""
    for key in TELEMETRY_OFF:
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_the_cli_switches_off_what_the_makefile_does() -> None:
    exported = dict(
        re.findall(r"^export (\w+) := (.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    )
    assert dict(TELEMETRY_OFF) == {key: exported[key] for key in TELEMETRY_OFF}
    assert {"DO_NOT_TRACK", "PREFECT_SERVER_ANALYTICS_ENABLED"} <= set(TELEMETRY_OFF)


def test_a_child_process_of_a_command_inherits_telemetry_off(unset: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, str]] = []

    def call(command: list[str]) -> int:  # what `subprocess.call` would hand the child
        seen.append(dict(os.environ))
        return 0

    unset.setattr(subprocess, "call", call)
    result = CliRunner().invoke(app, ["repro", "validate"])
    assert result.exit_code == 0, result.output
    assert len(seen) == 1
    for key, value in TELEMETRY_OFF.items():
        assert seen[0].get(key) == value, key


def test_serve_starts_its_prefect_server_without_analytics(
    unset: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started: list[tuple[list[str], dict[str, str] | None]] = []
    unset.delenv("PREFECT_API_URL", raising=False)
    unset.setattr(Supervisor, "start", lambda self, cmd, env=None: started.append((cmd, env)))
    unset.setattr(Supervisor, "run", lambda self: None)
    unset.setattr(servers, "wait_http", lambda *args, **kwargs: None)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"retrain": {"cron": "0 3 * * 1"}}))
    result = CliRunner().invoke(app, ["serve", "--params", str(params)])
    assert result.exit_code == 0, result.output
    (server_cmd, server_env), (flow_cmd, flow_env) = started
    assert server_cmd[1:5] == ["-m", "prefect", "server", "start"]
    assert flow_cmd[1:3] == ["-m", "flows.retrain"]
    for env in (server_env, flow_env):
        assert env is not None
        assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
        assert env["DO_NOT_TRACK"] == "true"


def test_an_explicit_setting_is_kept(unset: pytest.MonkeyPatch) -> None:
    unset.setenv("MLFLOW_DISABLE_TELEMETRY", "false")  # the user's opt-in
    unset.setenv("DVC_NO_ANALYTICS", "")  # empty: as if unset
    environ = dict(os.environ)
    applied = telemetry_off(environ)
    assert environ["MLFLOW_DISABLE_TELEMETRY"] == "false"
    assert "MLFLOW_DISABLE_TELEMETRY" not in applied
    assert environ["DVC_NO_ANALYTICS"] == "1"
    assert environ["DO_NOT_TRACK"] == "true"


def test_importing_the_cli_leaves_the_environment_alone() -> None:
    env = {k: v for k, v in os.environ.items() if k not in TELEMETRY_OFF}
    code = (
        "import os; before = dict(os.environ); import gaitgrf.cli; "
        "assert dict(os.environ) == before, set(os.environ) ^ set(before)"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
