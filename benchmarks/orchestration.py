"""Orchestration overhead of one tuning study: the study against the bare training loop.

    python benchmarks/orchestration.py [--arch cnn1d] [--trials 3] [--epochs 4]
                                       [--import-repeats 3] [--studies 20]
                                       [--out reports/benchmarks/orchestration.json]

One study runs in this process through the tune stage's own path (`tune_stage`: Optuna in a
fresh SQLite storage, an MLflow child run per trial with per-epoch metrics, refit, bundle, logged
pyfunc + network models in a fresh MLflow SQLite store) on a temporary project: the fused set of
tests/sample_factory.py (24 subjects x 100 samples, widened to 33 channels x 101 points), the
budget of params.yaml (3 trials x 4 epochs x 3 folds + refit). Each `train_once` call of the study
is replayed next to it with the plain loop (same hyperparameters, samples, seed and epochs; no
callback, Optuna or MLflow; before and after it in turn): the baseline, off the study's clock.
overhead = (study - bare train_once total) / study, in wall and in CPU seconds (CPU: all threads
of this process; what a machine shared with other jobs distorts least).

Timing wrappers around library calls break the study down; the rest is Optuna's bookkeeping and
glue. Imports: median wall and CPU of fresh `python -c "import ..."` processes less an empty
interpreter's, per stage process and x `--studies`. Both stores are created beforehand in a
subprocess (they exist for all but a run's first study); that cost is reported on its own.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from sample_factory import make_samples  # noqa: E402

from gaitgrf.core import contract as c  # noqa: E402
from gaitgrf.core.config import load_params  # noqa: E402
from gaitgrf.core.samples import SampleSet  # noqa: E402

CONDITION = "subject"
#: What a tune stage process imports before and while it runs its study.
IMPORTS: dict[str, str] = {
    "stages.tune (module)": "import stages.tune",
    "torch": "import torch",
    "optuna": "import optuna",
    "mlflow (client)": "import mlflow; from mlflow.tracking import MlflowClient",
    "mlflow (model logging)": "import mlflow.pyfunc, mlflow.pytorch, mlflow.models",
    "stage process (all)": (
        "import stages.tune, gaitgrf.pipeline.tune.run, gaitgrf.training.loop, "
        "gaitgrf.tracking.client, gaitgrf.predictor, optuna, mlflow.pyfunc, mlflow.pytorch, "
        "mlflow.models; from mlflow.tracking import MlflowClient"
    ),
}

#: Imported before the study, so that its wall time holds no import (measured on their own).
PRELOAD = ("gaitgrf.pipeline.tune.run", "gaitgrf.predictor", "mlflow.pyfunc", "mlflow.pytorch")


def widen(samples: SampleSet, channels: int, seed: int = 0) -> SampleSet:
    """The factory's 4 learnable channels, repeated with noise up to the stance layout's width."""
    rng = np.random.default_rng(seed)
    reps = -(-channels // samples.inputs.shape[1])
    inputs = np.tile(samples.inputs, (1, reps, 1))[:, :channels]
    inputs = inputs + rng.normal(0, 0.05, inputs.shape).astype(np.float32)
    names = tuple(f"{name}_{k}" for k in range(reps) for name in samples.channels)[:channels]
    return replace(samples, inputs=inputs.astype(np.float32), channels=names)


def make_project(root: Path, args: argparse.Namespace) -> None:
    """params.yaml (the repository's, budget from the options) and the fused set + subjects."""
    samples, table = make_samples(subjects=24, per_subject=100, length=101)
    widen(samples, 33).save(root / "data" / "fused" / "stance" / f"{CONDITION}.npz")
    full = table.assign(
        sex="female", age_years=50.0, mass_kg=70.0, height_m=1.7, affected_side="none"
    )[list(c.SUBJECT_COLUMNS)]
    (root / "data" / "resampled").mkdir(parents=True)
    full.to_csv(root / "data" / "resampled" / "subjects.csv", index=False)
    params = load_params(REPO / "params.yaml").model_dump(mode="json", by_alias=True)
    params["tune"]["threads"] = args.threads
    params["tune"]["profiles"][params["tune"]["profile"]]["budget"].update(
        n_trials=args.trials, epochs=args.epochs, timeout_s=None
    )
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def python_env() -> dict[str, str]:
    path = os.pathsep.join([str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path.rstrip(os.pathsep), "MLFLOW_DISABLE_TELEMETRY": "true"}


def create_stores(env: dict[str, str]) -> float:
    """Both stores' schemas in a fresh process (what the first study of a run pays once)."""
    code = (
        "import optuna, sys; from gaitgrf.tracking.client import TUNING_EXPERIMENT, Tracker; "
        "optuna.storages.RDBStorage(sys.argv[1]); "
        "Tracker(sys.argv[2]).experiment(TUNING_EXPERIMENT)"
    )
    start = time.perf_counter()
    cmd = [sys.executable, "-c", code, env["GAITGRF_OPTUNA_STORAGE"], env["MLFLOW_TRACKING_URI"]]
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def now() -> np.ndarray:
    """(wall, CPU) seconds: CPU time (all threads of this process) is what a loaded machine
    distorts least; wall time is what a user waits for."""
    return np.array([time.perf_counter(), time.process_time()])


class Clock:
    """(wall, CPU) seconds and calls per bucket, from wrappers around library functions."""

    def __init__(self) -> None:
        self.seconds: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(2))
        self.calls: dict[str, int] = defaultdict(int)
        self.in_epoch = False
        self.epochs_seen = 0
        #: Every train_once call of the study with its (wall, CPU) and its bare replay's.
        self.trainings: list[dict[str, Any]] = []
        #: Time spent in the replays, taken off the study's clock.
        self.paused = np.zeros(2)

    def timed(self, bucket: str | Callable[[], str], fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*a: Any, **k: Any) -> Any:
            name = bucket() if callable(bucket) else bucket
            start = now()
            try:
                return fn(*a, **k)
            finally:
                self.seconds[name] += now() - start
                self.calls[name] += 1

        return wrapper


@contextmanager
def patched(targets: list[tuple[Any, str, Callable[[Any], Any]]]) -> Iterator[None]:
    """Replace `owner.name` by `make(original)` for each target; restore them all afterwards."""
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in targets]
    for owner, name, make in targets:
        setattr(owner, name, make(getattr(owner, name)))
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def bare(original: Callable[..., Any], call: dict[str, Any]) -> np.ndarray:
    """The same train_once call with the plain loop: no callback, no Optuna, no MLflow."""
    start = now()
    original(*call["args"], **{**call["kw"], "on_epoch": None, "epochs": call["epochs"]})
    return now() - start


