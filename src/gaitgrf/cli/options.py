"""Options several commands share, and how `--params` becomes a `Params`.

Paths in the params file are relative to the working directory (the project root, like DVC's
stages).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from gaitgrf.core.config import Params

ParamsOption = Annotated[
    Path | None,
    typer.Option(
        "--params",
        help="Params file (default: params.yaml when present, else the built-in defaults).",
        dir_okay=False,
    ),
]

ModelOption = Annotated[
    str,
    typer.Option(
        "--model",
        help="MLflow model URI (models:/NAME@ALIAS, models:/NAME/VERSION, runs:/ID/model) or a "
        "bundle folder (data/tuned/<study>/model).",
    ),
]
TrustModelOption = Annotated[
    bool,
    typer.Option(
        "--trust-model",
        help="Load an MLflow model from outside this project's registry and runs (file://, "
        "s3://, ...). Loading one runs its pickled code: only for models you made.",
    ),
]


def read_params(path: Path | None) -> Params:
    """The `--params` file; without one, params.yaml when present, else the defaults."""
    from gaitgrf.core.config import Params, load_params

    if path is None:
        default = Path("params.yaml")
        return load_params(default) if default.is_file() else Params()
    return load_params(path)


def workers() -> int:
    """Generation runs one process per core; the output is identical whatever the count."""
    import os

    return max(1, os.cpu_count() or 1)
