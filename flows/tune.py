"""Prefect flow `tune`: the (architecture, condition) studies fanned out; and tuning workers.

    python -m flows.tune [--params params.yaml] [--arch A] [--condition C]
    python -m flows.tune --worker [--params params.yaml] [--arch A] [--condition C]
                                              (or: gaitgrf tune --worker [A] [--condition C])

Flow mode: one Prefect task per study, each the DVC stage's own code
(`gaitgrf.pipeline.tune.run.tune_stage`: tune, refit, write `data/tuned/<study>` and its
metrics), submitted to the task runner that params `runner` chooses: `sequential` (one after
another), `dask` with a local cluster of `runner.workers` processes, or `dask` with
`runner.address`, an existing cluster. Under Dask each study uses `runner.threads` torch
threads, so that workers x threads stays within the cores. One flow run (~1 s of Prefect
bookkeeping), a task per study (ms).

Worker mode: no Prefect, no refit, no outputs. The process joins the studies in the Optuna
storage (`tune.storage` / GAITGRF_OPTUNA_STORAGE: PostgreSQL for several machines) and takes
trials until every study's budget is met, sharing it with any number of other workers
(`gaitgrf.pipeline.tune.fanout.work` over `gaitgrf.pipeline.tune.run.work_study`). First pass:
a study whose remaining trials all run elsewhere is left for the next one; second pass: waits
for those (a trial of a dead worker is failed after its heartbeat's grace period and run again
here). `dvc repro` (or the flow) then refits.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait

from gaitgrf.core.config import Params, RunnerConfig, load_params
from gaitgrf.core.errors import GaitGrfError, error_lines
from gaitgrf.pipeline.tune.fanout import init_stores, studies, with_threads, work
from gaitgrf.pipeline.tune.study import TuningError, study_name


def task_runner(cfg: RunnerConfig) -> Any:
    """The Prefect task runner of params `runner`."""
    from prefect.task_runners import ThreadPoolTaskRunner

    if cfg.kind == "sequential":
        return ThreadPoolTaskRunner(max_workers=1)
    from prefect_dask import DaskTaskRunner

    if cfg.address:
        return DaskTaskRunner(address=cfg.address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": cfg.workers,
            "threads_per_worker": 1,  # one study at a time per worker process
            "processes": True,
            "dashboard_address": None,
        }
    )


@task(name="study", cache_policy=NO_CACHE)
def study_task(params: Params, arch: str, condition: str) -> dict[str, Any]:
    """One study, exactly as its DVC stage runs it (`tune_stage` -> `run_study`)."""
    from gaitgrf.pipeline.tune.run import tune_stage

    summary = tune_stage(
        params, arch, condition, os.environ, lambda line: print(f"tune: {line}", flush=True)
    )
    get_run_logger().info(
        "%s: best trial %s, cv loss %.4f, trials %s",
        summary["study"],
        summary["best_trial"],
        summary["cv_val_loss"],
        summary["trials"],
    )
    return {k: summary[k] for k in ("study", "best_trial", "cv_val_loss", "trials", "seconds")}


@flow(name="tune", log_prints=True)
def tune(
    params_path: str = "params.yaml",
    archs: list[str] | None = None,
    conditions: list[str] | None = None,
) -> dict[str, Any]:
    """Tune and refit every study on the flow's task runner (see `main` for how it is chosen)."""
    params = load_params(Path(params_path))
    targets = studies(params, archs, conditions)
    init_stores(params, os.environ)
    if params.runner.kind == "dask":
        params = with_threads(params, params.runner.threads)
    futures = [study_task.submit(params, arch, cond) for arch, cond in targets]
    wait(futures)
    results: dict[str, Any] = {}
    failed = []
    for (arch, cond), future in zip(targets, futures, strict=True):
        if future.state.is_completed():
            results[study_name(arch, cond)] = future.result()
        else:
            failed.append(study_name(arch, cond))
    if failed:
        raise TuningError(f"{len(failed)} of {len(targets)} studies failed: {failed}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.tune", description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--arch", action="append", help="repeatable; default: all in params")
    parser.add_argument("--condition", action="append", help="repeatable; default: all")
    parser.add_argument("--worker", action="store_true", help="take trials only, no refit")
    args = parser.parse_args(argv)
    # Run as `python -m flows.tune` this file is `__main__`: use the importable module, so that
    # Dask workers (other processes) unpickle the task by reference.
    from flows import tune as module

    try:
        params = load_params(Path(args.params))
        if args.worker:
            targets = studies(params, args.arch, args.condition)
            result = work(
                params, targets, os.environ, lambda line: print(f"tune: {line}", flush=True)
            )
            for name, row in result.items():
                print(f"tune: {name}: ran {row['ran']} trial(s) here; study {row['trials']}")
            return 0
        runner = module.task_runner(params.runner)
        summary = module.tune.with_options(task_runner=runner)(
            args.params, args.arch, args.condition
        )
    except GaitGrfError as exc:
        print("\n".join(error_lines(exc, "tune")), file=sys.stderr)
        return 1
    print(f"tune: {json.dumps(summary, default=str)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