def recorder(clock: Clock) -> Callable[[Any], Any]:
    """train_once, timed, and replayed bare next to it (same load on the machine for both):
    after it on even calls, before it on odd ones (a second identical run is not as fast as
    the first here); a bare run before a call that then stops early runs again after it."""

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        def train_once(*args: Any, **kw: Any) -> Any:
            call: dict[str, Any] = {"args": args, "kw": kw, "epochs": kw["epochs"]}
            first = len(clock.trainings) % 2 == 1
            paused = now()
            call["bare"] = bare(original, call) if first else None
            clock.paused += now() - paused
            # A pruned trial raises from its epoch callback: its epochs are the callbacks seen.
            clock.epochs_seen = 0
            start = now()
            try:
                trained = original(*args, **kw)
                call["epochs"] = len(trained.result.history)
                return trained
            except BaseException:
                call["epochs"] = clock.epochs_seen
                raise
            finally:
                call["study"] = now() - start
                clock.seconds["train_once (incl. epoch callbacks)"] += call["study"]
                paused = now()
                if call["bare"] is None or call["epochs"] != kw["epochs"]:
                    call["bare"], call["bare_after"] = bare(original, call), True
                clock.trainings.append(call)
                clock.paused += now() - paused

        return train_once

    return wrap


def instrument(clock: Clock) -> list[tuple[Any, str, Callable[[Any], Any]]]:
    """The wrappers: which library call is charged to which bucket."""
    from gaitgrf.pipeline.tune import objective, refit, run
    from gaitgrf.tracking.client import Tracker
    from gaitgrf.training import loop

    def reporter(original: Callable[..., Any]) -> Callable[..., Any]:
        def make(*a: Any, **k: Any) -> Callable[[Any], None]:
            on_epoch = original(*a, **k)

            def timed_epoch(epoch: Any) -> None:
                clock.epochs_seen += 1
                clock.in_epoch = True
                try:
                    clock.timed("epoch callbacks (all)", on_epoch)(epoch)
                finally:
                    clock.in_epoch = False

            return timed_epoch

        return make

    def tracker_bucket() -> str:
        return "mlflow per-epoch metrics" if clock.in_epoch else "mlflow runs, params, metrics"

    targets: list[tuple[Any, str, Callable[[Any], Any]]] = [
        (loop, "train_once", recorder(clock)),
        (objective, "_epoch_reporter", reporter),
        (run, "study_request", lambda f: clock.timed("inputs (load set, subjects)", f)),
        (run, "tuning_data", lambda f: clock.timed("hold-out + folds", f)),
        (refit, "_save_bundle", lambda f: clock.timed("bundle save", f)),
        (Tracker, "log_grf_model", lambda f: clock.timed("mlflow model logging", f)),
    ]
    tracked = ("start_run", "end_run", "resume_run", "find_run", "log_params", "log_metrics")
    for name in (*tracked, "set_tags"):
        targets.append((Tracker, name, lambda f: clock.timed(tracker_bucket, f)))
    return targets


