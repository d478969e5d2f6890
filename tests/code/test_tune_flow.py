"""flows/tune.py: the task runner params choose, the studies it fans out, `gaitgrf tune --worker`.

The fan-out itself runs for real (a local Dask cluster) in
tests/integration/test_tune_flow_dask.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from prefect.task_runners import ThreadPoolTaskRunner
from typer.testing import CliRunner

from flows.tune import task_runner
from gaitgrf import cli
from gaitgrf.core.config import ConfigError, Params, RunnerConfig, parse_params
from gaitgrf.pipeline.tune.fanout import studies, with_threads
from gaitgrf.pipeline.tune.study import TuningError


def test_sequential_is_one_thread_and_dask_is_local_or_remote() -> None:
    runner = task_runner(RunnerConfig())
    assert isinstance(runner, ThreadPoolTaskRunner) and runner._max_workers == 1
    local = task_runner(RunnerConfig(kind="dask", workers=3))
    assert type(local).__name__ == "DaskTaskRunner"
    assert local.cluster_kwargs["n_workers"] == 3
    assert local.cluster_kwargs["threads_per_worker"] == 1
    remote = task_runner(RunnerConfig(kind="dask", address="tcp://10.0.0.5:8786"))
    assert remote.address == "tcp://10.0.0.5:8786"


def test_runner_params_are_checked() -> None:
    assert parse_params({"runner": {"kind": "dask", "workers": 4}}).runner.workers == 4
    with pytest.raises(ConfigError, match=r"runner\.kind"):
        parse_params({"runner": {"kind": "ray"}})


def test_studies_default_to_every_pair_and_refuse_unknown_names() -> None:
    params = Params()
    assert len(studies(params)) == len(params.models.architectures) * 2
    assert studies(params, ["lstm"], ["base"]) == [("lstm", "base")]
    with pytest.raises(TuningError, match="transformer"):
        studies(params, ["transformer"])


def test_threads_override_keeps_everything_else() -> None:
    params = Params()
    changed = with_threads(params, 1)
    assert changed.tune.threads == 1
    assert changed.tune.model_dump(exclude={"threads"}) == params.tune.model_dump(
        exclude={"threads"}
    )


def test_cli_worker_runs_the_flow_module_in_worker_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake_run(command: list[str], *_: Any) -> None:
        calls.append(command)

    monkeypatch.setattr("gaitgrf.cli.pipeline.run_tool", fake_run)
    runner = CliRunner()
    result = runner.invoke(cli.app, ["tune", "--worker", "lstm", "--condition", "base"])
    assert result.exit_code == 0, result.output
    assert calls == [["-m", "flows.tune", "--worker", "--arch", "lstm", "--condition", "base"]]
    result = runner.invoke(cli.app, ["tune", "--worker"])
    assert calls[-1] == ["-m", "flows.tune", "--worker"]
