"""What the `resample` stage prints: its report in two lines (errors: `error_lines(brief=True)`,
which keeps the first two problems of a per-trial list and counts the rest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def summary_lines(report: dict[str, Any], resampled_dir: Path, report_path: Path) -> list[str]:
    """Trials in, samples out per layout, and the wearable vs force plate event agreement."""
    samples = ", ".join(f"{k} {v}" for k, v in report["samples"].items())
    hs, to = report["event_agreement"]["heel_strike"], report["event_agreement"]["toe_off"]
    return [
        f"resample: {report['walking_trials']} walking trials "
        f"({report['static_trials_skipped']} static skipped) -> {samples} samples "
        f"in {resampled_dir} ({report['elapsed_s']:.1f} s)",
        f"resample: wearable vs force plate: heel strike {_ms(hs['mean_abs_ms'])} ms mean, "
        f"{_ms(hs['p95_abs_ms'])} ms p95 ({hs['matched']}/{hs['reference']} matched); "
        f"toe off {_ms(to['mean_abs_ms'])} ms mean, {_ms(to['p95_abs_ms'])} ms p95 "
        f"({to['matched']}/{to['reference']} matched) -> {report_path}",
    ]
