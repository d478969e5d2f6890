"""DVC stage `promote`: register the challenger, move `champion` only when it is better.

    python -m stages.promote [--params params.yaml]

Reads every `<paths.tuned>/<arch>__<condition>/summary.json`, registers the best by validation
score in the MLflow model registry (`promote.model_name`, alias `challenger`), compares it with
the `champion` on the held-out test subjects and writes the decision to
`<paths.reports>/promotion.json` and to the version's tags (docs/promotion.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gaitgrf.core.artifacts import Artifacts
from gaitgrf.core.config import load_params
from gaitgrf.core.errors import GaitGrfError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stages.promote", description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    from gaitgrf.pipeline.fuse.features import read_subjects
    from gaitgrf.pipeline.promote import promote, read_summaries
    from gaitgrf.pipeline.tune.study import study_names
    from gaitgrf.runtime import open_tracker

    try:
        params = load_params(args.params)
        artifacts = Artifacts.from_paths(params.paths)
        studies = study_names(params.models.architectures, params.fuse.conditions)
        promote(
            tracker=open_tracker(params, os.environ),
            summaries=read_summaries(artifacts, studies),
            artifacts=artifacts,
            subjects=read_subjects(artifacts.subjects_table()),
            tune_cfg=params.tune,
            cfg=params.promote,
            log=lambda line: print(f"promote: {line}", flush=True),
        )
    except GaitGrfError as exc:
        print(f"promote: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
