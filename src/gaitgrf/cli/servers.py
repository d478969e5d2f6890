"""`gaitgrf ui` and `gaitgrf serve`: local servers kept up until Ctrl-C (see supervisor.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from gaitgrf.cli.errors import PipelineError
from gaitgrf.cli.options import ParamsOption, read_params
from gaitgrf.cli.output import console
from gaitgrf.cli.supervisor import Supervisor, wait_http


def ui(
    port: Annotated[int, typer.Option(help="MLflow UI port.")] = 5000,
    optuna_port: Annotated[int, typer.Option(help="optuna-dashboard port.")] = 8080,
    params: ParamsOption = None,
) -> None:
    """Start the MLflow UI and optuna-dashboard on localhost; Ctrl-C stops both."""
    import os
    import shutil
    import sys
    import tempfile

    from gaitgrf.runtime import redact, storage_url, tracking_uri
    from gaitgrf.tracking.client import project_experiment_ids

    cfg = read_params(params)
    uri = tracking_uri(cfg, os.environ)
    storage = storage_url(cfg, os.environ)
    experiments = project_experiment_ids(uri)  # before the server opens (or migrates) the store
    # Stores travel in the environment and a private file, never on a command line (`ps`).
    # MLflow >= 3.x also starts a job runner with a dozen huey consumers (~250 MB each) for
    # server-side jobs gaitgrf never submits; they made `ui` slow to stop and could outlive it.
    env = {
        **os.environ,
        "MLFLOW_BACKEND_STORE_URI": uri,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    with Supervisor(stop_timeout_s=20) as servers, tempfile.TemporaryDirectory() as private:
        servers.start(
            [
                sys.executable,
                "-m",
                "mlflow",
                "ui",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            env=env,
        )
        console.print(f"MLflow UI:        http://127.0.0.1:{port}  ({escape(redact(uri))})")
        _print_runs_tables(f"http://127.0.0.1:{port}", experiments)
        dashboard = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent))
        if dashboard:
            from gaitgrf.pipeline.tune.study import open_storage

            open_storage(storage)  # creates the tables: the dashboard fails on an empty database
            config = _dashboard_config(Path(private), storage)
            servers.start(
                [
                    dashboard,
                    "--from-config",
                    str(config),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(optuna_port),
                ]
            )
            console.print(
                f"optuna-dashboard: http://127.0.0.1:{optuna_port}  ({escape(redact(storage))})"
            )
        else:
            console.print("optuna-dashboard not installed: pip install optuna-dashboard")
        console.print("Ctrl-C stops them.")
        servers.run()
    if servers.exited_early(clean=(0, -15, -9, None)):
        raise PipelineError("a UI server exited early", hint="is the port already in use?")


def _print_runs_tables(ui_url: str, experiments: dict[str, str]) -> None:
    """A direct link to each project experiment's runs table: MLflow 3.17 opens an experiment
    on its GenAI page, where gaitgrf's runs are not shown (tracking.runs_table_url)."""
    from gaitgrf.tracking.client import runs_table_url

    console.print(f"  experiments:    {ui_url}/#/experiments")
    for name, experiment_id in experiments.items():
        console.print(f"  runs table:     {runs_table_url(ui_url, experiment_id)}  ({name})")
    if not experiments:
        console.print("  runs tables:    no gaitgrf experiment yet (the tune stages create them)")


def _dashboard_config(folder: Path, storage: str) -> Path:
    """optuna-dashboard's TOML config holding the storage URL, readable by this user only."""
    import json
    import os

    path = folder / "optuna-dashboard.toml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:  # a JSON string is a valid TOML basic string
        handle.write(f"[optuna_dashboard]\nstorage = {json.dumps(storage)}\n")
    return path


def serve(
    port: Annotated[int, typer.Option(help="Port of the local Prefect server.")] = 4200,
    params: ParamsOption = None,
) -> None:
    """Serve the retrain (cron + cohort event) and watch deployments; Ctrl-C stops.

    Uses the Prefect server in PREFECT_API_URL; without one, starts `prefect server start` on
    localhost first. To use an existing server and work pool instead: set PREFECT_API_URL and
    deploy with `prefect deploy` (flows/prefect.yaml), then run `prefect worker start`.
    """
    import os
    import sys

    from gaitgrf.runtime import redact

    cfg = read_params(params)
    params_path = str(params or Path("params.yaml"))
    env = dict(os.environ)
    with Supervisor(stop_timeout_s=30, newest_first=True) as served:
        if not env.get("PREFECT_API_URL"):
            _start_prefect_server(served, port, env)
        else:
            console.print(f"Prefect server: {escape(redact(env['PREFECT_API_URL']))}")
        console.print(
            f"serving: retrain (cron {escape(cfg.retrain.cron)}, and on gaitgrf.cohort.arrived), "
            f"watch ({escape(str(cfg.paths.incoming))} every {cfg.retrain.watch_interval_s:g} s)"
        )
        served.start(
            [sys.executable, "-m", "flows.retrain", "serve", "--params", params_path], env=env
        )
        served.run()
    if served.exited_early(clean=(0, -15, -9, -2, None)):
        raise PipelineError("a served process exited early", hint="see its output above")


def _start_prefect_server(served: Supervisor, port: int, env: dict[str, str]) -> None:
    """Start `prefect server start` on localhost, wait for it, point `env` at it."""
    import sys

    url = f"http://127.0.0.1:{port}/api"
    server = served.start(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
    )
    wait_http(f"{url}/health", server, timeout_s=120, name="the Prefect server")
    env["PREFECT_API_URL"] = url
    console.print(f"Prefect server: http://127.0.0.1:{port} (started here)")
