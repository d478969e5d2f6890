"""`gaitgrf registry show|rollback`: the MLflow model registry's versions and aliases."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from gaitgrf.cli.errors import ErrorGroup
from gaitgrf.cli.options import ParamsOption, read_params
from gaitgrf.cli.output import console

if TYPE_CHECKING:
    from gaitgrf.core.config import Params

app = typer.Typer(
    cls=ErrorGroup,
    help="The MLflow model registry: versions, aliases, rollback.",
    no_args_is_help=True,
)


def _tracker(cfg: Params) -> Any:
    import os

    from gaitgrf.runtime import open_tracker

    return open_tracker(cfg, os.environ)


@app.command("show")
def registry_show(params: ParamsOption = None) -> None:
    """Every registered version with its aliases, study and test metrics."""
    cfg = read_params(params)
    rows = _tracker(cfg).versions(cfg.promote.model_name)
    if not rows:
        console.print(
            f"registered model {cfg.promote.model_name!r} has no version yet "
            "(run `gaitgrf promote` after tuning)"
        )
        return
    table = Table(title=f"registered model {cfg.promote.model_name}")
    for col in ("version", "aliases", "study", "cv loss", "test rRMSE %", "decision", "created"):
        table.add_column(col)
    for row in rows:
        tags = row["tags"]
        table.add_row(
            row["version"],
            ", ".join(row["aliases"]) or "-",
            escape(tags.get("gaitgrf.study", "-")),
            tags.get("gaitgrf.cv_val_loss", "-"),
            tags.get("gaitgrf.test.rrmse_mean", "-"),
            escape(tags.get("gaitgrf.decision", "-")),
            time.strftime("%Y-%m-%d %H:%M", time.localtime(row["created"] / 1000)),
        )
    console.print(table)


@app.command("rollback")
def registry_rollback(params: ParamsOption = None) -> None:
    """Move `champion` back to the version it replaced."""
    from gaitgrf.pipeline.promote import rollback

    cfg = read_params(params)
    current, previous = rollback(_tracker(cfg), cfg.promote.model_name)
    console.print(f"champion: v{current} -> v{previous} ({cfg.promote.model_name})")
