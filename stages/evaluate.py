"""DVC stage `evaluate`: every refit model on the held-out test subjects, compared.

    python -m stages.evaluate [--params params.yaml]

Reads `<paths.tuned>/<arch>__<condition>/` for every architecture in `models.architectures`
and every condition in `fuse.conditions`, writes `<paths.reports>/evaluation.md`,
`<paths.reports>/evaluation/` (ranking.csv, metrics.csv, metrics.json, plots/) and logs the same
to the MLflow experiment `gaitgrf-evaluation`.
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
    parser = argparse.ArgumentParser(prog="python -m stages.evaluate", description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    from gaitgrf.pipeline.evaluate import run as ev
    from gaitgrf.pipeline.evaluate.metrics import PRIMARY
    from gaitgrf.pipeline.fuse.features import read_subjects
    from gaitgrf.pipeline.tune.study import study_names
    from gaitgrf.runtime import open_tracker

    try:
        params = load_params(args.params)
        artifacts = Artifacts.from_paths(params.paths)
        studies = study_names(params.models.architectures, params.fuse.conditions)
        results, info = ev.evaluate_studies(
            artifacts,
            read_subjects(artifacts.subjects_table()),
            params.tune,
            studies,
            log=lambda line: print(f"evaluate: {line}", flush=True),
        )
        out_dir, report = artifacts.evaluation_dir(), artifacts.evaluation_report()
        metrics = ev.write_outputs(
            results,
            artifacts,
            info,
            bootstrap=params.evaluate.bootstrap,
            alpha=params.evaluate.alpha,
        )
        tracker = open_tracker(params, os.environ)
        ev.log_to_mlflow(tracker, results, [report, out_dir], info)
    except GaitGrfError as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 1
    best = metrics["best"]
    print(
        f"evaluate: best on test subjects: {best['study']} ({PRIMARY} "
        f"{best[PRIMARY]:.2f} %); report -> {report}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
