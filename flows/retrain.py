"""Prefect flows that make gaitgrf run itself: `retrain` and `watch-incoming` (docs/retraining.md).

    python -m flows.retrain run [--incoming DIR]   # one retrain now (adds the cohort first)
    python -m flows.retrain watch                  # one poll of paths.incoming
    python -m flows.retrain serve                  # serve both deployments (needs a server)

* `retrain`: optionally adds a new cohort (`gaitgrf.ingest.intake.add_cohort`: validated, copied to
  data/raw, tracked with DVC, committed), runs `dvc repro` (only what the new data changes: the
  data stages, the studies, evaluate, promote), then records what happened (data version, stages
  run, promoted or not, champion) in its logs and in the MLflow experiment `gaitgrf-retraining`.
  What each step does is `gaitgrf.pipeline.retrain`; the tasks here wrap it and log.
* `watch-incoming`: polls paths.incoming and emits the Prefect event `gaitgrf.cohort.arrived` for
  every complete, not yet announced folder (READY marker, or unchanged for retrain.settle_s).
* `serve`: the `retrain` deployment on the cron schedule (retrain.cron) and on the event, the
  `watch` deployment on an interval (retrain.watch_interval_s). Schedules and event triggers
  need a Prefect server (`gaitgrf serve` starts one on localhost when PREFECT_API_URL is unset).
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

from gaitgrf.core.config import Params, load_params
from gaitgrf.core.errors import error_lines

EVENT = "gaitgrf.cohort.arrived"
_TASK: dict[str, Any] = {"cache_policy": NO_CACHE}


@task(name="add-cohort", **_TASK)
def add_cohort_task(params: Params, incoming: str) -> dict[str, Any]:
    from gaitgrf.ingest.intake import IntakeBusy, IntakeError
    from gaitgrf.pipeline.retrain import add_incoming

    logger = get_run_logger()
    try:
        added = add_incoming(params, Path(incoming), root=Path.cwd(), report=logger.info)
    except IntakeBusy:
        raise  # another add is running: the folder stays and is taken at a later poll
    except IntakeError as exc:  # failed validation or the contract: parked in .rejected
        logger.error("\n".join(error_lines(exc, "add-cohort")))
        raise
    for item in added.quarantined:
        logger.warning("quarantined %s: %s", item["trial"], "; ".join(item["reasons"]))
    logger.info(
        "cohort %s added: %d trials, %s, commit %s",
        added.cohort_id,
        added.trials,
        added.dvc_file,
        added.commit,
    )
    return {"cohort": added.cohort_id, "trials": added.trials, "commit": added.commit}


@task(name="dvc-repro", **_TASK)
def repro_task() -> dict[str, Any]:
    from gaitgrf.pipeline.retrain import run_repro

    logger = get_run_logger()
    repro = run_repro(logger.info)
    ran = repro["stages"]
    logger.info("dvc repro: %d stage(s) ran: %s", len(ran), ", ".join(ran) or "none")
    return repro


@task(name="record", **_TASK)
def record_task(
    params: Params, trigger: str, added: dict[str, Any] | None, repro: dict[str, Any]
) -> dict[str, Any]:
    from gaitgrf.pipeline.retrain import record_retrain

    outcome = record_retrain(params, trigger, added, repro, os.environ)
    get_run_logger().info(
        "retrain (%s): %s; champion v%s",
        trigger,
        ("PROMOTED: " if outcome["promoted"] else "not promoted: ") + str(outcome["reason"]),
        outcome["champion"],
    )
    return outcome


@flow(name="retrain", log_prints=True)
def retrain(
    incoming: str | None = None, trigger: str = "manual", params_path: str = "params.yaml"
) -> dict[str, Any]:
    """Add a new cohort if given, reproduce the pipeline, record the outcome."""
    params = load_params(Path(params_path))
    added = add_cohort_task(params, incoming) if incoming else None
    repro = repro_task()
    return record_task(params, trigger, added, repro)


@flow(name="watch-incoming")
def watch(params_path: str = "params.yaml") -> list[str]:
    """One poll of paths.incoming: an event per complete, not yet announced cohort folder."""
    from prefect.events import emit_event

    from gaitgrf.pipeline.retrain import announce_ready

    params = load_params(Path(params_path))

    def announce(folder: Path) -> None:
        emit_event(
            event=EVENT,
            resource={"prefect.resource.id": f"gaitgrf.cohort.{folder.name}"},
            payload={"path": str(folder.resolve()), "name": folder.name},
        )
        get_run_logger().info("%s: %s", EVENT, folder)

    ready = announce_ready(params.paths.incoming, params.retrain.settle_s, announce)
    return [str(f) for f in ready]


def serve(params: Params, params_path: str) -> None:
    """Serve `retrain` (cron + event trigger) and `watch` (interval) from this process."""
    from prefect import serve as prefect_serve
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

    retrain_deployment = retrain.to_deployment(
        name="retrain",
        cron=params.retrain.cron,
        parameters={"trigger": "schedule", "params_path": params_path},
        triggers=[
            DeploymentEventTrigger(
                expect={EVENT},
                match={"prefect.resource.id": "gaitgrf.cohort.*"},
                parameters={
                    "incoming": "{{ event.payload.path }}",
                    "trigger": "event",
                    "params_path": params_path,
                },
            )
        ],
    )
    watch_deployment = watch.to_deployment(
        name="watch",
        interval=params.retrain.watch_interval_s,
        parameters={"params_path": params_path},
    )
    prefect_serve(retrain_deployment, watch_deployment)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.retrain", description=__doc__)
    parser.add_argument("command", choices=["run", "watch", "serve"])
    parser.add_argument("--incoming", default=None)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    params = load_params(Path(args.params))
    if args.command == "run":
        outcome = retrain(incoming=args.incoming, params_path=args.params)
        print(json.dumps(outcome, indent=2))
    elif args.command == "watch":
        print(json.dumps(watch(params_path=args.params)))
    else:
        serve(params, args.params)
    return 0


if __name__ == "__main__":
    sys.exit(main())
