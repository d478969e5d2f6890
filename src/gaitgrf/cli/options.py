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
    from gaitgrf.predictor import GrfPredictor

ParamsOption = Annotated[
    Path | None,
    typer.Option(
        "--params",
        help="Params file.",
        show_default="params.yaml when present, else the built-in defaults",
        dir_okay=False,
    ),
]

ModelOption = Annotated[
    str,
    typer.Option(
        "--model",
        help="MLflow model URI (models:/NAME@ALIAS, models:/NAME/VERSION, runs:/ID/<study>) or a "
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


def load_model(model: str, cfg: Params, trust_model: bool) -> GrfPredictor:
    """The model a command names (`--model`), resolved against the project's tracking store
    (`runtime.tracking_uri`), with a spinner; an untrusted source warns on stderr."""
    import os

    from rich.markup import escape

    from gaitgrf.cli.output import err_console, warn_trusted
    from gaitgrf.runtime import tracking_uri
    from gaitgrf.serving.inputs import load_predictor

    with err_console.status(f"loading model {escape(model)}"):
        return load_predictor(
            model, tracking_uri(cfg, os.environ), trust=trust_model, warn=warn_trusted
        )
