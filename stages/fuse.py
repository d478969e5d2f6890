"""DVC stage `fuse`: select model inputs and add subject-specific features per condition.

    python -m stages.fuse [--params params.yaml]

Reads `<paths.resampled>/<layout>.npz` and `subjects.csv`, writes
`<paths.fused>/<layout>/<condition>.npz` (+ .json) and `<paths.fused>/summary.json`
(docs/features.md). Exits 1 with one clear message when the library raises a GaitGrfError.
"""

from __future__ import annotations

import sys
from argparse import Namespace

from gaitgrf.core.artifacts import Artifacts
from gaitgrf.core.config import Params
from gaitgrf.pipeline.fuse.run import fuse, summary_lines
from stages.shell import run_stage


def _fuse(params: Params, _: Namespace) -> list[str]:
    summary = fuse(params.paths.resampled, params.paths.fused, params.fuse)
    return summary_lines(summary, Artifacts.from_paths(params.paths).fuse_summary())


def main(argv: list[str] | None = None) -> int:
    return run_stage("fuse", __doc__, _fuse, argv)


if __name__ == "__main__":
    sys.exit(main())
