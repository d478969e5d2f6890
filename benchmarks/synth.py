"""Synthetic generator throughput and memory.

    python benchmarks/synth.py [--subjects 40] [--out reports/benchmarks/synth.json]

Reports, in one run:
* trials/s and MB/s of `generate_cohort` on the default configuration;
* peak traced memory at N/4 and N subjects: the ratio shows whether memory stays flat as the
  cohort grows (trials are streamed to disk one at a time);
* the trial writer against a straightforward baseline (a pandas frame with every stream on one
  NaN-padded time base, `DataFrame.to_parquet()` with defaults), as time and size ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from gaitgrf.config import SynthConfig
from gaitgrf.io.trial_file import Trial, write_trial
from gaitgrf.synth import generate_cohort
from gaitgrf.synth.population import draw_subject
from gaitgrf.synth.trials import open_session, simulate_trial


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def run_generation(cfg: SynthConfig, root: Path, *, trace: bool) -> dict[str, float]:
    """Time a run, or (trace=True) measure its peak memory: tracing slows numpy-heavy code."""
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    generate_cohort(cfg, root / cfg.cohort_id)
    seconds = time.perf_counter() - start
    trials = cfg.subjects * (cfg.walking_trials + cfg.static_trials)
    size = folder_mb(root / cfg.cohort_id)
    result = {
        "machine": {"cpus": os.cpu_count()},
        "generation": full,
        "memory": [quarter, half],
        "memory_ratio": half["peak_traced_mb"] / quarter["peak_traced_mb"],
        "data_ratio": half["mb_written"] / quarter["mb_written"],
        "writers": writers,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"generator: {full['trials']} trials in {full['seconds']:.1f} s "
          f"= {full['trials_per_s']:.1f} trials/s, {full['mb_per_s']:.1f} MB/s")
    print(f"peak traced memory: {quarter['peak_traced_mb']:.0f} MB at {quarter['subjects']} "
          f"subjects, {half['peak_traced_mb']:.0f} MB at {half['subjects']} "
          f"(x{result['memory_ratio']:.2f} memory for x{result['data_ratio']:.2f} data)")
    print(f"trial writer vs naive pandas: {writers['write_speedup_vs_naive']:.1f}x faster, "
          f"{writers['size_ratio_naive_over_gaitgrf']:.1f}x smaller "
          f"({writers['gaitgrf_mb_per_trial']:.2f} vs {writers['naive_mb_per_trial']:.2f} MB/trial)")
    print(f"written {args.out}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
