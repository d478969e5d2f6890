"""The `gaitgrf` command line: bootstrap a project, generate and inspect cohorts.

Paths in the params file are relative to the working directory (the project root, like DVC's
stages). Heavy libraries (pandas, pyarrow, DVC, torch...) are imported inside the commands so
that `gaitgrf --help` stays fast. A `GaitGrfError` is shown as one red line and its hint, with
exit code 1, never as a traceback.
"""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from gaitgrf import __version__
from gaitgrf.core.errors import GaitGrfError

if TYPE_CHECKING:
    from gaitgrf.core.config import Params

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class CohortNotFoundError(GaitGrfError):
    hint = "list the cohorts with `gaitgrf cohort list`"


def report_error(exc: GaitGrfError) -> None:
    """One red line (the message's first line), the rest as is, then the hint."""
    first, *rest = str(exc).splitlines() or [type(exc).__name__]
    err_console.print(f"[bold red]error:[/] [red]{escape(first)}[/]")
    for line in rest:
        err_console.print(escape(line))
    if exc.hint:
        err_console.print(f"[yellow]hint:[/] {escape(exc.hint)}")


class _Group(TyperGroup):
    """Turns a GaitGrfError raised by any command into a clean message and exit code 1."""

    def invoke(self, ctx: Any) -> Any:  # typer vendors click: its Context type is private
        try:
            return super().invoke(ctx)
        except GaitGrfError as exc:
            report_error(exc)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Group,
    help="gaitgrf: predict walking ground reaction forces from wearables (DVC + Prefect pipeline).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)
cohort_app = typer.Typer(
    cls=_Group,
    help="Inspect cohorts (folders in the data contract format).",
    no_args_is_help=True,
)
app.add_typer(cohort_app, name="cohort")

ParamsOption = Annotated[
    Path | None,
    typer.Option(
        "--params",
        help="Params file (default: params.yaml when present, else the built-in defaults).",
        dir_okay=False,
    ),
]


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


def _params(path: Path | None) -> Params:
    from gaitgrf.core.config import Params, load_params

    if path is None:
        default = Path("params.yaml")
        return load_params(default) if default.is_file() else Params()
    return load_params(path)


def _workers() -> int:
    """Generation runs one process per core; the output is identical whatever the count."""
    import os

    return max(1, os.cpu_count() or 1)


def _run(command: list[str], what: str, hint: str) -> None:
    """Run a pipeline tool in the project root, streaming its output; fail with one line."""
    import subprocess
    import sys

    code = subprocess.call([sys.executable, *command] if command[0] == "-m" else command)
    if code != 0:
        raise PipelineError(f"{what} failed (exit code {code})", hint=hint)


class PipelineError(GaitGrfError):
    def __init__(self, message: str, *, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


@app.command()
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
    _run(args, "prepare flow", "read the Prefect log above; `gaitgrf cohort check` tests raw data")


@app.command()
def repro(
    stage: Annotated[str | None, typer.Argument(help="Stage to reproduce (default: all).")] = None,
) -> None:
    """`dvc repro` with the project's environment: runs only what changed."""
    _run(
        ["-m", "dvc", "repro", *([stage] if stage else [])],
        "dvc repro",
        "see the stage output above; `dvc status` lists what is out of date",
    )


@app.command()
def bootstrap(params: ParamsOption = None) -> None:
    """Make this folder a working project: git repo, DVC with a local remote, a cohort.

    Each step is idempotent: a second run reports what exists and does nothing.
    """
    from gaitgrf import workspace as ws

    cfg = _params(params)
    root = Path.cwd()

    def say(line: str) -> None:
        console.print(escape(line))

    fresh = ws.ensure_git_repo(root, report=say)
    ws.ensure_dvc(root, commit=fresh, report=say)
    raw_dir = root / cfg.paths.raw
    ws.restore_cohorts(root, raw_dir, report=say)
    ws.track_untracked_cohorts(root, raw_dir, report=say)
    with _progress(f"generating cohort {cfg.synth.cohort_id}") as progress:
        ws.ensure_default_cohort(
            raw_dir, cfg.synth, root=root, progress=progress, report=say, workers=_workers()
        )


@app.command()
def synth(
    subjects: Annotated[
        int | None, typer.Option(help="Number of subjects [default: synth.subjects].")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed [default: synth.seed].")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Cohort folder to write [default: <paths.raw>/<cohort id>].")
    ] = None,
    cohort_id: Annotated[
        str | None, typer.Option(help="Cohort id [default: synth.cohort_id].")
    ] = None,
    params: ParamsOption = None,
) -> None:
    """Generate a synthetic cohort (docs/synthetic-cohort.md) with a progress bar."""
    from gaitgrf.core.config import parse_params
    from gaitgrf.synth import generate_cohort

    cfg = _params(params)
    overrides = {"subjects": subjects, "seed": seed, "cohort_id": cohort_id}
    raw = cfg.model_dump(mode="json", by_alias=True)
    raw["synth"].update({k: v for k, v in overrides.items() if v is not None})
    synth_cfg = parse_params(raw, source="options").synth
    target = out if out is not None else cfg.paths.raw / synth_cfg.cohort_id
    start = time.perf_counter()
    with _progress(f"generating {synth_cfg.cohort_id}") as progress:
        generate_cohort(synth_cfg, target, progress=progress, workers=_workers())
    trials = synth_cfg.subjects * (synth_cfg.walking_trials + synth_cfg.static_trials)
    console.print(
        f"cohort {escape(synth_cfg.cohort_id)}: {synth_cfg.subjects} subjects, {trials} trials "
        f"written to {escape(str(target))} in {time.perf_counter() - start:.1f} s"
    )