def run_study(root: Path, arch: str, env: dict[str, str]) -> tuple[np.ndarray, Clock]:
    """The tune stage's study, in this process (imports already paid), timed and instrumented;
    its (wall, CPU) seconds exclude the bare replays."""
    from gaitgrf.pipeline.tune.run import tune_stage

    clock = Clock()
    cwd = Path.cwd()
    os.chdir(root)
    try:
        with patched(instrument(clock)):
            start = now()
            tune_stage(load_params(root / "params.yaml"), arch, CONDITION, env, lambda _: None)
            spent = now() - start - clock.paused
    finally:
        os.chdir(cwd)
    return spent, clock


def warm_up(root: Path, arch: str) -> None:
    """One short fit, so that neither side pays torch's first-call costs."""
    from gaitgrf import models
    from gaitgrf.training.loop import train_once

    samples = SampleSet.load(root / "data" / "fused" / "stance" / f"{CONDITION}.npz")
    idx = np.arange(128)
    hp = models.get(arch).defaults
    train_once(samples, arch, hp, idx, idx, epochs=1, patience=0, seed=0, threads=None)


def import_costs(env: dict[str, str], repeats: int) -> dict[str, Any]:
    """Median (wall, CPU) seconds of fresh `python -c "import ..."` processes, less an empty
    interpreter's; CPU from the children's rusage."""

    def median_cost(code: str) -> np.ndarray:
        costs = []
        for _ in range(repeats):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, check=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            costs.append((time.perf_counter() - start, cpu))
        return np.median(np.array(costs), axis=0)

    empty = median_cost("pass")
    costs = {name: pair(median_cost(code) - empty) for name, code in IMPORTS.items()}
    return {"interpreter": pair(empty), "imports": costs, "top_level_s": top_level_imports(env)}


def top_level_imports(env: dict[str, str]) -> dict[str, float]:
    """`-X importtime` of the stage's imports: cumulative seconds of each top-level package
    (a package imported first is charged for what it shares with later ones)."""
    code = IMPORTS["stage process (all)"]
    cmd = [sys.executable, "-X", "importtime", "-c", code]
    err = subprocess.run(cmd, env=env, cwd=REPO, check=True, capture_output=True, text=True).stderr
    totals: dict[str, float] = defaultdict(float)
    for line in err.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit() or parts[2].startswith("  "):
            continue
        totals[parts[2].strip().split(".")[0]] += int(parts[1]) / 1e6
    return dict(sorted(totals.items(), key=lambda kv: -kv[1])[:6])


def pair(seconds: np.ndarray) -> dict[str, float]:
    return {"wall_s": float(seconds[0]), "cpu_s": float(seconds[1])}


def breakdown(study: np.ndarray, clock: Clock) -> dict[str, np.ndarray]:
    """(wall, CPU) seconds of the study per part; `optuna + glue` is what no wrapper saw."""
    s = clock.seconds
    epoch_all, epoch_mlflow = s["epoch callbacks (all)"], s["mlflow per-epoch metrics"]
    parts = {
        "training (train_once less callbacks)": s["train_once (incl. epoch callbacks)"] - epoch_all,
        "mlflow per-epoch metrics": epoch_mlflow,
        "optuna per-epoch report/prune": epoch_all - epoch_mlflow,
        "mlflow runs, params, metrics": s["mlflow runs, params, metrics"],
        "mlflow model logging": s["mlflow model logging"],
        "bundle save": s["bundle save"],
        "inputs (load set, subjects)": s["inputs (load set, subjects)"],
        "hold-out + folds": s["hold-out + folds"],
    }
    parts["optuna + glue (rest)"] = study - sum(parts.values())
    return parts


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from gaitgrf.cli.environment import telemetry_off

    telemetry_off(os.environ)  # as every gaitgrf command runs (the stages under make)
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="gaitgrf-bench-orch-") as tmp:
        root = Path(tmp)
        make_project(root, args)
        env = python_env()
        env["GAITGRF_OPTUNA_STORAGE"] = f"sqlite:///{root / 'optuna.db'}"
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
        stores_s = create_stores(env)
        for module in PRELOAD:  # the imports, paid here outside the timings
            importlib.import_module(module)
        warm_up(root, args.arch)
        study, clock = run_study(root, args.arch, env)
    imports = import_costs(python_env(), args.import_repeats) if args.import_repeats else None
    return {
        "load_start": load_start,
        "stores_s": stores_s,
        "study": study,
        "clock": clock,
        "imports": imports,
    }


