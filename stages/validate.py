"""DVC stage `validate`: check raw cohorts for physical plausibility, copy what passes.

    python -m stages.validate [--params params.yaml]

Reads `paths.raw`, writes `paths.validated` and `<paths.reports>/validation/` (summary.json,
metrics.json, trial_metrics.csv, data_docs/index.html). Exits 1 with the reason on a contract
violation, on no cohort, or when too many trials are quarantined (docs/validation.md).
"""

from __future__ import annotations

import sys
from argparse import Namespace

from rich.console import Console

from gaitgrf.core.config import Params
from gaitgrf.pipeline.validate.console import render, render_failure, validate_with_progress
from stages.shell import run_stage


def main(argv: list[str] | None = None) -> int:
    # Messages name paths: never wrap them (a wrapped path cannot be copied, or grepped).
    console, errors = Console(), Console(stderr=True, soft_wrap=True)

    def _validate(params: Params, _: Namespace) -> list[str]:
        render(validate_with_progress(params, errors), console)
        return []  # the table is the summary

    return run_stage(
        "validate", __doc__, _validate, argv, on_error=lambda e: render_failure(e, console, errors)
    )


if __name__ == "__main__":
    sys.exit(main())
