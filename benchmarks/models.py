"""Compute profile of the model zoo: the cost side of the accuracy table.

    python benchmarks/models.py [--repeats 7] [--out reports/benchmarks/models.json]

For every registered architecture at its default hyperparameters (stance layout: 33 channels x
101 points, `subject` condition with 8 static features): trainable parameters, FLOPs per sample
(counted by torch.utils.flop_counter on a forward pass), CPU latency per sample at batch 1 and
64 (median of repeated runs, with 1 thread and with all threads), and training throughput
(samples/s over a few Adam steps at batch 64). Ratios are against the study's winner,
cnn2d_lstm, measured in the same run. Writes JSON and a Markdown table (same path, .md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from gaitgrf import models
from gaitgrf.models.base import ModelSpec

SPEC = ModelSpec(channels=33, length=101, static=8)
BASELINE = "cnn2d_lstm"


def inputs(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(batch, SPEC.channels, SPEC.length, generator=g), torch.randn(
        batch, SPEC.static, generator=g
    )


def flops_per_sample(model: torch.nn.Module) -> float:
    x, s = inputs(2)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x, s)
    return counter.get_total_flops() / 2


def latency_ms(model: torch.nn.Module, batch: int, threads: int, repeats: int) -> float:
    """Median wall time per sample (ms) of an eval-mode forward pass."""
    torch.set_num_threads(threads)
    x, s = inputs(batch)
    times = []
    with torch.no_grad():
        model(x, s)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            model(x, s)
            times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times) / batch


def train_throughput(model: torch.nn.Module, steps: int, threads: int) -> float:
    torch.set_num_threads(threads)
    model.train()
    x, s = inputs(64)
    y = torch.randn(64, 3, SPEC.length)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step() -> None:
        optimiser.zero_grad()
        torch.nn.functional.mse_loss(model(x, s), y).backward()
        optimiser.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return 64 * steps / (time.perf_counter() - start)


def profile(name: str, repeats: int, threads: int) -> dict[str, Any]:
    torch.manual_seed(0)
    model = models.build(name, SPEC).eval()
    heavy = models.get(name).image_backbone
    row: dict[str, Any] = {
        "architecture": name,
        "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "flops_per_sample": flops_per_sample(model),
    }
    for batch in (1, 64):
        for n in sorted({1, threads}):
            reps = max(3, repeats // (4 if heavy and batch == 64 else 1))
            row[f"latency_ms_b{batch}_t{n}"] = latency_ms(model, batch, n, reps)
    row["train_samples_per_s"] = train_throughput(model, 2 if heavy else 5, threads)
    return row


def markdown(rows: list[dict[str, Any]], threads: int) -> str:
    base = next(r for r in rows if r["architecture"] == BASELINE)
    head = (
        "| architecture | parameters | MFLOPs/sample | x FLOPs vs cnn2d_lstm | "
        f"ms/sample b1 (1 thr) | ms/sample b64 (1 thr) | ms/sample b64 ({threads} thr) | "
        "x latency b64 vs cnn2d_lstm | train samples/s |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['architecture']} | {r['parameters']:,} | {r['flops_per_sample'] / 1e6:.1f} | "
        f"{r['flops_per_sample'] / base['flops_per_sample']:.1f} | {r['latency_ms_b1_t1']:.2f} | "
        f"{r['latency_ms_b64_t1']:.3f} | {r[f'latency_ms_b64_t{threads}']:.3f} | "
        f"{r[f'latency_ms_b64_t{threads}'] / base[f'latency_ms_b64_t{threads}']:.1f} | "
        f"{r['train_samples_per_s']:.0f} |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description="Compute profile of the model zoo")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks/models.json"))
    parser.add_argument("--only", nargs="*", default=list(models.REGISTRY))
    args = parser.parse_args()
    rows = []
    for name in args.only:
        rows.append(profile(name, args.repeats, args.threads))
        r = rows[-1]
        print(
            f"{name:13s} {r['parameters']:>11,} params {r['flops_per_sample'] / 1e6:9.1f} MFLOPs "
            f"{r['latency_ms_b1_t1']:8.2f} ms b1  {r['train_samples_per_s']:8.0f} train samples/s",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"spec": SPEC.__dict__, "rows": rows}, indent=2) + "\n")
    if any(r["architecture"] == BASELINE for r in rows):
        table = markdown(rows, args.threads)
        args.out.with_suffix(".md").write_text(table)
        print(table)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
