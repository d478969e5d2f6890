"""Two tuning worker processes share one Optuna study on a real PostgreSQL server.

Each worker is `python -m flows.tune --worker` (what `gaitgrf tune --worker` runs), with the
Optuna storage and the MLflow tracking store in PostgreSQL (GAITGRF_OPTUNA_STORAGE,
MLFLOW_TRACKING_URI). Together they must finish the budget exactly: as many COMPLETE + PRUNED
trials as `n_trials`, each run by one worker once, every trial's MLflow run under one parent
run. Then the DVC stage's code finds the budget met and only refits.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest

from gaitgrf.core.config import load_params
from gaitgrf.pipeline.tune.study import CLAIM_ATTR
from gaitgrf.tracking.client import TUNING_EXPERIMENT, Tracker
from tests.support.projects import REPO, write_tuning_project

pytestmark = pytest.mark.integration
N_TRIALS = 8
ARCH = "mlp"
STUDY = f"{ARCH}__subject"


def env_for(storage: str, tracking: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "GAITGRF_OPTUNA_STORAGE": storage,
        "MLFLOW_TRACKING_URI": tracking,
    }
    return env


def test_two_workers_finish_the_budget_once(
    tmp_path: Path, pg_database: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = write_tuning_project(tmp_path, N_TRIALS, epochs=4, threads=1)
    storage, tracking = pg_database("optuna"), pg_database("mlflow")
    # The MLflow schema is created once, before the workers (a tracking server does the same).
    Tracker(tracking).experiment(TUNING_EXPERIMENT)
    env = env_for(storage, tracking)
    cmd = [sys.executable, "-m", "flows.tune", "--worker", "--arch", ARCH]
    cmd += ["--condition", "subject"]
    workers = [
        subprocess.Popen(
            cmd, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    for w, out in zip(workers, outputs, strict=True):
        assert w.returncode == 0, out

    study = optuna.load_study(study_name=STUDY, storage=storage)
    trials = study.get_trials()
    counted = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(counted) == N_TRIALS  # the budget, met exactly
    assert {t.state.name for t in trials} <= {"COMPLETE", "PRUNED", "FAIL"}
    # A FAIL trial is a surplus one: asked for in a race, never trained, not counted.
    assert all(t.user_attrs.get(CLAIM_ATTR) is False for t in trials if t.state.name == "FAIL")
    # Each counted trial ran in exactly one worker, once.
    ran = [
        [int(n) for n in re.findall(rf"{STUDY} trial (\d+): (?:complete|pruned)", out)]
        for out in outputs
    ]
    assert all(ran), f"both workers must take trials: {ran}"
    assert sorted(ran[0] + ran[1]) == sorted(t.number for t in counted)

    # MLflow (PostgreSQL backend): one parent run, one child run per trial that ran.
    tracker = Tracker(tracking)
    runs = tracker.client.search_runs([tracker.experiment(TUNING_EXPERIMENT)])
    parents = [r for r in runs if r.data.tags.get("gaitgrf.role") == "study"]
    assert len(parents) == 1
    children = [r for r in runs if r.data.tags.get("gaitgrf.role") == "trial"]
    assert len(children) == N_TRIALS
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}

    # The DVC stage's code then runs no trial, only the refit (once). In-process: a third
    # interpreter start (torch, MLflow) costs more than the refit itself.
    from gaitgrf.pipeline.tune.run import tune_stage

    monkeypatch.chdir(project)
    environ = {"GAITGRF_OPTUNA_STORAGE": storage, "MLFLOW_TRACKING_URI": tracking}
    summary = tune_stage(load_params(project / "params.yaml"), ARCH, "subject", environ, print)
    assert summary["trials"]["COMPLETE"] + summary["trials"].get("PRUNED", 0) == N_TRIALS
    assert len(optuna.load_study(study_name=STUDY, storage=storage).get_trials()) == len(trials)
    assert (project / "data" / "tuned" / STUDY / "model" / "bundle.json").is_file()
    assert summary["mlflow"]["parent_run_id"] == parents[0].info.run_id


JOIN = """
import sys, time
from gaitgrf.core.config import PrunerConfig
from gaitgrf.pipeline.tune.study import join_study, open_storage, study_lock
url, start = sys.argv[1], float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))  # all processes open at the same moment
storage = open_storage(url)
with study_lock(storage, "s", print):
    study, created = join_study(storage, "s", 0, PrunerConfig(), "fp", print)
print("created" if created else "joined")
"""


def test_processes_opening_a_fresh_database_at_once_create_one_study(
    pg_database: Callable[[str], str],
) -> None:
    url = pg_database("join")
    start = f"{time.time() + 4:.3f}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", JOIN, url, start],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert sorted(out.strip().splitlines()[-1] for out in outs) == ["created", "joined", "joined"]
    names = {s.study_name for s in optuna.get_all_study_summaries(url)}
    assert names == {"s"}  # the lock study is gone
