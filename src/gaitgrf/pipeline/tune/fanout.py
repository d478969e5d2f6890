"""Many studies at once: which ones, their stores created up front, and worker mode.

The `tune` flow (flows/tune.py) fans the chosen studies (`studies`) out over a task runner, each
study with its torch threads set (`with_threads`); workers (`work`) only take trials of studies
in a shared Optuna storage, two passes over them, and leave the refit to `dvc repro` or the flow
(`gaitgrf.pipeline.tune.run.work_study`). Both create the Optuna and MLflow schemas first
(`init_stores`). The environment is the caller's (`env`); nothing here reads `os.environ`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gaitgrf.core.config import Params
from gaitgrf.pipeline.tune.study import Log, TuningError


def studies(
    params: Params, archs: Sequence[str] | None = None, conditions: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """(arch, condition) pairs to tune: those given, else every one in params."""
    known_a, known_c = list(params.models.architectures), list(params.fuse.conditions)
    unknown = [a for a in archs or () if a not in known_a]
    unknown += [c for c in conditions or () if c not in known_c]
    if unknown:
        raise TuningError(f"not in params (models.architectures, fuse.conditions): {unknown}")
    return [(a, c) for a in archs or known_a for c in conditions or known_c]


def with_threads(params: Params, threads: int | None) -> Params:
    """`params` with `tune.threads` replaced (not part of a study's fingerprint)."""
    return params.model_copy(update={"tune": params.tune.model_copy(update={"threads": threads})})


def init_stores(params: Params, env: Mapping[str, str], attempts: int = 5) -> None:
    """Create the Optuna and MLflow schemas (and the tuning experiment) once, up front.

    Processes that all find an empty database race to create its tables (MLflow's migrations
    fail outright): the flow does it before fanning out; a worker retries, since workers
    starting together on an empty database race as well.
    """
    import time

    from gaitgrf.pipeline.tune.study import open_storage
    from gaitgrf.runtime import open_tracker, storage_url
    from gaitgrf.tracking.client import TUNING_EXPERIMENT

    for attempt in range(attempts):
        try:
            open_storage(storage_url(params, env))
            open_tracker(params, env).experiment(TUNING_EXPERIMENT)
            return
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(1.0 + attempt)


def work_one(
    params: Params, arch: str, condition: str, env: Mapping[str, str], *, wait: bool, log: Log
) -> dict[str, Any]:
    """Take trials of one study (no refit); the inputs are read as the DVC stage reads them."""
    from gaitgrf.pipeline.tune.run import study_request, work_study

    return work_study(study_request(params, arch, condition, env, log), wait=wait)


def work(
    params: Params, targets: Sequence[tuple[str, str]], env: Mapping[str, str], log: Log = print
) -> dict[str, dict[str, Any]]:
    """Worker mode over `targets`: two passes (skip busy studies, then wait for them)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    init_stores(params, env)
    out: dict[str, dict[str, Any]] = {}
    for wait_ in (False, True):
        for arch, cond in targets:
            result = work_one(params, arch, cond, env, wait=wait_, log=log)
            if result["study"] in out:
                result["ran"] += out[result["study"]]["ran"]
                result["surplus"] += out[result["study"]]["surplus"]
            out[result["study"]] = result
    return out
