"""Prefect flows that make gaitgrf run itself: `retrain` and `watch-incoming` (docs/retraining.md).

    python -m flows.retrain run [--incoming DIR]   # one retrain now (adds the cohort first)
    python -m flows.retrain watch                  # one poll of paths.incoming
    python -m flows.retrain serve                  # serve both deployments (needs a server)

* `retrain`: optionally adds a new cohort (`gaitgrf.ingest.intake.add_cohort`: validated, copied to
  data/raw, tracked with DVC, committed), runs `dvc repro` (only what the new data changes: the
  data stages, the studies, evaluate, promote), then records what happened (data version, stages
  run, promoted or not, champion) in its logs and in the MLflow experiment `gaitgrf-retraining`.
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
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from gaitgrf.core.artifacts import Artifacts
from gaitgrf.core.config import Params, load_params
from gaitgrf.core.errors import error_lines

EVENT = "gaitgrf.cohort.arrived"
RETRAIN_EXPERIMENT = "gaitgrf-retraining"
STATE_FILE = ".watcher.json"
_TASK: dict[str, Any] = {"cache_policy": NO_CACHE}


@task(name="add-cohort", **_TASK)
def add_cohort_task(params: Params, incoming: str) -> dict[str, Any]:
    from gaitgrf.ingest.intake import IntakeBusy, IntakeError, add_cohort

    logger = get_run_logger()
    src = Path(incoming)
    done = params.paths.incoming / ".done"
    try:
        added = add_cohort(
            src,
            root=Path.cwd(),
            raw_dir=params.paths.raw,
            contract=params.contract,
            rules=params.validate_,
            rejected_dir=Artifacts.from_paths(params.paths).rejected_dir(),
            cohort_id=None,
            report=logger.info,
        )
    except IntakeBusy:
        raise  # another add is running: the folder stays and is taken at a later poll
    except IntakeError as exc:  # failed validation or the contract: never taken again as is
        _park(src, params.paths.incoming / ".rejected")
        logger.error("\n".join(error_lines(exc, "add-cohort")))
        raise
    _park(src, done)
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


def _park(src: Path, where: Path) -> None:
    """Move a processed incoming folder aside so that it is never taken twice."""
    if src.is_dir():
        where.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), where / f"{src.name}-{time.strftime('%Y%m%dT%H%M%S')}")


@task(name="dvc-repro", **_TASK)
def repro_task() -> dict[str, Any]:
    logger = get_run_logger()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ran: list[str] = []
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        lines.append(line)
        if line.startswith("Running stage '"):
            ran.append(line.split("'")[1])
            logger.info(line)
    code = proc.wait()
    if code != 0:
        tail = "\n".join(lines[-30:])
        raise RuntimeError(f"dvc repro failed (exit {code}):\n{tail}")
    logger.info("dvc repro: %d stage(s) ran: %s", len(ran), ", ".join(ran) or "none")
    return {"stages": ran, "log": "\n".join(lines)}


@task(name="record", **_TASK)
def record_task(
    params: Params, trigger: str, added: dict[str, Any] | None, repro: dict[str, Any]
) -> dict[str, Any]:
    from gaitgrf.runtime import data_version, open_tracker

    logger = get_run_logger()
    promotion_path = Artifacts.from_paths(params.paths).promotion_report()
    promotion = json.loads(promotion_path.read_text()) if promotion_path.is_file() else {}
    decided_now = "promote" in repro["stages"]
    tracker = open_tracker(params, os.environ)
    version = data_version(params.paths.fused)
    run = tracker.start_run(
        RETRAIN_EXPERIMENT,
        f"retrain ({trigger})",
        {
            "gaitgrf.trigger": trigger,
            "gaitgrf.data_version": version,
            "gaitgrf.cohort": (added or {}).get("cohort", "-"),
            "gaitgrf.champion": str(promotion.get("champion_after")),
        },
    )
    tracker.log_metrics(
        run,
        {
            "stages_run": len(repro["stages"]),
            "promoted": float(bool(decided_now and promotion.get("promoted"))),
        },
    )
    log_file = params.paths.reports / "retrain" / "last_repro.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.write_text(repro["log"] + "\n")
    tracker.log_artifacts(run, [log_file, promotion_path])
    tracker.end_run(run)
    outcome = {
        "trigger": trigger,
        "cohort": (added or {}).get("cohort"),
        "data_version": version,
        "stages": repro["stages"],
        "promotion_decided": decided_now,
        "promoted": bool(decided_now and promotion.get("promoted")),
        "reason": promotion.get("reason") if decided_now else "nothing changed upstream",
        "champion": promotion.get("champion_after"),
        "mlflow_run": run,
    }
    (params.paths.reports / "retrain" / "last.json").write_text(json.dumps(outcome, indent=2))
    logger.info(
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
    import fcntl

    from prefect.events import emit_event

    from gaitgrf.ingest.intake import ready_cohorts

    params = load_params(Path(params_path))
    incoming = params.paths.incoming
    if not incoming.is_dir():
        return []
    state_path = incoming / STATE_FILE
    # Two polls may overlap (a late run and the next one): the lock makes each folder's
    # announcement happen once.
    with (incoming / f"{STATE_FILE}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = json.loads(state_path.read_text()) if state_path.is_file() else {}
        ready, new_state = ready_cohorts(incoming, state, settle_s=params.retrain.settle_s)
        for folder in ready:
            emit_event(
                event=EVENT,
                resource={"prefect.resource.id": f"gaitgrf.cohort.{folder.name}"},
                payload={"path": str(folder.resolve()), "name": folder.name},
            )
            get_run_logger().info("%s: %s", EVENT, folder)
        state_path.write_text(json.dumps(new_state, indent=2))
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
