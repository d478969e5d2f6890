"""Child processes of the CLI: pipeline tools run to their end, servers run until Ctrl-C.

`gaitgrf ui` and `gaitgrf serve` both start a few long-running processes, watch them until one
exits or the user presses Ctrl-C, then stop them all; that loop is written here once. Every
server runs in its own process group, is stopped with everything it forked on any exit of the
command (Ctrl-C, SIGTERM, an error while starting the next one), and dies with the CLI.
`subprocess` is imported inside the functions, like every heavy-ish import of the CLI, so that
`gaitgrf --help` stays fast.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from gaitgrf.cli.errors import PipelineError

if TYPE_CHECKING:
    import subprocess

#: prctl option: signal sent to the child when its parent dies (linux/prctl.h).
_PR_SET_PDEATHSIG: Final = 1


def run_tool(command: list[str], what: str, hint: str) -> None:
    """Run a pipeline tool in the project root, streaming its output; fail with one line."""
    import subprocess
    import sys

    code = subprocess.call([sys.executable, *command] if command[0] == "-m" else command)
    if code != 0:
        raise PipelineError(f"{what} failed (exit code {code})", hint=hint)


def _child_setup() -> None:
    """In the child, before exec: its own process group, and die with the CLI (Linux).

    A process group lets one signal reach the server *and* everything it forks (MLflow's
    gunicorn and job runners, Prefect's uvicorn); PR_SET_PDEATHSIG makes the kernel send SIGTERM
    to the server if the CLI itself dies, even by SIGKILL, so nothing is left listening.
    """
    os.setpgrp()
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@dataclass
class Supervisor:
    """Processes started together and stopped together, whatever ends the command.

    Use it as a context manager: leaving the block (normally, on an error such as a storage
    that cannot be opened, on Ctrl-C, or on SIGTERM, which is turned into the same path) stops
    every process group it started. stop_timeout_s: how long the groups get to exit after
    SIGTERM before they are killed; newest_first: terminate in reverse start order (a runner
    before the server it talks to).
    """

    stop_timeout_s: float
    newest_first: bool = False
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _previous: Any = None
    _previous_int: Any = None

    def __enter__(self) -> Supervisor:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt)
            # SIGINT too: a command started as a background job of a script (`cmd &` in a
            # non-interactive shell) inherits SIGINT *ignored*, and Python then installs no
            # KeyboardInterrupt handler, so `kill -INT` would leave every server running.
            self._previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            if self._previous is not None:
                signal.signal(signal.SIGTERM, self._previous)
            if self._previous_int is not None:
                signal.signal(signal.SIGINT, self._previous_int)

    def start(
        self, command: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start one process in its own group (inheriting this one's streams), under watch."""
        import subprocess

        proc = subprocess.Popen(command, env=env, preexec_fn=_child_setup)
        self.procs.append(proc)
        return proc

    def run(self) -> None:
        """Wait until any process exits or the user presses Ctrl-C (or sends SIGTERM)."""
        with contextlib.suppress(KeyboardInterrupt):
            while all(p.poll() is None for p in self.procs):
                time.sleep(0.5)

    def stop(self) -> None:
        """SIGTERM to every group, wait, then SIGKILL what is left; a second Ctrl-C kills."""
        import subprocess

        order = list(reversed(self.procs)) if self.newest_first else list(self.procs)
        try:
            for proc in order:
                _signal_group(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + self.stop_timeout_s
            for proc in order:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except KeyboardInterrupt:
            pass
        finally:
            # One 5 s deadline for all groups together, not 5 s each: with a server per group the
            # per-group waits added up to more than the grace period itself on a loaded machine.
            for proc in order:  # the leader may be gone while its children still run
                _signal_group(proc.pid, signal.SIGKILL)
            reap_by = time.monotonic() + 5.0
            for proc in order:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=max(0.0, reap_by - time.monotonic()))
            gone_by = time.monotonic() + 5.0
            for proc in order:
                _wait_group_gone(proc.pid, timeout_s=max(0.0, gone_by - time.monotonic()))

    def exited_early(self, clean: tuple[int | None, ...]) -> bool:
        """Whether a process ended with a code outside `clean` (its own crash, not our stop)."""
        return any(p.returncode not in clean for p in self.procs)


def _wait_group_gone(pgid: int, timeout_s: float) -> None:
    """Wait until no process of group `pgid` is left, so that when the command returns its
    servers' ports are closed (a killed child reparented to init can outlive its leader by a
    moment on a loaded machine)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.05)


def _terminate_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float, *, name: str) -> None:
    """Poll `url` until it answers; fail early if `proc` (the server `name`) exits meanwhile."""
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PipelineError(
                f"{name} exited while starting",
                hint="is the port already in use? try --port",
            )
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise PipelineError(f"no answer from {url} within {timeout_s:.0f} s", hint="see its log above")
