"""`gaitgrf cohort check|add|list`: cohorts (folders in the data contract format)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from gaitgrf.cli.errors import CohortNotFoundError, ErrorGroup
from gaitgrf.cli.options import ParamsOption, read_params
from gaitgrf.cli.output import ProgressBar, console

app = typer.Typer(
    cls=ErrorGroup,
    help="Inspect cohorts (folders in the data contract format).",
    no_args_is_help=True,
)


@app.command("check")
def cohort_check(
    path: Annotated[Path, typer.Argument(help="Cohort folder, e.g. data/raw/synth-default.")],
    params: ParamsOption = None,
) -> None:
    """Check a cohort against the data contract (every trial read); list all violations."""
    from gaitgrf.io.loader import load_cohort

    if not path.is_dir():
        raise CohortNotFoundError(f"{path}: no such cohort folder")
    cfg = read_params(params)
    start = time.perf_counter()
    cohort = load_cohort(path, cfg.contract, read_trials=True)
    table = Table(title=f"cohort {cohort.cohort_id}: contract OK")
    table.add_column("group")
    for column in ("subjects", "walking trials", "static trials"):
        table.add_column(column, justify="right")
    group_of = dict(zip(cohort.subjects["subject_id"], cohort.subjects["group"], strict=True))
    rows: dict[str, list[int]] = {}
    for group in cohort.subjects["group"]:
        rows.setdefault(str(group), [0, 0, 0])[0] += 1
    for trial in cohort.trials:
        row = rows.setdefault(str(group_of.get(trial.subject_id)), [0, 0, 0])
        row[1 if trial.kind == "walking" else 2] += 1
    for group, (n_subjects, walking, static) in sorted(rows.items()):
        table.add_row(escape(group), str(n_subjects), str(walking), str(static))
    totals = [sum(r[i] for r in rows.values()) for i in range(3)]
    table.add_row("[bold]total[/]", *(f"[bold]{t}[/]" for t in totals))
    console.print(table)
    console.print(f"checked in {time.perf_counter() - start:.1f} s")


@app.command("add")
def cohort_add(
    src: Annotated[Path, typer.Argument(help="Contract cohort folder, or a folder of recordings.")],
    cohort: Annotated[
        str | None, typer.Option("--cohort", help="Id of a cohort imported from recordings.")
    ] = None,
    subjects: Annotated[
        Path | None, typer.Option(help="Subjects file for imported recordings.")
    ] = None,
    commit: Annotated[bool, typer.Option(help="Commit the cohort's .dvc file to git.")] = True,
    params: ParamsOption = None,
) -> None:
    """Validate a new cohort, then add it to data/raw, track it with DVC, push and commit it.

    A cohort that fails validation is rejected with its report and nothing in data/raw changes;
    an id that exists already is refused. `dvc repro` (or the retrain flow) then trains on it.
    """
    from gaitgrf.core.artifacts import Artifacts
    from gaitgrf.ingest.intake import add_cohort

    cfg = read_params(params)
    with ProgressBar(f"adding {src.name}") as progress:
        added = add_cohort(
            src,
            root=Path.cwd(),
            raw_dir=cfg.paths.raw,
            contract=cfg.contract,
            rules=cfg.validate_,
            rejected_dir=Artifacts.from_paths(cfg.paths).rejected_dir(),
            cohort_id=cohort,
            subjects_file=subjects,
            commit=commit,
            report=lambda line: console.print(escape(line)),
            progress=progress,
        )
    for item in added.quarantined:
        console.print(
            f"[yellow]quarantined[/] {escape(item['trial'])}: {escape('; '.join(item['reasons']))}"
        )
    console.print(
        f"cohort {added.cohort_id}: {added.trials} trials added to {escape(str(added.folder))}"
        + (f", committed {added.commit[:10]}" if added.commit else " (not committed)")
        + "; run `gaitgrf repro` to retrain"
    )


@app.command("list")
def cohort_list(params: ParamsOption = None) -> None:
    """Cohorts under paths.raw with their subject and trial counts (metadata check only)."""
    from gaitgrf.core.errors import ContractError
    from gaitgrf.io.loader import load_cohort
    from gaitgrf.workspace import cohort_dirs, dvc_file

    cfg = read_params(params)
    raw_dir = cfg.paths.raw
    folders = cohort_dirs(raw_dir)
    missing = sorted(p.with_suffix("") for p in (raw_dir.glob("*.dvc") if raw_dir.is_dir() else []))
    missing = [p for p in missing if not p.exists()]
    if not folders and not missing:
        console.print(f"no cohort under {escape(str(raw_dir))} (run `gaitgrf bootstrap`)")
        return
    table = Table(title=f"cohorts under {raw_dir}")
    table.add_column("cohort")
    for column in ("subjects", "walking", "static"):
        table.add_column(column, justify="right")
    table.add_column("DVC")
    table.add_column("status")
    for folder in folders:
        tracked = "tracked" if dvc_file(folder).exists() else "[yellow]untracked[/]"
        try:
            cohort = load_cohort(folder, cfg.contract, read_trials=False)
        except ContractError as exc:
            n = len(exc.violations)
            table.add_row(escape(folder.name), "-", "-", "-", tracked, f"[red]{n} violation(s)[/]")
            continue
        kinds = [t.kind for t in cohort.trials]
        table.add_row(
            escape(folder.name),
            str(len(cohort.subjects)),
            str(kinds.count("walking")),
            str(kinds.count("static")),
            tracked,
            "[green]ok[/]",
        )
    for folder in missing:
        table.add_row(escape(folder.name), "-", "-", "-", "tracked", "[yellow]not checked out[/]")
    console.print(table)
