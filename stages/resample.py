"""DVC stage `resample`: validated cohorts to stance and window sample sets (docs/resampling.md).

    python -m stages.resample [--params params.yaml]

Reads `<paths.validated>`, writes `<paths.resampled>/{stance,window}.npz` (+ .json),
`subjects.csv`, `events.parquet` and `<paths.reports>/events.json` (DVC metrics: force plate vs
wearable event agreement). Exits 1 with one clear message when the library raises a
GaitGrfError.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gaitgrf.core.artifacts import Artifacts
from gaitgrf.core.config import load_params
from gaitgrf.core.errors import GaitGrfError
from gaitgrf.pipeline.resample.run import resample_cohorts


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stages.resample", description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        report_path = Artifacts.from_paths(params.paths).events_report()
        report = resample_cohorts(
            params.paths.validated, params.paths.resampled, report_path, params.resample
        )
    except GaitGrfError as exc:
        lines = [line.strip() for line in str(exc).strip().splitlines()] or [type(exc).__name__]
        more = f" {lines[1]}" if len(lines) > 1 else ""
        more += f" (+{len(lines) - 2} more)" if len(lines) > 2 else ""
        print(f"resample: {lines[0]}{more}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 1
    samples = ", ".join(f"{k} {v}" for k, v in report["samples"].items())
    hs, to = report["event_agreement"]["heel_strike"], report["event_agreement"]["toe_off"]
    print(
        f"resample: {report['walking_trials']} walking trials "
        f"({report['static_trials_skipped']} static skipped) -> {samples} samples "
        f"in {params.paths.resampled} ({report['elapsed_s']:.1f} s)"
    )
    print(
        f"resample: wearable vs force plate: heel strike {_ms(hs['mean_abs_ms'])} ms mean, "
        f"{_ms(hs['p95_abs_ms'])} ms p95 ({hs['matched']}/{hs['reference']} matched); "
        f"toe off {_ms(to['mean_abs_ms'])} ms mean, {_ms(to['p95_abs_ms'])} ms p95 "
        f"({to['matched']}/{to['reference']} matched) -> {report_path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
