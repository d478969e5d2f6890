"""Child processes of the CLI: pipeline tools run to their end, servers run until Ctrl-C.

`gaitgrf ui` and `gaitgrf serve` both start a few long-running processes, watch them until one
exits or the user presses Ctrl-C, then stop them all; that loop is written here once. Its
stopping policy (order, patience, whether to kill) is per caller, as each command had it.
`subprocess` is imported inside the functions, like every heavy-ish import of the CLI, so that
`gaitgrf --help` stays fast.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gaitgrf.cli.errors import PipelineError

if TYPE_CHECKING:
    import subprocess


def run_tool(command: list[str], what: str, hint: str) -> None:
    """Run a pipeline tool in the project root, streaming its output; fail with one line."""
    import subprocess
    import sys

    code = subprocess.call([sys.executable, *command] if command[0] == "-m" else command)
    if code != 0:
        raise PipelineError(f"{what} failed (exit code {code})", hint=hint)


@dataclass
class Supervisor:
    """Processes started together and stopped together.

    stop_timeout_s: how long each process gets to exit once terminated; newest_first: terminate
    in reverse start order (a runner before the server it talks to); kill_late: kill a process
    that outlives its timeout instead of letting the timeout error through.
    """

    stop_timeout_s: float
    newest_first: bool = False
    kill_late: bool = False
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(
        self, command: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start one process (inheriting this one's streams) and keep it under watch."""
        import subprocess

        proc = subprocess.Popen(command, env=env)
        self.procs.append(proc)
        return proc

    def run(self) -> None:
        """Wait until any process exits or the user presses Ctrl-C, then stop them all."""
        try:
            while all(p.poll() is None for p in self.procs):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self._stop()

    def _stop(self) -> None:
        import subprocess

        order = list(reversed(self.procs)) if self.newest_first else self.procs
        for proc in order:
            proc.terminate()
        for proc in order:
            if not self.kill_late:
                proc.wait(timeout=self.stop_timeout_s)
                continue
            try:
                proc.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()

    def exited_early(self, clean: tuple[int | None, ...]) -> bool:
        """Whether a process ended with a code outside `clean` (its own crash, not our stop)."""
        return any(p.returncode not in clean for p in self.procs)


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
