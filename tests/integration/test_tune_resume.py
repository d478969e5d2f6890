"""Killing a tuning stage and running it again resumes the study: no completed trial is lost.

A real `python -m stages.tune` process in a tuning project (params.yaml, fused data and
subjects table written there: tests/support/projects.py), killed with SIGKILL once two trials
are complete, then run again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from tests.support.projects import REPO, write_tuning_project

pytestmark = pytest.mark.integration
N_TRIALS = 6


@pytest.fixture
def project(tmp_path: Path) -> Path:
    # startup_trials = n_trials: no pruning, every trial completes.
    return write_tuning_project(tmp_path, N_TRIALS, epochs=6, startup_trials=N_TRIALS)


def _tune(project: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("GAITGRF_OPTUNA_STORAGE", None)
    return subprocess.Popen(
        [sys.executable, "-m", "stages.tune", "--arch", "cnn1d", "--condition", "subject"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _complete(project: Path) -> dict[int, float]:
    storage = f"sqlite:///{project / 'optuna.db'}"
    try:
        study = optuna.load_study(study_name="cnn1d__subject", storage=storage)
    except (KeyError, Exception):
        return {}
    return {
        t.number: float(t.value)
        for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
        if t.value is not None
    }


def test_killed_study_resumes_without_losing_trials(project: Path) -> None:
    proc = _tune(project)
    deadline = time.monotonic() + 300
    while len(_complete(project)) < 2:
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "no two trials completed in 5 minutes"
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    before = _complete(project)
    assert 2 <= len(before) < N_TRIALS
    assert not (project / "data" / "tuned" / "cnn1d__subject" / "summary.json").exists()

    rerun = _tune(project)
    out, _ = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, out
    assert f"{len(before)} trial(s) already done" in out
    after = _complete(project)
    for number, value in before.items():
        assert after[number] == value  # the completed trials are the same, not re-run
    study = optuna.load_study(
        study_name="cnn1d__subject", storage=f"sqlite:///{project / 'optuna.db'}"
    )
    states = [t.state.name for t in study.get_trials()]
    assert states.count("COMPLETE") == N_TRIALS  # the killed trial is not counted
    assert (project / "data" / "tuned" / "cnn1d__subject" / "model" / "bundle.json").is_file()
