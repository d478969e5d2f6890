"""DVC stage `promote`: register the challenger, move `champion` only when it is better.

    python -m stages.promote [--params params.yaml]

Reads every `<paths.tuned>/<arch>__<condition>/summary.json`, registers the best by validation
score in the MLflow model registry (`promote.model_name`, alias `challenger`), compares it with
the `champion` on the held-out test subjects and writes the decision to
`<paths.reports>/promotion.json` and to the version's tags (docs/promotion.md).
"""

from __future__ import annotations

import os
import sys
from argparse import Namespace

from gaitgrf.core.config import Params
from stages.shell import run_stage, stage_log


def _promote(params: Params, _: Namespace) -> list[str]:
    from gaitgrf.pipeline.promote import promote_stage

    promote_stage(params, os.environ, log=stage_log("promote"))
    return []  # the decision is the last line the library logged


def main(argv: list[str] | None = None) -> int:
    return run_stage("promote", __doc__, _promote, argv)


if __name__ == "__main__":
    sys.exit(main())
