"""Commands that make raw data: `bootstrap` a project, `synth` a cohort, `import` recordings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from gaitgrf.cli.options import ParamsOption, read_params, workers
from gaitgrf.cli.output import ProgressBar, console


def bootstrap(params: ParamsOption = None) -> None:
    """Make this folder a working project: git repo, DVC with a local remote, a cohort.

    Each step is idempotent: a second run reports what exists and does nothing.
    """
    from gaitgrf import workspace as ws

    cfg = read_params(params)
    root = Path.cwd()

    def say(line: str) -> None:
        console.print(escape(line))

    fresh = ws.ensure_git_repo(root, report=say)
    ws.ensure_dvc(root, commit=fresh, report=say)
    raw_dir = root / cfg.paths.raw
    ws.restore_cohorts(root, raw_dir, report=say)
    ws.track_untracked_cohorts(root, raw_dir, report=say)
    with ProgressBar(f"generating cohort {cfg.synth.cohort_id}") as progress:
        ws.ensure_default_cohort(
            raw_dir, cfg.synth, root=root, progress=progress, report=say, workers=workers()
        )


def synth(
    subjects: Annotated[
        int | None, typer.Option(help="Number of subjects.", show_default="synth.subjects")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Random seed.", show_default="synth.seed")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Cohort folder to write.", show_default="<paths.raw>/<cohort id>"),
    ] = None,
    cohort_id: Annotated[
        str | None, typer.Option(help="Cohort id.", show_default="synth.cohort_id")
    ] = None,
    params: ParamsOption = None,
) -> None:
    """Generate a synthetic cohort (docs/synthetic-cohort.md) with a progress bar."""
    from gaitgrf.core.config import parse_params
    from gaitgrf.synth import generate_cohort

    cfg = read_params(params)
    overrides = {"subjects": subjects, "seed": seed, "cohort_id": cohort_id}
    raw = cfg.model_dump(mode="json", by_alias=True)
    raw["synth"].update({k: v for k, v in overrides.items() if v is not None})
    synth_cfg = parse_params(raw, source="options").synth
    target = out if out is not None else cfg.paths.raw / synth_cfg.cohort_id
    start = time.perf_counter()
    with ProgressBar(f"generating {synth_cfg.cohort_id}") as progress:
        generate_cohort(synth_cfg, target, progress=progress, workers=workers())
    trials = synth_cfg.subjects * (synth_cfg.walking_trials + synth_cfg.static_trials)
    console.print(
        f"cohort {escape(synth_cfg.cohort_id)}: {synth_cfg.subjects} subjects, {trials} trials "
        f"written to {escape(str(target))} in {time.perf_counter() - start:.1f} s"
    )


def import_(
    src: Annotated[
        Path,
        typer.Argument(
            help="A recording (.c3d, .trc, or .csv/.parquet with a mapping.yaml) or a folder "
            "of subject folders."
        ),
    ],
    cohort: Annotated[str, typer.Option("--cohort", help="Id of the new cohort.")],
    subjects: Annotated[
        Path | None,
        typer.Option(
            "--subjects", help="CSV: subject_id and any subjects.csv columns.", dir_okay=False
        ),
    ] = None,
    group: Annotated[
        str | None, typer.Option(help="Group of subjects the subjects file does not list.")
    ] = None,
    affected_side: Annotated[
        str | None,
        typer.Option(help="left, right or none, for subjects the subjects file does not list."),
    ] = None,
    params: ParamsOption = None,
) -> None:
    """Import lab recordings (C3D, OpenSim, CSV/Parquet exports) as a new cohort under paths.raw.

    CSV/Parquet tables need a YAML column mapping (units, force convention); docs/importing.md.
    """
    from gaitgrf.ingest.cohort import import_recordings

    cfg = read_params(params)
    start = time.perf_counter()
    with ProgressBar(f"importing {cohort}") as progress:
        result = import_recordings(
            src,
            cohort,
            cfg.paths.raw,
            subjects,
            group=group,
            affected_side=affected_side,
            progress=progress,
        )
    for note in result.notes:
        console.print(f"  {escape(note)}")
    for report in result.reports:
        for note in report.notes:
            console.print(f"  {escape(report.trial_id)}: {escape(note)}")
    console.print(
        f"cohort {escape(cohort)}: {len(result.subjects)} subjects, {len(result.reports)} trials "
        f"written to {escape(str(result.cohort_dir))} in {time.perf_counter() - start:.1f} s"
    )
