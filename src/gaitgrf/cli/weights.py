"""`gaitgrf weights fetch|status`: the ImageNet checkpoints of the image backbones."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from gaitgrf.cli.errors import ErrorGroup
from gaitgrf.cli.options import ParamsOption, read_params
from gaitgrf.cli.output import console, err_console

app = typer.Typer(
    cls=ErrorGroup,
    help="ImageNet checkpoints for resnet50 / inception_v3 (models.pretrained in params.yaml).",
    no_args_is_help=True,
)


class WeightsArch(StrEnum):
    resnet50 = "resnet50"
    inception_v3 = "inception_v3"
    all = "all"


DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        help="Checkpoint folder.",
        show_default="models.pretrained.weights_dir, else torch's hub cache "
        "$TORCH_HOME/hub/checkpoints",
        file_okay=False,
    ),
]


def _weights_dir(directory: Path | None, params: Path | None) -> Path | None:
    return directory if directory is not None else read_params(params).models.pretrained.weights_dir


@app.command("fetch")
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


@app.command("status")
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
