"""`gaitgrf ui` keeps passwords off command lines and screens, and stops what it started.

The servers are replaced by recorded (or harmless real) processes: these tests check what the
CLI passes and prints and that the supervisor stops its children on every exit; the real
servers under real signals are in tests/reliability/.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gaitgrf.cli import app
from gaitgrf.cli.supervisor import Supervisor
from gaitgrf.runtime import redact

SECRET = "s3cr3t-pw"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgresql://gait:{SECRET}@db:5432/optuna", "postgresql://gait:***@db:5432/optuna"),
        (f"http://u:{SECRET}@mlflow.lab/path?x=1", "http://u:***@mlflow.lab/path?x=1"),
        ("sqlite:////tmp/mlflow.db", "sqlite:////tmp/mlflow.db"),
        ("http://host:5000", "http://host:5000"),
    ],
)
def test_redact_hides_passwords_only(url: str, shown: str) -> None:
    assert redact(url) == shown


def _params(tmp_path: Path) -> Path:
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"paths": {"optuna_db": str(tmp_path / "o.db")}}))
    return params


def test_ui_passes_stores_through_the_environment_and_prints_them_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[list[str], dict[str, str] | None]] = []
    monkeypatch.setattr(Supervisor, "start", lambda self, cmd, env=None: started.append((cmd, env)))
    monkeypatch.setattr(Supervisor, "run", lambda self: None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://gait:{SECRET}@127.0.0.1:9/")
    result = CliRunner().invoke(app, ["ui", "--params", str(_params(tmp_path))])
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output and "gait:***@127.0.0.1" in result.output
    for command, _ in started:
        assert not any(SECRET in part for part in command)
    mlflow_env = started[0][1]
    assert mlflow_env is not None and SECRET in mlflow_env["MLFLOW_BACKEND_STORE_URI"]
    assert "--backend-store-uri" not in started[0][0]


def test_a_failed_storage_open_stops_the_servers_already_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gaitgrf.pipeline.tune import study

    real_start = Supervisor.start
    sleepers: list[subprocess.Popen[bytes]] = []

    def start_sleeper(self: Supervisor, cmd: list[str], env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        proc = real_start(self, [sys.executable, "-c", "import time; time.sleep(120)"])
        sleepers.append(proc)
        return proc

    def broken(url: str) -> None:
        raise study.TuningError(f"{url}: cannot open")

    monkeypatch.setattr(Supervisor, "start", start_sleeper)
    monkeypatch.setattr(study, "open_storage", broken)
    result = CliRunner().invoke(app, ["ui", "--params", str(_params(tmp_path))])
    assert result.exit_code == 1
    assert "cannot open" in result.output and "Traceback" not in result.output
    assert len(sleepers) == 1 and sleepers[0].poll() is not None


def test_supervisor_stops_the_whole_process_group(tmp_path: Path) -> None:
    """A server's own children (job runners, workers) stop with it."""
    marker = tmp_path / "grandchild.pid"
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        f"open({str(marker)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(120)\n"
    )
    with Supervisor(stop_timeout_s=5) as servers:
        servers.start([sys.executable, "-c", script])
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    grandchild = int(marker.read_text())
    # No grace period: stop() returns only once the group is gone (its ports closed).
    assert not Path(f"/proc/{grandchild}").exists() or "Z" in _state(grandchild)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0]
    except OSError:
        return "gone"


def test_supervisor_stops_on_sigint_where_the_launcher_ignored_it() -> None:
    """A background job of a script (`gaitgrf serve &`) starts with SIGINT ignored, and Python
    then installs no KeyboardInterrupt handler: the supervisor installs one itself."""
    import signal
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from gaitgrf.cli.supervisor import Supervisor\n"
        "with Supervisor(stop_timeout_s=5) as sup:\n"
        "    sup.start([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        "    print('up', flush=True)\n"
        "    sup.run()\n"
        "print('stopped', flush=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "stopped" in out
