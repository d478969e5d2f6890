"""`tests.support.projects.run_in_own_group`: the runner the Prefect and Dask flow tests rely on.

A flow's workers can outlive the flow's own process; the runner must neither wait on them nor
leave them running.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from tests.support.projects import run_in_own_group

LEAVES_A_SLEEPER = (
    "import subprocess, sys\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
    "print(child.pid, flush=True)\n"
)


def _gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie waiting for its reaper counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return True
    return state in {"Z", "X"}


def test_returns_when_the_command_ends_and_kills_what_it_left(tmp_path: Path) -> None:
    start = time.monotonic()
    code, out = run_in_own_group(
        [sys.executable, "-c", LEAVES_A_SLEEPER], cwd=tmp_path, env=dict(os.environ), timeout=60
    )
    assert code == 0, out
    assert time.monotonic() - start < 60  # did not wait for the sleeper's 120 s
    sleeper = int(out.split()[-1])
    deadline = time.monotonic() + 10
    while not _gone(sleeper) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(sleeper)


def test_a_command_past_its_timeout_fails_with_its_output(tmp_path: Path) -> None:
    script = "print('started', flush=True)\nimport time\ntime.sleep(120)\n"
    with pytest.raises(AssertionError, match=r"ran past 2 s:\nstarted"):
        run_in_own_group(
            [sys.executable, "-c", script], cwd=tmp_path, env=dict(os.environ), timeout=2
        )
