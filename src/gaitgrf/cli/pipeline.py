"""Commands that run the pipeline's tools: the `prepare` flow, `dvc repro` and its ML stages.

Each starts DVC or a Prefect flow as a child process in the project root (`run_tool`), so the
CLI runs exactly what `dvc repro` runs, and only what changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gaitgrf.cli.errors import PipelineError
from gaitgrf.cli.options import ParamsOption, read_params
from gaitgrf.cli.supervisor import run_tool


def prepare(params: ParamsOption = None) -> None:
    """Run the Prefect flow `prepare` (validate -> resample -> fuse) outside DVC.

    Uses the Prefect server in PREFECT_API_URL, or starts a temporary local one. `dvc repro`
    runs the same library functions as DVC stages and skips what has not changed.
    """
    if not Path("flows/prepare.py").is_file():
        raise PipelineError(
            "flows/prepare.py not found in the working directory",
            hint="run gaitgrf prepare from the project root (the folder with dvc.yaml)",
        )
    args = ["-m", "flows.prepare"] + (["--params", str(params)] if params else [])
    run_tool(
        args, "prepare flow", "read the Prefect log above; `gaitgrf cohort check` tests raw data"
    )


def repro(
    stage: Annotated[
        str | None, typer.Argument(help="Stage to reproduce.", show_default="all")
    ] = None,
) -> None:
    """`dvc repro` with the project's environment: runs only what changed."""
    run_tool(
        ["-m", "dvc", "repro", *([stage] if stage else [])],
        "dvc repro",
        "see the stage output above; `dvc status` lists what is out of date",
    )


def tune(
    arch: Annotated[
        str | None, typer.Argument(help="Architecture to tune.", show_default="every one in params")
    ] = None,
    condition: Annotated[
        str | None, typer.Option(help="Feature condition.", show_default="every one in params")
    ] = None,
    params: ParamsOption = None,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker",
            help="Only take trials of the studies, alongside other workers (no refit; "
            "python -m flows.tune --worker); then `gaitgrf tune` refits.",
        ),
    ] = False,
) -> None:
    """Tune architectures with Optuna (DVC stages `tune@<arch>-<condition>`); resumes studies."""
    conditions = _tune_conditions(arch, condition, params)
    if worker:
        args = ["-m", "flows.tune", "--worker", *(["--params", str(params)] if params else [])]
        args += ["--arch", arch] if arch else []
        args += ["--condition", condition] if condition else []
        run_tool(args, "tuning worker", "see the log above; starting the worker again resumes")
        return
    targets = ["tune"] if arch is None else [f"tune@{arch}-{c}" for c in conditions]
    run_tool(
        ["-m", "dvc", "repro", *targets], "tuning", "see the study log above; re-running resumes it"
    )


def _tune_conditions(arch: str | None, condition: str | None, params: Path | None) -> list[str]:
    """The conditions `tune` covers, after refusing an unknown architecture or condition."""
    if arch is None and condition is not None:
        raise PipelineError(
            "--condition needs an architecture", hint="gaitgrf tune lstm --condition base"
        )
    if arch is not None:
        from gaitgrf import models

        if arch not in models.REGISTRY:
            raise PipelineError(
                f"unknown architecture {arch!r}", hint=f"one of: {', '.join(models.REGISTRY)}"
            )
    known = list(read_params(params).fuse.conditions)
    if condition is not None and condition not in known:
        raise PipelineError(f"unknown condition {condition!r}", hint=f"one of: {', '.join(known)}")
    return [condition] if condition else known


def evaluate() -> None:
    """Evaluate every tuned model on the held-out test subjects (DVC stage `evaluate`)."""
    run_tool(["-m", "dvc", "repro", "evaluate"], "evaluation", "see the stage output above")


def plots(
    targets: Annotated[
        list[str] | None,
        typer.Argument(help="Plot files or stages to show.", show_default="every plot in dvc.yaml"),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder of the page.", file_okay=False)] = Path(
        "dvc_plots"
    ),
) -> None:
    """`dvc plots show` as a page that opens offline: Vega beside it, not on a CDN.

    `dvc plots show` loads Vega from the internet and its charts stay blank without it; this
    writes the same plots to OUT/index.html with a local copy (docs/offline.md).
    """
    import tempfile

    from rich.markup import escape

    from gaitgrf.cli.output import console
    from gaitgrf.offline.plots_page import write_offline_template

    with tempfile.TemporaryDirectory() as folder:
        template = write_offline_template(Path(folder), out)
        run_tool(
            [
                *("-m", "dvc", "plots", "show", "--html-template", str(template)),
                *("-o", str(out), *(targets or [])),
            ],
            "dvc plots show",
            "see DVC's message above; `dvc plots show` lists the plots it knows",
        )
    page = (out / "index.html").resolve()
    console.print(f"plots: {escape(str(page))} (opens offline)")


def promote(
    force: Annotated[bool, typer.Option(help="Decide again even if nothing changed.")] = False,
) -> None:
    """Register the challenger; move `champion` only if it is better (DVC stage `promote`)."""
    forced = ["--force", "--single-item"] if force else []
    run_tool(
        ["-m", "dvc", "repro", *forced, "promote"],
        "promotion",
        "see the stage output above; reports/promotion.json has the last decision",
    )
