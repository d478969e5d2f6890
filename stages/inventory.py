"""DVC stage `inventory`: check every raw cohort against the contract and count what is there.

    python -m stages.inventory [--params params.yaml]

Writes `<paths.reports>/inventory.json` (DVC metrics). Exits 1 with the violations listed when
a cohort breaks the data contract, or when there is no cohort at all.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gaitgrf.core.artifacts import Artifacts
from gaitgrf.core.config import load_params
from gaitgrf.core.errors import GaitGrfError
from gaitgrf.pipeline.inventory import build_inventory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stages.inventory", description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        inventory = build_inventory(params.paths.raw, params.contract)
    except GaitGrfError as exc:
        print(f"inventory: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 1
    out = Artifacts.from_paths(params.paths).inventory_report()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(inventory, indent=2) + "\n")
    print(
        f"inventory: {inventory['cohorts']} cohort(s), {inventory['subjects']} subjects, "
        f"{inventory['walking_trials']} walking / {inventory['static_trials']} static trials, "
        f"{inventory['walking_minutes']} min of walking -> {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
