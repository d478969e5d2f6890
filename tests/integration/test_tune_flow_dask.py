"""The Prefect flow `tune` fans two studies out on a local Dask cluster (params `runner`).

`python -m flows.tune` in a temporary project, Prefect in ephemeral mode with its own
PREFECT_HOME, `runner: {kind: dask, workers: 2, threads: 1}`: both studies are tuned and refit
by `run_study` in the Dask worker processes, with the DVC stage's outputs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.projects import prefect_env, run_in_own_group, write_tuning_project

pytestmark = pytest.mark.integration


def test_flow_fans_studies_out_on_a_local_dask_cluster(tmp_path: Path) -> None:
    project = write_tuning_project(tmp_path, n_trials=8, epochs=4, threads=1)
    base = yaml.safe_load((project / "params.yaml").read_text())
    samples_dir = project / "data" / "fused" / "stance"
    for suffix in (".npz", ".json"):  # a SampleSet is an array file and its description
        (samples_dir / f"base{suffix}").write_bytes((samples_dir / f"subject{suffix}").read_bytes())
    base["tune"]["profiles"][base["tune"]["profile"]]["budget"].update(n_trials=2, epochs=2)
    base["runner"] = {"kind": "dask", "address": None, "workers": 2, "threads": 1}
    (project / "params.yaml").write_text(yaml.safe_dump(base))
    env = prefect_env(tmp_path / "prefect", MLFLOW_DISABLE_TELEMETRY="true")
    for key in ("MLFLOW_TRACKING_URI", "GAITGRF_OPTUNA_STORAGE"):
        env.pop(key, None)
    code, out = run_in_own_group(
        [sys.executable, "-m", "flows.tune", "--arch", "mlp"], cwd=project, env=env, timeout=400
    )
    assert code == 0, out
    assert "Finished in state Completed()" in out
    for cond in ("base", "subject"):
        study = f"mlp__{cond}"
        summary = json.loads((project / "data" / "tuned" / study / "summary.json").read_text())
        assert summary["trials"].get("COMPLETE", 0) + summary["trials"].get("PRUNED", 0) == 2
        assert (project / "reports" / "tuning" / f"{study}.json").is_file()
        assert "Task run 'study-" in out