@app.command("import")
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

    cfg = _params(params)
    start = time.perf_counter()
    with _progress(f"importing {cohort}") as progress:
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


@cohort_app.command("check")
def cohort_check(
    path: Annotated[Path, typer.Argument(help="Cohort folder, e.g. data/raw/synth-default.")],
    params: ParamsOption = None,
) -> None:
    """Check a cohort against the data contract (every trial read); list all violations."""
    from gaitgrf.io.loader import load_cohort

    if not path.is_dir():
        raise CohortNotFoundError(f"{path}: no such cohort folder")
    cfg = _params(params)
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


@cohort_app.command("add")
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
    from gaitgrf.ingest.intake import add_cohort

    cfg = _params(params)
    added = add_cohort(
        src,
        root=Path.cwd(),
        raw_dir=cfg.paths.raw,
        contract=cfg.contract,
        rules=cfg.validate_,
        rejected_dir=cfg.paths.reports / "rejected",
        cohort_id=cohort,
        subjects_file=subjects,
        commit=commit,
        report=lambda line: console.print(escape(line)),
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


@cohort_app.command("list")
def cohort_list(params: ParamsOption = None) -> None:
    """Cohorts under paths.raw with their subject and trial counts (metadata check only)."""
    from gaitgrf.core.errors import ContractError
    from gaitgrf.io.loader import load_cohort
    from gaitgrf.workspace import cohort_dirs, dvc_file

    cfg = _params(params)
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


weights_app = typer.Typer(
    cls=_Group,
    help="ImageNet checkpoints for resnet50 / inception_v3 (models.pretrained in params.yaml).",
    no_args_is_help=True,
)
app.add_typer(weights_app, name="weights")


class WeightsArch(StrEnum):
    resnet50 = "resnet50"
    inception_v3 = "inception_v3"
    all = "all"


DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        help="Checkpoint folder [default: models.pretrained.weights_dir, else torch's hub cache "
        "($TORCH_HOME/hub/checkpoints)].",
        file_okay=False,
    ),
]


def _weights_dir(directory: Path | None, params: Path | None) -> Path | None:
    return directory if directory is not None else _params(params).models.pretrained.weights_dir


@weights_app.command("fetch")
def weights_fetch(
    arch: Annotated[WeightsArch, typer.Option(help="Which checkpoint.")] = WeightsArch.all,
    directory: DirOption = None,
    params: ParamsOption = None,
) -> None:
    """Download torchvision's ImageNet checkpoint(s) (needs internet; a present file is kept)."""
    from gaitgrf.training import weights

    folder = _weights_dir(directory, params)
    names = [a.value for a in WeightsArch if a is not WeightsArch.all]
    for name in names if arch is WeightsArch.all else [arch.value]:
        path = weights.fetch(name, folder, progress=err_console.is_terminal)
        console.print(f"{name}: {escape(str(path))} ({path.stat().st_size / 2**20:.1f} MiB)")