def report(args: argparse.Namespace, m: dict[str, Any]) -> dict[str, Any]:
    study, clock = m["study"], m["clock"]
    bare_total = sum(t["bare"] for t in clock.trainings)
    parts = breakdown(study, clock)
    no_imports = {"wall_s": 0.0, "cpu_s": 0.0}
    stage = m["imports"]["imports"]["stage process (all)"] if m["imports"] else no_imports
    imports = np.array([stage["wall_s"], stage["cpu_s"]])
    with_imports = study + imports
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_1m_start": m["load_start"],
            "load_avg_1m_end": os.getloadavg()[0],
        },
        "arch": args.arch,
        "budget": {"trials": args.trials, "epochs": args.epochs, "folds": 3, "refit": 1},
        "threads": args.threads,
        "train_once_calls": len(clock.trainings),
        "epochs_trained": sum(t["epochs"] for t in clock.trainings),
        "study": pair(study),
        "bare_train_once_total": pair(bare_total),
        "overhead_pct": pair(100 * (study - bare_total) / study),
        "overhead_with_imports_pct": pair(100 * (with_imports - bare_total) / with_imports),
        # The study less its own training time: free of the replay's noise on a shared machine.
        "overhead_instrumented_pct": pair(
            100 * (study - parts["training (train_once less callbacks)"]) / study
        ),
        "in_study_train_over_bare": pair(sum(t["study"] for t in clock.trainings) / bare_total),
        "breakdown": {k: pair(v) for k, v in parts.items()},
        "breakdown_pct_of_study": {k: pair(100 * v / study) for k, v in parts.items()},
        "calls": dict(clock.calls),
        "per_call": [
            {
                "epochs": t["epochs"],
                "bare_first": not t.get("bare_after", False),
                "study": pair(t["study"]),
                "bare": pair(t["bare"]),
            }
            for t in clock.trainings
        ],
        "store_creation_once_s": m["stores_s"],
        "imports": m["imports"],
        "stage_imports": pair(imports),
        "stage_imports_x_studies": pair(imports * args.studies),
        "studies": args.studies,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", default="cnn1d")
    parser.add_argument("--trials", type=int, default=3, help="n_trials of the picked tune profile")
    parser.add_argument("--epochs", type=int, default=4, help="epochs of the picked tune profile")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (tune.threads)")
    parser.add_argument("--import-repeats", type=int, default=3, help="0: skip the imports")
    parser.add_argument("--studies", type=int, default=20, help="stage processes per run")
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks/orchestration.json"))
    args = parser.parse_args()
    out = report(args, measure(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    wall = {k: v["wall_s"] for k, v in out.items() if isinstance(v, dict) and "wall_s" in v}
    cpu = {k: v["cpu_s"] for k, v in out.items() if isinstance(v, dict) and "cpu_s" in v}
    print(
        f"orchestration: {args.arch}, {out['train_once_calls']} train_once calls, "
        f"{os.cpu_count()} cores, load {out['machine']['load_avg_1m_start']:.1f}\n"
        f"  {'':38s} {'wall':>9s} {'CPU':>9s}\n"
        f"  {'study':38s} {wall['study']:8.1f}s {cpu['study']:8.1f}s\n"
        f"  {'bare train_once (same calls)':38s} {wall['bare_train_once_total']:8.1f}s "
        f"{cpu['bare_train_once_total']:8.1f}s\n"
        f"  {'overhead':38s} {wall['overhead_pct']:8.1f}% {cpu['overhead_pct']:8.1f}%\n"
        f"  {'overhead (study less its own training)':38s} "
        f"{wall['overhead_instrumented_pct']:8.1f}% {cpu['overhead_instrumented_pct']:8.1f}%\n"
        f"  {'overhead with stage imports':38s} {wall['overhead_with_imports_pct']:8.1f}% "
        f"{cpu['overhead_with_imports_pct']:8.1f}%\n"
        f"  {'stage imports per process':38s} {wall['stage_imports']:8.1f}s "
        f"{cpu['stage_imports']:8.1f}s  (x {args.studies}: {wall['stage_imports_x_studies']:.0f}"
        f" s wall)\n  breakdown of the study:"
    )
    for name, part in out["breakdown"].items():
        pct = out["breakdown_pct_of_study"][name]
        print(
            f"    {name:36s} {part['wall_s']:8.2f}s {part['cpu_s']:8.2f}s"
            f"  ({pct['wall_s']:.1f} % / {pct['cpu_s']:.1f} %)"
        )


if __name__ == "__main__":
    main()
