"""DVC stage `tune@<arch>-<condition>`: one Optuna study, its refit and its MLflow runs.

    python -m stages.tune --arch cnn2d_lstm --condition subject [--params params.yaml]

Reads `<paths.fused>/<tune.layout>/<condition>.npz` and the subjects table, resumes or starts the
study `<arch>__<condition>` in the Optuna storage, and writes `<paths.tuned>/<arch>__<condition>/`
(model bundle + summary.json) and `<paths.reports>/tuning/<arch>__<condition>.json` (metrics):
`gaitgrf.pipeline.tune.run.tune_stage`, with this process's environment.
"""

from __future__ import annotations

import os
import sys
from argparse import Namespace

from gaitgrf.core.config import Params
from stages.shell import run_stage, stage_log


def _tune(params: Params, args: Namespace) -> list[str]:
    from gaitgrf.pipeline.tune.run import summary_lines, tune_stage
    from gaitgrf.progress import stderr_bar

    with stderr_bar("tune") as progress:  # trials of the budget, then the refit (a terminal only)
        summary = tune_stage(
            params, args.arch, args.condition, os.environ, log=stage_log("tune"), progress=progress
        )
    return summary_lines(summary)


def main(argv: list[str] | None = None) -> int:
    return run_stage("tune", __doc__, _tune, argv, options=("arch", "condition"))


if __name__ == "__main__":
    sys.exit(main())
