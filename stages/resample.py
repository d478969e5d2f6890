"""DVC stage `resample`: validated cohorts to stance and window sample sets (docs/resampling.md).

    python -m stages.resample [--params params.yaml]

Reads `<paths.validated>`, writes `<paths.resampled>/{stance,window}.npz` (+ .json),
`subjects.csv`, `events.parquet` and `<paths.reports>/events.json` (DVC metrics: force plate vs
wearable event agreement). Exits 1 with one clear message when the library raises a
GaitGrfError.
"""

from __future__ import annotations

import sys
from argparse import Namespace

from gaitgrf.core.artifacts import Artifacts
from gaitgrf.core.config import Params
from gaitgrf.pipeline.resample.run import resample_cohorts
from gaitgrf.pipeline.resample.summary import summary_lines
from stages.shell import run_stage


def _resample(params: Params, _: Namespace) -> list[str]:
    report_path = Artifacts.from_paths(params.paths).events_report()
    report = resample_cohorts(
        params.paths.validated, params.paths.resampled, report_path, params.resample
    )
    return summary_lines(report, params.paths.resampled, report_path)


def main(argv: list[str] | None = None) -> int:
    return run_stage("resample", __doc__, _resample, argv, brief=True)


if __name__ == "__main__":
    sys.exit(main())
