"""DVC stage `inventory`: check every raw cohort against the contract and count what is there.

    python -m stages.inventory [--params params.yaml]

Writes `<paths.reports>/inventory.json` (DVC metrics). Exits 1 with the violations listed when
a cohort breaks the data contract, or when there is no cohort at all.
"""

from __future__ import annotations

import sys
from argparse import Namespace

from gaitgrf.core.artifacts import Artifacts
from gaitgrf.core.config import Params
from gaitgrf.pipeline.inventory import build_inventory, summary_lines, write_inventory
from stages.shell import run_stage


def _inventory(params: Params, _: Namespace) -> list[str]:
    inventory = build_inventory(params.paths.raw, params.contract)
    out = write_inventory(inventory, Artifacts.from_paths(params.paths).inventory_report())
    return summary_lines(inventory, out)


def main(argv: list[str] | None = None) -> int:
    return run_stage("inventory", __doc__, _inventory, argv)


if __name__ == "__main__":
    sys.exit(main())