@weights_app.command("status")
def weights_status(directory: DirOption = None, params: ParamsOption = None) -> None:
    """Where each checkpoint is looked up and whether it is there."""
    from gaitgrf.training import weights

    folder = _weights_dir(directory, params)
    rows = weights.status(folder)
    source = "--dir / models.pretrained.weights_dir" if folder else "torch hub cache, $TORCH_HOME"
    console.print(f"checkpoints looked up in {escape(str(rows[0].path.parent))} ({source})")
    for row in rows:
        state = (
            f"[green]present[/] ({(row.size or 0) / 2**20:.1f} MiB)"
            if row.present
            else "[yellow]missing[/]"
        )
        console.print(f"  {row.arch}: {escape(row.path.name)} {state}")
    if not all(row.present for row in rows):
        console.print(
            "missing files: run `gaitgrf weights fetch` on a machine with internet, or copy them "
            "to that folder"
        )


class _progress:
    """A rich progress bar usable as the `progress(done, total)` callback; quiet if unused."""

    def __init__(self, description: str) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            # Logs and CI get the summary line only, not a bar redrawn into the log.
            disable=not console.is_terminal,
        )
        self._description = description
        self._task: Any = None

    def __enter__(self) -> _progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._bar.stop()

    def __call__(self, done: int, total: int) -> None:
        if self._task is None:
            self._bar.start()
            self._task = self._bar.add_task(self._description, total=total)
        self._bar.update(self._task, completed=done, total=total)


# --- tuning, evaluation, promotion, registry, browsing ----------------------------------------
@app.command()
def tune(
    arch: Annotated[
        str | None, typer.Argument(help="Architecture to tune (default: every one in params).")
    ] = None,
    condition: Annotated[
        str | None, typer.Option(help="Feature condition (default: every one in params).")
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
    known = list(_params(params).fuse.conditions)
    if condition is not None and condition not in known:
        raise PipelineError(f"unknown condition {condition!r}", hint=f"one of: {', '.join(known)}")
    conditions = [condition] if condition else known
    if worker:
        args = ["-m", "flows.tune", "--worker", *(["--params", str(params)] if params else [])]
        args += ["--arch", arch] if arch else []
        args += ["--condition", condition] if condition else []
        _run(args, "tuning worker", "see the log above; starting the worker again resumes")
        return
    targets = ["tune"] if arch is None else [f"tune@{arch}-{c}" for c in conditions]
    _run(
        ["-m", "dvc", "repro", *targets], "tuning", "see the study log above; re-running resumes it"
    )


@app.command()
def evaluate() -> None:
    """Evaluate every tuned model on the held-out test subjects (DVC stage `evaluate`)."""
    _run(["-m", "dvc", "repro", "evaluate"], "evaluation", "see the stage output above")


@app.command()
def promote(
    force: Annotated[bool, typer.Option(help="Decide again even if nothing changed.")] = False,
) -> None:
    """Register the challenger; move `champion` only if it is better (DVC stage `promote`)."""
    forced = ["--force", "--single-item"] if force else []
    _run(
        ["-m", "dvc", "repro", *forced, "promote"],
        "promotion",
        "see the stage output above; reports/promotion.json has the last decision",
    )


registry_app = typer.Typer(
    cls=_Group,
    help="The MLflow model registry: versions, aliases, rollback.",
    no_args_is_help=True,
)
app.add_typer(registry_app, name="registry")


def _tracker(cfg: Params) -> Any:
    import os

    from gaitgrf.runtime import open_tracker

    return open_tracker(cfg, os.environ)


@registry_app.command("show")
def registry_show(params: ParamsOption = None) -> None:
    """Every registered version with its aliases, study and test metrics."""
    cfg = _params(params)
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


@registry_app.command("rollback")
def registry_rollback(params: ParamsOption = None) -> None:
    """Move `champion` back to the version it replaced."""
    from gaitgrf.pipeline.promote import rollback

    cfg = _params(params)
    current, previous = rollback(_tracker(cfg), cfg.promote.model_name)
    console.print(f"champion: v{current} -> v{previous} ({cfg.promote.model_name})")


@app.command()
def ui(
    port: Annotated[int, typer.Option(help="MLflow UI port.")] = 5000,
    optuna_port: Annotated[int, typer.Option(help="optuna-dashboard port.")] = 8080,
    params: ParamsOption = None,
) -> None:
    """Start the MLflow UI and optuna-dashboard on localhost; Ctrl-C stops both."""
    import os
    import shutil
    import subprocess
    import sys

    from gaitgrf.runtime import storage_url, tracking_uri

    cfg = _params(params)
    uri = tracking_uri(cfg, os.environ)
    storage = storage_url(cfg, os.environ)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "ui",
                "--backend-store-uri",
                uri,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ]
        )
    ]
    console.print(f"MLflow UI:        http://127.0.0.1:{port}  ({escape(uri)})")
    dashboard = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent))
    if dashboard:
        from gaitgrf.pipeline.tune.study import open_storage

        open_storage(storage)  # creates the tables: the dashboard fails on an empty database
        procs.append(
            subprocess.Popen(
                [dashboard, storage, "--host", "127.0.0.1", "--port", str(optuna_port)]
            )
        )
        console.print(f"optuna-dashboard: http://127.0.0.1:{optuna_port}  ({escape(storage)})")
    else:
        console.print("optuna-dashboard not installed: pip install optuna-dashboard")
    console.print("Ctrl-C stops them.")
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=20)
    failed = [p.returncode for p in procs if p.returncode not in (0, -15, None)]
    if failed:
        raise PipelineError("a UI server exited early", hint="is the port already in use?")


