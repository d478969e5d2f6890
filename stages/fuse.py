"""DVC stage `fuse`: select model inputs and add subject-specific features per condition.

    python -m stages.fuse [--params params.yaml]

Reads `<paths.resampled>/<layout>.npz` and `subjects.csv`, writes
`<paths.fused>/<layout>/<condition>.npz` (+ .json) and `<paths.fused>/summary.json`
(docs/features.md). Exits 1 with one clear message when the library raises a GaitGrfError.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gaitgrf.core.artifacts import Artifacts
from gaitgrf.core.config import load_params
from gaitgrf.core.errors import GaitGrfError
from gaitgrf.pipeline.fuse.run import fuse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stages.fuse", description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        summary = fuse(params.paths.resampled, params.paths.fused, params.fuse)
    except GaitGrfError as exc:
        print(f"fuse: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 1
    for layout, info in summary["layouts"].items():
        conditions = ", ".join(
            f"{name} (S={len(cond['static_names'])})" for name, cond in info["conditions"].items()
        )
        print(
            f"fuse: {layout}: {info['samples']} samples of {info['subjects']} subjects, "
            f"{len(info['channels'])} channels x {info['time_points']} points -> {conditions}"
        )
    print(f"fuse: summary -> {Artifacts.from_paths(params.paths).fuse_summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
