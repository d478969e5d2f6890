"""Prefect flow `prepare`: validate -> resample -> fuse, the same library calls as the DVC stages.

    python -m flows.prepare [--params params.yaml]      (or: gaitgrf prepare)

Runs with no Prefect server (a temporary local one starts on demand) or against the server that
`PREFECT_API_URL` points at. Each stage is one task: the per-trial work inside it is batched by
the library (threads for I/O-bound reading), which costs far less than one Prefect task per
trial (2-10 ms of bookkeeping each) and keeps a single copy of the logic. Each task draws a
progress bar on a terminal (stderr: what it does, counts, ETA; `gaitgrf.progress`). I/O errors
are retried; data errors (a broken contract, too many quarantined trials) fail at once, since
retrying cannot fix them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from gaitgrf.core.artifacts import Artifacts
from gaitgrf.core.config import Params, load_params
from gaitgrf.core.errors import GaitGrfError, error_lines
from gaitgrf.progress import stderr_bar


def retry_on_io_error(_task: Any, _run: Any, state: Any) -> bool:
    """Retry only what a retry can fix: a file-system hiccup, not a data problem or a bug."""
    try:
        state.result()
    except OSError:
        return True
    except Exception:  # GaitGrfError (bad data) or a bug: retrying gives the same answer
        return False
    return False


_TASK = {
    "retries": 2,
    "retry_delay_seconds": 2,
    "retry_condition_fn": retry_on_io_error,
    "cache_policy": NO_CACHE,
}


@task(name="validate", **_TASK)
def validate_task(params: Params) -> dict[str, Any]:
    from gaitgrf.pipeline.validate.run import validate_cohorts

    with stderr_bar("validate: reading trials") as progress:
        summary = validate_cohorts(
            params.paths.raw,
            params.paths.validated,
            Artifacts.from_paths(params.paths).validation_dir(),
            params.contract,
            params.validate_,
            progress=progress,
        )
    get_run_logger().info(
        "validate: %d trial(s) in, %d passed, %d quarantined -> %s",
        summary.trials,
        summary.passed,
        summary.quarantined,
        params.paths.validated,
    )
    return {"trials": summary.trials, "passed": summary.passed, "quarantined": summary.quarantined}


@task(name="resample", **_TASK)
def resample_task(params: Params) -> dict[str, Any]:
    from gaitgrf.pipeline.resample.run import resample_cohorts

    with stderr_bar("resample: trials") as progress:
        report = resample_cohorts(
            params.paths.validated,
            params.paths.resampled,
            Artifacts.from_paths(params.paths).events_report(),
            params.resample,
            progress=progress,
        )
    get_run_logger().info("resample: samples per layout %s", report.get("samples"))
    return {"samples": report.get("samples")}


@task(name="fuse", **_TASK)
def fuse_task(params: Params) -> dict[str, Any]:
    from gaitgrf.pipeline.fuse.run import fuse

    with stderr_bar("fuse") as progress:
        summary = fuse(params.paths.resampled, params.paths.fused, params.fuse, progress=progress)
    out = {
        layout: {cond: info["samples"] for cond in info["conditions"]}
        for layout, info in summary["layouts"].items()
    }
    get_run_logger().info("fuse: samples per layout and condition %s", out)
    return out


@flow(name="prepare", log_prints=True)
def prepare(params_path: str = "params.yaml") -> dict[str, Any]:
    """Raw cohorts to model-ready tensors for every layout and feature condition."""
    params = load_params(Path(params_path))
    validated = validate_task(params)
    resampled = resample_task(params, wait_for=[validated])
    fused = fuse_task(params, wait_for=[resampled])
    return {"validate": validated, "resample": resampled, "fuse": fused}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.prepare", description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    try:
        result = prepare(args.params)
    except GaitGrfError as exc:
        print("\n".join(error_lines(exc, "prepare")), file=sys.stderr)
        return 1
    print(f"prepare: {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
