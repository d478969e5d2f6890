"""What a retrain does, for the Prefect flows in flows/retrain.py to wrap (docs/retraining.md).

A retrain adds the incoming cohort if there is one (`add_incoming`: validated, tracked and
committed, then the incoming folder is parked so that it is never taken twice), runs `dvc repro`
(`run_repro`: only what the new data change), and records the outcome (`record_retrain`: an
MLflow run in `gaitgrf-retraining`, `reports/retrain/last.json` and the repro log). Polling for
incoming folders (`announce_ready`) keeps its state in `paths.incoming/.watcher.json`.

The callers pass the environment (`env`), the project root and their logging callbacks; nothing
here reads `os.environ` or the current directory, and Prefect is never imported.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from gaitgrf.core.artifacts import Artifacts
from gaitgrf.tracking.client import RETRAIN_EXPERIMENT

if TYPE_CHECKING:
    from gaitgrf.core.config import Params
    from gaitgrf.ingest.intake import Added

STATE_FILE: Final = ".watcher.json"


def park_incoming(src: Path, where: Path) -> None:
    """Move a processed incoming folder aside so that it is never taken twice."""
    if src.is_dir():
        where.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), where / f"{src.name}-{time.strftime('%Y%m%dT%H%M%S')}")


def add_incoming(params: Params, src: Path, *, root: Path, report: Callable[[str], None]) -> Added:
    """Add the incoming folder `src` as a new cohort of the project at `root`, then park it.

    A busy intake (another add running) leaves the folder where it is, to be taken at a later
    poll; a folder that fails validation or the contract is parked in `.rejected` (never taken
    again as is) and the error raised; an added one is parked in `.done`.
    """
    from gaitgrf.ingest.intake import IntakeBusy, IntakeError, add_cohort

    done = params.paths.incoming / ".done"
    try:
        added = add_cohort(
            src,
            root=root,
            raw_dir=params.paths.raw,
            contract=params.contract,
            rules=params.validate_,
            rejected_dir=Artifacts.from_paths(params.paths).rejected_dir(),
            cohort_id=None,
            report=report,
        )
    except IntakeBusy:
        raise
    except IntakeError:
        park_incoming(src, params.paths.incoming / ".rejected")
        raise
    park_incoming(src, done)
    return added


def run_repro(on_stage: Callable[[str], None]) -> dict[str, Any]:
    """Run `dvc repro` in the current project; the stages that ran and the whole log.

    `on_stage` gets each "Running stage '<name>'" line as it comes. A failed repro raises
    RuntimeError with the last 30 lines of its output.
    """
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
            on_stage(line)
    code = proc.wait()
    if code != 0:
        tail = "\n".join(lines[-30:])
        raise RuntimeError(f"dvc repro failed (exit {code}):\n{tail}")
    return {"stages": ran, "log": "\n".join(lines)}


def record_retrain(
    params: Params,
    trigger: str,
    added: Mapping[str, Any] | None,
    repro: Mapping[str, Any],
    env: Mapping[str, str],
) -> dict[str, Any]:
    """Record one retrain: an MLflow run, the repro log and `reports/retrain/last.json`.

    Whether a promotion was decided is read from the stages that ran: `reports/promotion.json`
    is only this retrain's decision when `promote` ran now.
    """
    from gaitgrf.runtime import data_version, open_tracker

    promotion_path = Artifacts.from_paths(params.paths).promotion_report()
    promotion = json.loads(promotion_path.read_text()) if promotion_path.is_file() else {}
    decided_now = "promote" in repro["stages"]
    tracker = open_tracker(params, env, "gaitgrf.pipeline.retrain")
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
    return outcome


def announce_ready(incoming: Path, settle_s: float, announce: Callable[[Path], None]) -> list[Path]:
    """One poll of `incoming`: `announce` every complete, not yet announced cohort folder.

    Two polls may overlap (a late run and the next one): a lock beside the state file makes
    each folder's announcement happen once. A missing `incoming` folder announces nothing.
    """
    import fcntl

    from gaitgrf.ingest.intake import ready_cohorts

    if not incoming.is_dir():
        return []
    state_path = incoming / STATE_FILE
    with (incoming / f"{STATE_FILE}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = json.loads(state_path.read_text()) if state_path.is_file() else {}
        ready, new_state = ready_cohorts(incoming, state, settle_s=settle_s)
        for folder in ready:
            announce(folder)
        state_path.write_text(json.dumps(new_state, indent=2))
    return ready
