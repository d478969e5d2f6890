"""Killing a tuning stage and running it again resumes the study: no completed trial is lost.

A real `python -m stages.tune` process in a temporary project (params.yaml, fused data and
subjects table written there), killed with SIGKILL once two trials are complete, then run again.
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
import yaml

from gaitgrf.core import contract as c
from gaitgrf.core.config import Params
from tests.sample_factory import make_samples

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
N_TRIALS = 6


@pytest.fixture
def project(tmp_path: Path) -> Path:
    samples, table = make_samples(subjects=10, per_subject=20)
    samples.save(tmp_path / "data" / "fused" / "stance" / "subject.npz")
    full = table.assign(
        sex="female", age_years=50.0, mass_kg=70.0, height_m=1.7, affected_side="none"
    )[list(c.SUBJECT_COLUMNS)]
    (tmp_path / "data" / "resampled").mkdir(parents=True)
    full.to_csv(tmp_path / "data" / "resampled" / "subjects.csv", index=False)
    params = Params().model_dump(mode="json", by_alias=True)
    params["tune"].update(folds=2, test_fraction=0.2)
    params["tune"]["budget"].update(
        n_trials=N_TRIALS,
        timeout_s=None,
        epochs=6,
        patience=0,
        max_train_samples=None,
        max_val_samples=None,
        max_refit_samples=None,
    )
    params["tune"]["pruner"]["startup_trials"] = N_TRIALS  # no pruning: every trial completes
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp_path


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
