"""The one shell of every DVC stage: arguments, params, the library call, a clear failure.

Each `stages/<name>.py` only names its library call; what a stage does and what it prints live
in the library next to the stage's code. The shell parses `--params` (and the stage's own
options, such as the tune stage's `--arch`), loads params.yaml, calls the stage's body and
prints the summary lines it returns. Relative store paths (Optuna, MLflow) are anchored at the
project root DVC names in `DVC_ROOT` (the original repository, also when `dvc exp run --temp`
or `--queue` runs the stage in a temporary copy), else the working directory
(`core.stores.anchor_stores`). A `GaitGrfError` is the library's "this input cannot be
processed": instead of a traceback it becomes two lines on stderr, `<stage>: <message>` and
`hint: <hint>`, and exit status 1, which DVC reports as the stage failing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from gaitgrf.core.config import Params, load_params
from gaitgrf.core.errors import GaitGrfError, error_lines
from gaitgrf.core.stores import anchor_stores

#: Set by DVC for every stage command: the repository root (the parent one in an experiment's
#: temporary workspace, `dvc.repo.experiments.queue.base`).
DVC_ROOT_ENV = "DVC_ROOT"

#: A stage's work: params and the parsed arguments in, the summary lines to print out.
Body = Callable[[Params, argparse.Namespace], Iterable[str]]


def stage_log(stage: str) -> Callable[[str], None]:
    """The library's progress lines, prefixed with the stage and flushed (DVC shows them live)."""
    return lambda line: print(f"{stage}: {line}", flush=True)


def project_root(environ: Mapping[str, str]) -> Path:
    """Where the project's stores are: DVC's `DVC_ROOT`, else the working directory."""
    return Path(environ.get(DVC_ROOT_ENV) or Path.cwd()).absolute()


def run_stage(
    stage: str,
    doc: str | None,
    body: Body,
    argv: Sequence[str] | None = None,
    *,
    options: Sequence[str] = (),
    brief: bool = False,
    on_error: Callable[[GaitGrfError], None] | None = None,
) -> int:
    """Run stage `stage` (`python -m stages.<stage>`) and return its exit status.

    `options` are required string options of the stage (`--arch` -> `args.arch`); `brief`
    folds an error's text into one stderr line (`core.errors.error_lines`); `on_error` replaces
    the stderr lines altogether (the validate stage renders its table first).
    """
    parser = argparse.ArgumentParser(prog=f"python -m stages.{stage}", description=doc)
    for option in options:
        parser.add_argument(f"--{option}", required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    try:
        params = anchor_stores(load_params(args.params), project_root(os.environ))
        lines = list(body(params, args))
    except GaitGrfError as exc:
        if on_error is None:
            print("\n".join(error_lines(exc, stage, brief=brief)), file=sys.stderr)
        else:
            on_error(exc)
        return 1
    for line in lines:
        print(line)
    return 0
