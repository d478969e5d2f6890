"""DVC stage `adapt`: the start model fine-tuned to each real cohort, subject-wise.

    python -m stages.adapt [--params params.yaml]

For every cohort of `adapt.cohorts` (external cohorts), compares the start model as it is,
fine-tuned on the cohort's other subjects, and trained on them from scratch; writes
`<paths.reports>/adaptation.md` and `<paths.reports>/adaptation/` (docs/adaptation.md).
"""

from __future__ import annotations

import os
import sys
from argparse import Namespace

from gaitgrf.core.artifacts import Artifacts
from gaitgrf.core.config import Params
from stages.shell import run_stage, stage_log


def _adapt(params: Params, _: Namespace) -> list[str]:
    from gaitgrf.pipeline.adapt.stage import adapt_stage, summary_lines

    metrics = adapt_stage(params, os.environ, log=stage_log("adapt"))
    return summary_lines(metrics, Artifacts.from_paths(params.paths).adaptation_report())


def main(argv: list[str] | None = None) -> int:
    return run_stage("adapt", __doc__, _adapt, argv)


if __name__ == "__main__":
    sys.exit(main())
