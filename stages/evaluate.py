"""DVC stage `evaluate`: every refit model on the held-out test subjects, compared.

    python -m stages.evaluate [--params params.yaml]

Reads `<paths.tuned>/<arch>__<condition>/` for every architecture in `models.architectures`
and every condition in `fuse.conditions`, writes `<paths.reports>/evaluation.md`,
`<paths.reports>/evaluation/` (ranking.csv, metrics.csv, summary.json, metrics.json: the DVC
metrics, plots/) and logs the same to the MLflow experiment `gaitgrf-evaluation`.
"""

from __future__ import annotations

import os
import sys
from argparse import Namespace

from gaitgrf.core.artifacts import Artifacts
from gaitgrf.core.config import Params
from stages.shell import run_stage, stage_log


def _evaluate(params: Params, _: Namespace) -> list[str]:
    from gaitgrf.pipeline.evaluate.run import evaluate_stage, summary_lines
    from gaitgrf.progress import stderr_bar

    with stderr_bar("evaluate") as progress:  # studies, report, MLflow (on a terminal only)
        summary = evaluate_stage(params, os.environ, log=stage_log("evaluate"), progress=progress)
    return summary_lines(summary, Artifacts.from_paths(params.paths).evaluation_report())


def main(argv: list[str] | None = None) -> int:
    return run_stage("evaluate", __doc__, _evaluate, argv)


if __name__ == "__main__":
    sys.exit(main())
