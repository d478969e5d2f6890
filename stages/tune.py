"""DVC stage `tune@<arch>-<condition>`: one Optuna study, its refit and its MLflow runs.

    python -m stages.tune --arch cnn2d_lstm --condition subject [--params params.yaml]

Reads `<paths.fused>/<tune.layout>/<condition>.npz` and the subjects table, resumes or starts the
study `<arch>__<condition>` in the Optuna storage, and writes `<paths.tuned>/<arch>__<condition>/`
(model bundle + summary.json) and `<paths.reports>/tuning/<arch>__<condition>.json` (metrics):
`gaitgrf.pipeline.tune.run.tune_stage`, with this process's environment.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gaitgrf.core.config import load_params
from gaitgrf.core.errors import GaitGrfError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stages.tune", description=__doc__)
    parser.add_argument("--arch", required=True)
    parser.add_argument("--condition", required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    from gaitgrf.pipeline.tune.run import tune_stage

    try:
        params = load_params(args.params)
        summary = tune_stage(
            params,
            args.arch,
            args.condition,
            os.environ,
            log=lambda line: print(f"tune: {line}", flush=True),
        )
    except GaitGrfError as exc:
        print(f"tune: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 1
    print(
        f"tune: {summary['study']}: best trial {summary['best_trial']} "
        f"cv loss {summary['cv_val_loss']:.4f}, trials {summary['trials']}, "
        f"{summary['seconds']:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
