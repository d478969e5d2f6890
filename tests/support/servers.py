"""Server processes the tests start: a free localhost port, a readiness poll, a clean stop.

Every server binds 127.0.0.1 on a port the OS just handed out, is polled over HTTP until it
answers 200 (failing at once, with its log, when it exits instead), and is stopped in `finally`
so a failing test leaves no process behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    """A localhost TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_answers(port: int) -> bool:
    """Whether anything accepts a connection on 127.0.0.1:`port`."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def is_up(url: str) -> bool:
    """`url` answers HTTP 200 within 2 s."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status) == 200
    except OSError:
        return False


def wait_until_up(
    proc: subprocess.Popen,
    urls: Sequence[str],
    what: str,
    timeout_s: float,
    output: Callable[[], str] = lambda: "",
    interval_s: float = 0.5,
) -> None:
    """Poll until every URL answers 200; fail (with `output()`'s tail) if `proc` exits first."""
    deadline = time.monotonic() + timeout_s
    while not all(is_up(url) for url in urls):
        if proc.poll() is not None:
            pytest.fail(f"{what} exited ({proc.returncode}) during start-up:\n{output()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not ready within {timeout_s:g} s:\n{output()[-3000:]}")
        time.sleep(interval_s)


def stop(proc: subprocess.Popen, timeout_s: float = 20) -> None:
    """SIGTERM, then SIGKILL after `timeout_s`."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def stop_group(proc: subprocess.Popen, sig: int, timeout_s: float) -> None:
    """`sig` to the process group of `proc` (started with start_new_session), SIGKILL later."""
    os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def kill_processes_in(root: Path) -> int:
    """Kill every process still working in `root` (flow runs a runner spawned); how many."""
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


@contextmanager
def http_server(
    command: Sequence[str],
    health_url: str,
    what: str,
    timeout_s: float,
    env: dict[str, str],
    log: Path | None = None,
    own_group: bool = False,
    stop_timeout_s: float = 20,
) -> Iterator[subprocess.Popen]:
    """Start `command`, wait for `health_url`, yield the process, stop it.

    Output goes to `log` (or nowhere). With `own_group` the server gets its own process group
    and the whole group is stopped (servers that fork workers).
    """
    out = log.open("wb") if log else None
    proc = subprocess.Popen(
        list(command),
        env=env,
        stdout=out or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if out else subprocess.DEVNULL,
        start_new_session=own_group,
    )
    try:
        wait_until_up(proc, [health_url], what, timeout_s, log.read_text if log else lambda: "")
        yield proc
    finally:
        if own_group and proc.poll() is None:
            stop_group(proc, signal.SIGTERM, stop_timeout_s)
        elif not own_group:
            stop(proc, stop_timeout_s)
        if out:
            out.close()


@contextmanager
def mlflow_server(backend_uri: str, folder: Path) -> Iterator[str]:
    """A real `mlflow server` on `backend_uri` (its URL), proxying artifacts to a folder.

    Artifacts land in `folder`/server-artifacts (as MinIO would in infra/), the server's log in
    `folder`/mlflow-server.log.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    command = [
        *(sys.executable, "-m", "mlflow", "server"),
        *("--backend-store-uri", backend_uri),
        *("--artifacts-destination", str(folder / "server-artifacts")),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
    ]
    log = folder / "mlflow-server.log"
    with http_server(command, f"{url}/health", "mlflow server", 120, env, log):
        yield url
