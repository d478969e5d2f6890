"""Wall time of the same tuning work with 1 vs 2 worker processes on this machine.

    python benchmarks/tune_workers.py [--trials 6] [--epochs 3] [--storage sqlite|URL]
                                      [--out reports/benchmarks/tune_workers.json]

A temporary project (tiny learnable data from tests/sample_factory.py, 12 subjects) with four
light studies (mlp and cnn1d, conditions base and subject), `--trials` trials each, torch 1
thread per process. Each run starts N = 1, then 2, `python -m flows.tune --worker` processes
at once on a fresh shared Optuna storage (SQLite file by default, or a PostgreSQL URL) and a
fresh MLflow SQLite store, and times them until the last exits. The studies must end with
exactly `--trials` counted trials each; the ratio t(1) / t(2) is the speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from sample_factory import make_samples  # noqa: E402

from gaitgrf.core import contract as c  # noqa: E402
from gaitgrf.core.config import Params  # noqa: E402

ARCHS = ("mlp", "cnn1d")
CONDITIONS = ("base", "subject")


def make_project(root: Path, trials: int, epochs: int) -> None:
    samples, table = make_samples(subjects=12, per_subject=30)
    for cond in CONDITIONS:
        samples.save(root / "data" / "fused" / "stance" / f"{cond}.npz")
    full = table.assign(
        sex="female", age_years=50.0, mass_kg=70.0, height_m=1.7, affected_side="none"
    )[list(c.SUBJECT_COLUMNS)]
    (root / "data" / "resampled").mkdir(parents=True)
    full.to_csv(root / "data" / "resampled" / "subjects.csv", index=False)
    params = Params().model_dump(mode="json", by_alias=True)
    params["tune"].update(folds=2, test_fraction=0.2, threads=1)
    params["tune"]["profiles"][params["tune"]["profile"]]["budget"].update(
        n_trials=trials, timeout_s=None, epochs=epochs, patience=0, max_refit_samples=None
    )
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def run(workers: int, trials: int, epochs: int, storage: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gaitgrf-bench-workers-") as tmp:
        root = Path(tmp)
        make_project(root, trials, epochs)
        url = storage or f"sqlite:///{root / 'optuna.db'}"
        if storage:  # a shared server: start from empty studies
            for s in optuna.get_all_study_summaries(url):
                optuna.delete_study(study_name=s.study_name, storage=url)
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "GAITGRF_OPTUNA_STORAGE": url,
            "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        }
        # The MLflow schema first (as a tracking server would), not raced by the workers.
        from gaitgrf.tracking.client import TUNING_EXPERIMENT, Tracker

        Tracker(env["MLFLOW_TRACKING_URI"]).experiment(TUNING_EXPERIMENT)
        cmd = [sys.executable, "-m", "flows.tune", "--worker"]
        cmd += [arg for a in ARCHS for arg in ("--arch", a)]
        start = time.perf_counter()
        procs = [
            subprocess.Popen(
                cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            for _ in range(workers)
        ]
        outs = [p.communicate(timeout=1800)[0] for p in procs]
        seconds = time.perf_counter() - start
        for p, out in zip(procs, outs, strict=True):
            if p.returncode != 0:
                raise SystemExit(f"worker failed:\n{out}")
        counts = {}
        for arch in ARCHS:
            for cond in CONDITIONS:
                name = f"{arch}__{cond}"
                states = [
                    t.state.name
                    for t in optuna.load_study(study_name=name, storage=url).get_trials()
                ]
                counts[name] = {s: states.count(s) for s in sorted(set(states))}
                counted = states.count("COMPLETE") + states.count("PRUNED")
                if counted != trials:
                    raise SystemExit(f"{name}: {counted} counted trials, expected {trials}")
        per_worker = [out.count(": complete") + out.count(": pruned (") for out in outs]
        return {
            "workers": workers,
            "seconds": seconds,
            "trials_per_worker": per_worker,
            "studies": counts,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--storage", default=None, help="Optuna RDB URL; default: SQLite file")
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks/tune_workers.json"))
    args = parser.parse_args()
    results = [run(n, args.trials, args.epochs, args.storage) for n in (1, 2)]
    one, two = results
    report = {
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0]},
        "studies": len(ARCHS) * len(CONDITIONS),
        "trials_per_study": args.trials,
        "epochs": args.epochs,
        "storage": "sqlite" if args.storage is None else args.storage.split("://", 1)[0],
        "runs": results,
        "speedup_2_vs_1": one["seconds"] / two["seconds"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"tune_workers: 1 worker {one['seconds']:.1f} s, 2 workers {two['seconds']:.1f} s "
        f"(trials per worker {two['trials_per_worker']}), speed-up {report['speedup_2_vs_1']:.2f}x"
        f" on {os.cpu_count()} cores (load {report['machine']['load_avg_1m']:.1f})"
    )


if __name__ == "__main__":
    main()
