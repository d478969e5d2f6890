"""The Prefect flow `prepare` for real: ephemeral (no server) and against `prefect server start`.

Each run is a subprocess with its own PREFECT_HOME, as a user would run `gaitgrf prepare`.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gaitgrf.core.config import SynthConfig
from gaitgrf.synth import generate_cohort
from tests.support.projects import REPO, prefect_env, run_in_own_group
from tests.support.servers import free_port, http_server

pytestmark = pytest.mark.integration

TINY = SynthConfig(subjects=3, walking_trials=1, static_trials=1, trial_duration_s=4.0)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("flow-project")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["synth"].update(subjects=TINY.subjects, walking_trials=1, trial_duration_s=4.0)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    generate_cohort(TINY, root / "data" / "raw" / TINY.cohort_id)
    return root


def run_flow(project: Path, env: dict[str, str]) -> str:
    code, output = run_in_own_group(
        [sys.executable, "-m", "flows.prepare", "--params", "params.yaml"],
        cwd=project,
        env=env,
        timeout=300,
    )
    assert code == 0, output
    return output


def assert_outputs(project: Path) -> None:
    summary = json.loads((project / "reports/validation/summary.json").read_text())
    assert summary["cohorts"][TINY.cohort_id]["passed"] == 6
    for layout in ("stance", "window"):
        for condition in ("base", "subject"):
            assert (project / "data/fused" / layout / f"{condition}.npz").is_file()


def test_prepare_runs_without_a_server(project: Path, tmp_path: Path) -> None:
    out = run_flow(project, prefect_env(tmp_path / "prefect"))
    assert "Starting temporary server" in out
    for task in ("validate", "resample", "fuse"):
        assert f"Task run '{task}-" in out
    assert "Flow run" in out and "Finished in state Completed()" in out
    assert_outputs(project)


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--no-ui", "--analytics-off"]
    env = prefect_env(tmp_path / "server-home")
    with http_server(command, f"{url}/health", "prefect server", 90, env):
        yield url


def api_post(url: str, body: dict) -> list[dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def test_prepare_runs_against_a_running_server(
    project: Path, tmp_path: Path, prefect_server: str
) -> None:
    out = run_flow(project, prefect_env(tmp_path / "client", PREFECT_API_URL=prefect_server))
    assert "Starting temporary server" not in out
    flows = api_post(f"{prefect_server}/flows/filter", {})
    assert [f["name"] for f in flows] == ["prepare"]
    runs = api_post(f"{prefect_server}/flow_runs/filter", {})
    assert [r["state_type"] for r in runs] == ["COMPLETED"]
    tasks = api_post(f"{prefect_server}/task_runs/filter", {})
    assert sorted(t["name"].rsplit("-", 1)[0] for t in tasks) == ["fuse", "resample", "validate"]
    assert all(t["state_type"] == "COMPLETED" for t in tasks)
    assert_outputs(project)
