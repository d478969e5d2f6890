"""The `gaitgrf` command line: bootstrap a project, generate and inspect cohorts, run the pipeline.

This module builds `app` (the console entry point `gaitgrf.cli:app`) from one module per command
group. Heavy libraries (pandas, pyarrow, DVC, torch...) are imported inside the commands so that
`gaitgrf --help` stays fast. A `GaitGrfError` is shown as one red line and its hint, with exit
code 1, never as a traceback (errors.py). Every command runs with telemetry off (environment.py),
set by the entry callback `main`.

Commands are registered here, in the order `gaitgrf --help` lists them.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from gaitgrf import __version__
from gaitgrf.cli import cohort, data, export, pipeline, predict, registry, servers, weights
from gaitgrf.cli.environment import telemetry_off
from gaitgrf.cli.errors import ErrorGroup
from gaitgrf.cli.output import console

app = typer.Typer(
    cls=ErrorGroup,
    help="gaitgrf: predict walking ground reaction forces from wearables (DVC + Prefect pipeline).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        console.print(f"gaitgrf {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """gaitgrf: predict walking ground reaction forces from wearables."""
    # Here, before any command, not at import: the command and all it starts inherit it.
    telemetry_off(os.environ)


app.command()(pipeline.prepare)
app.command()(pipeline.repro)
app.command()(data.bootstrap)
app.command()(data.synth)
app.command("import")(data.import_)
app.command()(pipeline.tune)
app.command()(pipeline.evaluate)
app.command()(pipeline.promote)
app.command()(pipeline.plots)
app.command()(servers.ui)
app.command()(servers.serve)
app.command()(predict.predict)
app.command()(predict.transfer)
app.add_typer(cohort.app, name="cohort")
app.add_typer(weights.app, name="weights")
app.add_typer(registry.app, name="registry")
app.add_typer(export.app, name="export")
