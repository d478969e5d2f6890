"""DVC stage `validate`: check raw cohorts for physical plausibility, copy what passes.

    python -m stages.validate [--params params.yaml]

Reads `paths.raw`, writes `paths.validated` and `<paths.reports>/validation/` (summary.json,
metrics.json, trial_metrics.csv, data_docs/index.html). Exits 1 with the reason on a contract
violation, on no cohort, or when too many trials are quarantined (docs/validation.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from gaitgrf.core.artifacts import Artifacts
from gaitgrf.core.config import load_params
from gaitgrf.core.errors import GaitGrfError
from gaitgrf.pipeline.validate.report import ValidationSummary
from gaitgrf.pipeline.validate.run import ValidationFailed, validate_cohorts

_SHOWN = 8


def render(summary: ValidationSummary, console: Console) -> None:
    table = Table(title="validate", title_justify="left")
    for col in ("cohort", "trials", "passed", "quarantined"):
        table.add_column(col, justify="left" if col == "cohort" else "right")
    for cohort_id, info in summary.report["cohorts"].items():
        bad = info["quarantined"]
        table.add_row(
            cohort_id, str(info["trials"]), str(info["passed"]), f"[red]{bad}[/]" if bad else "0"
        )
    console.print(table)
    quarantined = list(summary.quarantined_trials.items())
    for key, reasons in quarantined[:_SHOWN]:
        more = f" [dim](+{len(reasons) - 1} more)[/]" if len(reasons) > 1 else ""
        console.print(f"  [yellow]{key}[/]: {reasons[0]}{more}", highlight=False)
    if len(quarantined) > _SHOWN:
        console.print(f"  ... and {len(quarantined) - _SHOWN} more quarantined trial(s)")
    # Paths are printed unwrapped so that they can be copied.
    console.print(f"report: {summary.report_dir / 'summary.json'}", highlight=False, soft_wrap=True)
    console.print(f"docs:   {summary.data_docs}", highlight=False, soft_wrap=True)
    console.print(
        "time: " + ", ".join(f"{k} {v:.1f} s" for k, v in summary.timings_s.items()),
        style="dim",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stages.validate", description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    # Messages name paths: never wrap them (a wrapped path cannot be copied, or grepped).
    console, errors = Console(), Console(stderr=True, soft_wrap=True)
    try:
        params = load_params(args.params)
        paths = params.paths
        with Progress(console=errors, transient=True) as bar:
            task = bar.add_task("reading trials", total=None)
            summary = validate_cohorts(
                paths.raw,
                paths.validated,
                Artifacts.from_paths(paths).validation_dir(),
                params.contract,
                params.validate_,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except GaitGrfError as exc:
        if isinstance(exc, ValidationFailed):
            render(exc.summary, console)
        errors.print(f"[red]validate:[/] {exc}", highlight=False)
        if exc.hint:
            errors.print(f"hint: {exc.hint}", highlight=False)
        return 1
    render(summary, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
