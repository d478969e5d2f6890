"""DVC stage `tune@<arch>-<condition>`: one Optuna study, its refit and its MLflow runs.

    python -m stages.tune --arch cnn2d_lstm --condition subject [--params params.yaml]

Reads `<paths.fused>/<tune.layout>/<condition>.npz` and the subjects table, resumes or starts the
study `<arch>__<condition>` in the Optuna storage, and writes `<paths.tuned>/<arch>__<condition>/`
(model bundle + summary.json) and `<paths.reports>/tuning/<arch>__<condition>.json` (metrics).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gaitgrf.core.config import load_params
from gaitgrf.core.errors import GaitGrfError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stages.tune", description=__doc__)
    parser.add_argument("--arch", required=True)
    parser.add_argument("--condition", required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        summary = run(params, args.arch, args.condition)
    except GaitGrfError as exc:
        print(f"tune: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 1
    print(
        f"tune: {summary['study']}: best trial {summary['best_trial']} "
        f"cv loss {summary['cv_val_loss']:.4f}, trials {summary['trials']}, "
        f"{summary['seconds']:.0f} s"
    )
    return 0


def run(params, arch: str, condition: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    import optuna

    from gaitgrf.core.samples import SampleSet
    from gaitgrf.pipeline.fuse.features import read_subjects
    from gaitgrf.pipeline.tune.run import run_study, study_name
    from gaitgrf.tracking import Tracker, pip_requirements
    from stages import context

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fused = params.paths.fused
    samples = SampleSet.load(fused / params.tune.layout / f"{condition}.npz")
    subjects = read_subjects(params.paths.resampled / "subjects.csv")
    name = study_name(arch, condition)
    out_dir = params.paths.tuned / name
    out_dir.mkdir(parents=True, exist_ok=True)
    outcome = run_study(
        arch=arch,
        condition=condition,
        samples=samples,
        subjects=subjects,
        cfg=params.tune,
        storage_url=context.storage_url(params),
        out_dir=out_dir,
        data_version=context.data_version(fused),
        git_commit=context.git_commit(),
        tracker=Tracker(context.tracking_uri(params), params.paths.mlflow_artifacts),
        fixed_hp=context.fixed_hyperparameters(params, arch),
        pip_requirements=pip_requirements(),
        log=lambda line: print(f"tune: {line}", flush=True),
    )
    summary = outcome.summary
    metrics = {
        "cv_val_loss": summary["cv_val_loss"],
        "trials_complete": summary["trials"].get("COMPLETE", 0),
        "trials_pruned": summary["trials"].get("PRUNED", 0),
        "seconds": round(summary["seconds"], 1),
    }
    report = params.paths.reports / "tuning" / f"{name}.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(metrics, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    sys.exit(main())
