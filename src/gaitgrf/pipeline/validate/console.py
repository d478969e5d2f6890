"""What the `validate` stage shows on the terminal: a progress bar, a table, the reasons.

The stage reads every trial (slow on a large cohort), so a transient progress bar runs on
stderr. The outcome is a table per cohort and the first quarantined trials with their reasons,
printed both when the run passes and when it fails (`ValidationFailed` carries the summary).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from gaitgrf.core.artifacts import Artifacts
from gaitgrf.core.errors import GaitGrfError, error_lines
from gaitgrf.pipeline.validate.report import ValidationSummary
from gaitgrf.pipeline.validate.run import ValidationFailed, validate_cohorts

if TYPE_CHECKING:
    from gaitgrf.core.config import Params

#: Quarantined trials listed by name; the rest are counted.
_SHOWN: Final = 8


def render(summary: ValidationSummary, console: Console) -> None:
    """The per-cohort table, the first quarantined trials, the report paths and the timings."""
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
    skipped = [t for t in summary.report["trials"] if t.get("skipped_checks")]
    for t in skipped[:_SHOWN]:
        ids = ", ".join(s["check"] for s in t["skipped_checks"])
        why = t["skipped_checks"][0]["reason"]
        console.print(
            f"  [dim]{t['cohort_id']}/{t['trial_id']}: skipped {ids}: {why}[/]", highlight=False
        )
    if len(skipped) > _SHOWN:
        console.print(f"  ... and {len(skipped) - _SHOWN} more trial(s) with skipped checks")
    # Paths are printed unwrapped so that they can be copied.
    console.print(f"report: {summary.report_dir / 'summary.json'}", highlight=False, soft_wrap=True)
    console.print(f"docs:   {summary.data_docs}", highlight=False, soft_wrap=True)
    console.print(
        "time: " + ", ".join(f"{k} {v:.1f} s" for k, v in summary.timings_s.items()),
        style="dim",
    )


def validate_with_progress(params: Params, errors: Console) -> ValidationSummary:
    """`validate_cohorts` on params' paths, with a progress bar over the trials on `errors`."""
    paths = params.paths
    with Progress(console=errors, transient=True) as bar:
        task = bar.add_task("reading trials", total=None)
        return validate_cohorts(
            paths.raw,
            paths.validated,
            Artifacts.from_paths(paths).validation_dir(),
            params.contract,
            params.validate_,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )


def render_failure(exc: GaitGrfError, console: Console, errors: Console) -> None:
    """The table of a run that failed on its trials, then the error and its hint on `errors`."""
    if isinstance(exc, ValidationFailed):
        render(exc.summary, console)
    from rich.text import Text

    first, *rest = error_lines(exc, "validate")
    label = "validate:"
    # Text, not markup: a message may hold brackets (file names, lists) that rich would eat.
    errors.print(Text(label, style="red") + Text(first[len(label) :]), highlight=False)
    for line in rest:
        errors.print(Text(line), highlight=False)
