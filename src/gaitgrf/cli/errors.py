"""The CLI's own errors, and how any `GaitGrfError` reaches the user: two lines, exit code 1."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from gaitgrf.cli.output import err_console
from gaitgrf.core.errors import GaitGrfError, error_lines


class CohortNotFoundError(GaitGrfError):
    hint = "list the cohorts with `gaitgrf cohort list`"


class PipelineError(GaitGrfError):
    """A pipeline tool (DVC, a flow, a server) that failed; the hint says where to look."""

    def __init__(self, message: str, *, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def report_error(exc: GaitGrfError) -> None:
    """`error_lines` in colour: one red line (the message's first line), the rest, the hint."""
    message, *hint = error_lines(exc, "error")
    first, *rest = message.removeprefix("error: ").splitlines() or [type(exc).__name__]
    err_console.print(f"[bold red]error:[/] [red]{escape(first)}[/]")
    for line in rest:
        err_console.print(escape(line))
    for line in hint:
        err_console.print(f"[yellow]hint:[/] {escape(line.removeprefix('hint: '))}")


class ErrorGroup(TyperGroup):
    """Turns a GaitGrfError raised by any command into a clean message and exit code 1."""

    def invoke(self, ctx: Any) -> Any:  # typer vendors click: its Context type is private
        try:
            return super().invoke(ctx)
        except GaitGrfError as exc:
            report_error(exc)
            raise typer.Exit(1) from None
