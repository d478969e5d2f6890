"""Synthetic generator throughput and memory.

    python benchmarks/synth.py [--subjects 40] [--workers 2] [--out reports/benchmarks/synth.json]

Reports, in one run:
* trials/s and MB/s of `generate_cohort` on the default configuration, with 1 and N workers;
* peak traced memory at N/8 and N/2 subjects: the ratio shows whether memory stays flat as the
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
from typing import Any

import pandas as pd

from gaitgrf.core.config import SynthConfig
from gaitgrf.io.trial_file import Trial, write_trial
from gaitgrf.synth import generate_cohort
from gaitgrf.synth.population import draw_subject
from gaitgrf.synth.trials import open_session, simulate_trial


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def timed_generation(cfg: SynthConfig, root: Path, workers: int) -> dict[str, Any]:
    out = root / f"{cfg.cohort_id}-w{workers}"
    start = time.perf_counter()
    generate_cohort(cfg, out, workers=workers)
    seconds = time.perf_counter() - start
    trials = cfg.subjects * (cfg.walking_trials + cfg.static_trials)
    size = folder_mb(out)
    return {
        "workers": workers,
        "subjects": cfg.subjects,
        "trials": trials,
        "seconds": seconds,
        "trials_per_s": trials / seconds,
        "mb_written": size,
        "mb_per_s": size / seconds,
    }


def traced_generation(cfg: SynthConfig, root: Path) -> dict[str, Any]:
    """Peak Python/numpy memory of a single-process run (tracing slows it; not timed)."""
    tracemalloc.start()
    out = root / f"{cfg.cohort_id}-traced-{cfg.subjects}"
    generate_cohort(cfg, out)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "subjects": cfg.subjects,
        "peak_traced_mb": peak / 1e6,
        "mb_written": folder_mb(out),
    }


def naive_write(trial: Trial, path: Path) -> None:
    """What one would write first: outer-join every stream on time, NaN-padded, pandas defaults."""
    frames = [
        pd.DataFrame(s.data, columns=list(s.channels), index=pd.Index(s.time, name="time"))
        for s in trial.streams.values()
    ]
    pd.concat(frames, axis=1).sort_index().to_parquet(path)


def compare_writers(cfg: SynthConfig, root: Path, n: int = 20) -> dict[str, float]:
    session = open_session(draw_subject(0, cfg), cfg.seed)
    trials = [
        simulate_trial(session, i % cfg.walking_trials, "walking", "bench", cfg) for i in range(n)
    ]
    seconds: dict[str, float] = {}
    sizes: dict[str, float] = {}
    for name, writer in (("gaitgrf", write_trial), ("naive_pandas", naive_write)):
        out = root / name
        out.mkdir()
        start = time.perf_counter()
        for i, trial in enumerate(trials):
            writer(trial, out / f"t{i}.parquet")
        seconds[name] = time.perf_counter() - start
        sizes[name] = folder_mb(out)
    return {
        "trials": n,
        "gaitgrf_write_ms_per_trial": 1e3 * seconds["gaitgrf"] / n,
        "naive_write_ms_per_trial": 1e3 * seconds["naive_pandas"] / n,
        "write_speedup_vs_naive": seconds["naive_pandas"] / seconds["gaitgrf"],
        "gaitgrf_mb_per_trial": sizes["gaitgrf"] / n,
        "naive_mb_per_trial": sizes["naive_pandas"] / n,
        "size_ratio_naive_over_gaitgrf": sizes["naive_pandas"] / sizes["gaitgrf"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Synthetic generator benchmark")
    parser.add_argument("--subjects", type=int, default=SynthConfig().subjects)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks/synth.json"))
    args = parser.parse_args()
    base = SynthConfig().model_copy(update={"subjects": args.subjects})
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        runs = [timed_generation(base, root, w) for w in sorted({1, args.workers})]
        small, large = (
            traced_generation(base.model_copy(update={"subjects": max(1, n)}), root)
            for n in (args.subjects // 8, args.subjects // 2)
        )
        writers = compare_writers(base, root)
    result = {
        "machine": {"cpus": os.cpu_count()},
        "generation": runs,
        "parallel_speedup": runs[0]["seconds"] / runs[-1]["seconds"],
        "memory": [small, large],
        "memory_ratio": large["peak_traced_mb"] / small["peak_traced_mb"],
        "data_ratio": large["mb_written"] / small["mb_written"],
        "writers": writers,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for run in runs:
        print(
            f"generator, {run['workers']} worker(s): {run['trials']} trials in "
            f"{run['seconds']:.1f} s = {run['trials_per_s']:.1f} trials/s, "
            f"{run['mb_per_s']:.1f} MB/s"
        )
    print(f"parallel speed-up: x{result['parallel_speedup']:.2f}")
    print(
        f"peak traced memory: {small['peak_traced_mb']:.0f} MB at {small['subjects']} subjects, "
        f"{large['peak_traced_mb']:.0f} MB at {large['subjects']} "
        f"(x{result['memory_ratio']:.2f} memory for x{result['data_ratio']:.2f} data)"
    )
    print(
        f"trial writer vs naive pandas: {writers['write_speedup_vs_naive']:.1f}x faster, "
        f"{writers['size_ratio_naive_over_gaitgrf']:.1f}x smaller "
        f"({writers['gaitgrf_mb_per_trial']:.2f} vs {writers['naive_mb_per_trial']:.2f} MB/trial)"
    )
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