@app.command()
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
    import subprocess
    import sys

    cfg = _params(params)
    params_path = str(params or Path("params.yaml"))
    env = dict(os.environ)
    procs: list[subprocess.Popen[bytes]] = []
    if not env.get("PREFECT_API_URL"):
        url = f"http://127.0.0.1:{port}/api"
        procs.append(
            subprocess.Popen(
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
        )
        _wait_http(f"{url}/health", procs[0], timeout_s=120)
        env["PREFECT_API_URL"] = url
        console.print(f"Prefect server: http://127.0.0.1:{port} (started here)")
    else:
        console.print(f"Prefect server: {escape(env['PREFECT_API_URL'])}")
    console.print(
        f"serving: retrain (cron {escape(cfg.retrain.cron)}, and on gaitgrf.cohort.arrived), "
        f"watch ({escape(str(cfg.paths.incoming))} every {cfg.retrain.watch_interval_s:g} s)"
    )
    procs.append(
        subprocess.Popen(
            [sys.executable, "-m", "flows.retrain", "serve", "--params", params_path], env=env
        )
    )
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    if any(p.returncode not in (0, -15, -2, None) for p in procs):
        raise PipelineError("a served process exited early", hint="see its output above")


def _wait_http(url: str, proc: Any, timeout_s: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PipelineError(
                "the Prefect server exited while starting",
                hint="is the port already in use? try --port",
            )
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise PipelineError(f"no answer from {url} within {timeout_s:.0f} s", hint="see its log above")


# --- inference (docs/inference.md) ---------------------------------------------------------------
ModelOption = Annotated[
    str,
    typer.Option(
        "--model",
        help="MLflow model URI (models:/NAME@ALIAS, models:/NAME/VERSION, runs:/ID/model) or a "
        "bundle folder (data/tuned/<study>/model).",
    ),
]


@app.command()
def predict(
    recording: Annotated[
        Path,
        typer.Argument(
            help="A recording (.c3d, .trc, .csv/.parquet with a column mapping) or a contract "
            "trial file (.parquet).",
            dir_okay=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Table to write: .csv or .parquet (a .png plot goes beside it)."
        ),
    ],
    model: ModelOption = "models:/gaitgrf@champion",
    subjects: Annotated[
        Path | None,
        typer.Option(
            "--subjects", help="CSV: subject_id and any subjects.csv columns.", dir_okay=False
        ),
    ] = None,
    subject_id: Annotated[
        str | None, typer.Option(help="Row of the subjects file [default: its only row].")
    ] = None,
    mass_kg: Annotated[
        float | None, typer.Option(help="Body mass, kg (forces in N; error against plates).")
    ] = None,
    height_m: Annotated[float | None, typer.Option(help="Height, m.")] = None,
    age_years: Annotated[float | None, typer.Option(help="Age, years.")] = None,
    sex: Annotated[str | None, typer.Option(help="female or male.")] = None,
    knee_alignment_left: Annotated[
        float | None, typer.Option(help="Left knee HKA angle, deg, varus negative.")
    ] = None,
    knee_alignment_right: Annotated[
        float | None, typer.Option(help="Right knee HKA angle, deg, varus negative.")
    ] = None,
    affected_side: Annotated[
        str | None, typer.Option(help="left, right or none (models with subject features).")
    ] = None,
    params: ParamsOption = None,
) -> None:
    """Per-step 3D GRF of a recording from its wearable signals; no force plate needed.

    Steps come from the accelerometers alone (virtual ones from markers when the recording has
    none). Subject values: flags, then the subjects file, then the recording (C3D body mass).
    When the recording has force plates, the error against them is printed per component.
    """
    import os

    from gaitgrf.runtime import tracking_uri
    from gaitgrf.serving.inference import predict_trial
    from gaitgrf.serving.inputs import SubjectInfo, load_predictor, read_input, subject_from_file
    from gaitgrf.serving.outputs import summary_lines, write_outputs

    cfg = _params(params)
    given = SubjectInfo(
        subject_id=subject_id,
        mass_kg=mass_kg,
        height_m=height_m,
        age_years=age_years,
        sex=sex,
        knee_alignment_left_deg=knee_alignment_left,
        knee_alignment_right_deg=knee_alignment_right,
        affected_side=affected_side,
    )
    if subjects is not None:
        given = given.merged(subject_from_file(subjects, subject_id))
    given.check()
    start = time.perf_counter()
    with err_console.status(f"loading model {escape(model)}"):
        predictor = load_predictor(model, tracking_uri(cfg, os.environ))
    with err_console.status(f"reading {escape(str(recording))}"):
        loaded = read_input(recording, given)
    subject = given.merged(loaded.subject)
    for note in loaded.notes:
        console.print(f"  {escape(note)}")
    with err_console.status("predicting") as status:
        prediction = predict_trial(
            predictor,
            loaded.trial,
            subject,
            cfg.resample,
            report=lambda line: status.update(escape(line)),
        )
        paths = write_outputs(prediction, out, title=f"{recording.name} ({predictor.architecture})")
    for line in summary_lines(prediction):
        console.print(escape(line))
    console.print(
        f"wrote {', '.join(escape(str(p)) for p in paths)} in {time.perf_counter() - start:.1f} s"
    )


export_app = typer.Typer(
    cls=_Group,
    help="Export the champion for use outside Python (wearables, edge devices).",
    no_args_is_help=True,
)
app.add_typer(export_app, name="export")


class OnnxExporter(StrEnum):
    auto = "auto"
    dynamo = "dynamo"
    torchscript = "torchscript"


@export_app.command("onnx")
def export_onnx_command(
    out: Annotated[Path, typer.Option("--out", help="ONNX file to write.", dir_okay=False)],
    model: ModelOption = "models:/gaitgrf@champion",
    exporter: Annotated[
        OnnxExporter, typer.Option(help="torch exporter (auto: dynamo, else TorchScript).")
    ] = OnnxExporter.auto,
    params: ParamsOption = None,
) -> None:
    """Write the model as ONNX taking raw inputs (normalisation inside), checked against PyTorch."""
    import os

    from gaitgrf.runtime import tracking_uri
    from gaitgrf.serving.inputs import load_predictor
    from gaitgrf.serving.onnx_export import export_onnx

    cfg = _params(params)
    with err_console.status(f"loading model {escape(model)}"):
        predictor = load_predictor(model, tracking_uri(cfg, os.environ))
    with err_console.status("exporting") as status:
        result = export_onnx(
            predictor,
            out,
            exporter=None if exporter is OnnxExporter.auto else exporter.value,
            report=lambda line: status.update(escape(line)),
        )
    if result.fallback_reason:
        console.print(f"  fell back to {result.exporter}: {escape(result.fallback_reason)}")
    inputs = "inputs (N, C, T)" + (", static (N, S)" if predictor.static_names else "")
    console.print(
        f"{escape(str(result.path))}: {predictor.architecture} ({result.exporter} exporter), "
        f"{inputs} raw -> forces (N, 3, T) BW; max |ONNX - PyTorch| = "
        f"{result.max_abs_diff:.1e} BW; {result.seconds:.1f} s"
    )


if __name__ == "__main__":
    app()
