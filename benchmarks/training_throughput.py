"""Training throughput per architecture: the library's loop against a plain PyTorch loop.

    python benchmarks/training_throughput.py [--archs mlp,cnn1d,...] [--epochs 2]
                                             [--samples 2048] [--threads 2] [--repeats 2]
                                             [--experiments] [--out PATH]

For each architecture at its default hyperparameters, on the default input shape (21 channels x
101 points: params.yaml's `fuse` selection, docs/features.md) with the `subject` condition's 8
static features (10 columns after the missing indicators), random data with a few unknown knee
alignments, stored as `.npy` files and opened as memory maps (what the fused set becomes at
scale):

- **library**: `gaitgrf.training.loop.train_once`, the call the tune stage makes per fold
  (normalise on the training rows, build, fit with validation every epoch, best weights kept);
- **plain**: the same work written the obvious way: `Normaliser` on an in-memory copy of the
  rows, `DataLoader(TensorDataset, shuffle=True)` with a seeded generator, the same model, seed,
  AdamW settings, variance-weighted MSE, batch size and epochs, validation every epoch and a
  `deepcopy` of the best state.

The two run in the same process, one after the other, the order alternating between repeats;
the figure per side is the best of `--repeats` (the least disturbed by other jobs on a shared
machine). samples/s = training samples x epochs / wall time of the whole call (preparation and
validation included), after an untimed warm-up call of each on a few samples (imports and
first-call set-up); ratio = library samples/s / plain samples/s (> 1: the library is
faster). The per-epoch losses of both are compared: the same seed must give the same numbers.

`--experiments` also times variants of the plain loop that the library does not use by default,
each against the fp32 plain loop in the same run, with the largest relative difference of the
losses: bf16 autocast, `torch.compile` (compile time included: the first epoch pays it),
channels-last for the 2D models, and AdamW's fused CPU kernel.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from gaitgrf import models
from gaitgrf.core.samples import STATIC_GROUPS, SampleSet
from gaitgrf.models.base import ModelSpec
from gaitgrf.training.normalisation import Normaliser

LIGHT = ("mlp", "cnn1d", "cnn2d", "lstm", "bilstm", "gru", "cnn1d_lstm", "cnn2d_lstm")
CHANNELS, LENGTH = 21, 101
STATIC = STATIC_GROUPS["knee_alignment"] + STATIC_GROUPS["affected_side"]
STATIC += STATIC_GROUPS["stance_side"]
SEED = 7


def synthetic_set(n: int, folder: Path) -> SampleSet:
    """`n` random samples (20 per subject) with memory-mapped inputs and targets."""
    rng = np.random.default_rng(SEED)
    np.save(folder / "inputs.npy", rng.normal(size=(n, CHANNELS, LENGTH)).astype(np.float32))
    np.save(folder / "targets.npy", rng.normal(size=(n, 3, LENGTH)).astype(np.float32))
    static = rng.integers(0, 2, size=(n, len(STATIC))).astype(np.float32)
    static[:, :2] = rng.normal(0, 5, size=(n, 2))
    static[rng.random(n) < 0.1, :2] = np.nan  # unknown alignment: missing indicators
    subjects = np.array([f"S{i // 20:04d}" for i in range(n)])
    return SampleSet(
        layout="stance",
        rate_hz=float(LENGTH),
        channels=tuple(f"ch{i:02d}" for i in range(CHANNELS)),
        inputs=np.load(folder / "inputs.npy", mmap_mode="r"),
        targets=np.load(folder / "targets.npy", mmap_mode="r"),
        static_names=STATIC,
        static=static,
        subject_id=subjects,
        cohort_id=np.repeat("bench", n),
        trial_id=np.char.add(subjects, "_T1"),
        side=np.tile(["l", "r"], n // 2 + 1)[:n],
        start_s=np.zeros(n),
        duration_s=np.full(n, 0.7),
    )


def library(samples: SampleSet, arch: str, tr: np.ndarray, va: np.ndarray, epochs: int) -> Any:
    from gaitgrf.training.loop import train_once

    hp = dict(models.get(arch).defaults)
    trained = train_once(
        samples, arch, hp, tr, va, epochs=epochs, patience=0, seed=SEED, threads=None
    )
    return [(e.train_loss, e.val_loss) for e in trained.result.history]


def plain(
    samples: SampleSet,
    arch: str,
    tr: np.ndarray,
    va: np.ndarray,
    epochs: int,
    variant: str = "fp32",
) -> list[tuple[float, float]]:
    """The obvious loop; `variant` switches one CPU speed-up on (see --experiments)."""
    hp = dict(models.get(arch).defaults)
    normaliser = Normaliser.fit(samples, tr)
    x_tr, s_tr = normaliser.transform(samples.take(tr))
    x_va, s_va = normaliser.transform(samples.take(va))
    y_tr = torch.as_tensor(np.asarray(samples.targets[tr]))
    y_va = torch.as_tensor(np.asarray(samples.targets[va]))
    train = TensorDataset(torch.as_tensor(x_tr), torch.as_tensor(s_tr), y_tr)
    val = TensorDataset(torch.as_tensor(x_va), torch.as_tensor(s_va), y_va)
    torch.manual_seed(SEED)
    spec = ModelSpec(channels=x_tr.shape[1], length=x_tr.shape[2], static=s_tr.shape[1])
    model: torch.nn.Module = models.build(arch, spec, hp)
    if variant == "channels_last":
        model = model.to(memory_format=torch.channels_last)
    weights = 1.0 / y_tr.transpose(0, 1).reshape(3, -1).var(dim=1).clamp_min(1e-6)
    weights = weights.view(1, -1, 1)
    torch.manual_seed(SEED)
    loader = DataLoader(
        train,
        batch_size=int(hp["batch_size"]),
        shuffle=True,
        generator=torch.Generator().manual_seed(SEED),
    )
    optimiser = torch.optim.AdamW(
        model.parameters(),
        lr=float(hp["lr"]),
        weight_decay=float(hp["weight_decay"]),
        fused=variant == "fused_adamw" or None,
    )
    step: Callable[..., torch.Tensor] = model
    if variant == "compile":
        step = torch.compile(model)
    autocast = (
        (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if variant == "bf16" else nullcontext
    )
    losses, best, best_state = [], float("inf"), None
    for _ in range(epochs):
        model.train()
        total = 0.0
        for x, s, y in loader:
            with autocast():
                loss = (((step(x, s).float() - y) ** 2) * weights).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(x)
        model.eval()
        val_total = 0.0
        with torch.no_grad():
            for x, s, y in DataLoader(val, batch_size=256):
                with autocast():
                    val_total += ((((step(x, s).float() - y) ** 2) * weights).mean()).item() * len(
                        x
                    )
        losses.append((total / len(train), val_total / len(val)))
        if losses[-1][1] < best:
            best, best_state = losses[-1][1], copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    return losses


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def max_rel_diff(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(np.abs(y), 1e-12)))


def measure(
    samples: SampleSet, arch: str, tr: np.ndarray, va: np.ndarray, args: argparse.Namespace, k: int
) -> dict[str, Any]:
    """Library and plain loop on the same work, `args.repeats` times, in alternating order."""
    runs: dict[str, list[tuple[float, float]]] = {"library": [], "plain": []}
    losses: dict[str, Any] = {}
    sides: dict[str, Callable[[], Any]] = {
        "library": lambda: library(samples, arch, tr, va, args.epochs),
        "plain": lambda: plain(samples, arch, tr, va, args.epochs),
    }
    for fn in (library, plain):  # imports and first-call set-up, off the clock
        fn(samples, arch, tr[:128], va[:64], 1)
    for r in range(args.repeats):
        order = ("library", "plain") if (k + r) % 2 == 0 else ("plain", "library")
        for side in order:
            wall, cpu, losses[side] = timed(sides[side])
            runs[side].append((wall, cpu))
    work = len(tr) * args.epochs
    row: dict[str, Any] = {"architecture": arch}
    for side, times in runs.items():
        row[f"{side}_s"] = [round(w, 3) for w, _ in times]
        row[f"{side}_cpu_s"] = [round(c, 3) for _, c in times]
        row[f"{side}_samples_per_s"] = work / min(w for w, _ in times)
    row["ratio"] = row["library_samples_per_s"] / row["plain_samples_per_s"]
    row["loss_max_rel_diff"] = max_rel_diff(losses["library"], losses["plain"])
    row["library_losses"], row["plain_losses"] = losses["library"], losses["plain"]
    if args.experiments:
        row["experiments"] = experiments(samples, arch, tr, va, args.epochs)
    return row


def experiments(
    samples: SampleSet, arch: str, tr: np.ndarray, va: np.ndarray, epochs: int
) -> dict[str, Any]:
    """Each variant of the plain loop against the fp32 plain loop, timed next to it."""
    variants = ["bf16", "compile", "fused_adamw"]
    if arch in ("cnn2d", "cnn2d_lstm"):
        variants.append("channels_last")
    out: dict[str, Any] = {}
    for variant in variants:
        base_s, _, base = timed(lambda: plain(samples, arch, tr, va, epochs))
        try:
            var_s, _, got = timed(lambda v=variant: plain(samples, arch, tr, va, epochs, v))
        except Exception as exc:  # a variant that does not run here is reported, not fatal
            out[variant] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
            continue
        out[variant] = {
            "speedup": base_s / var_s,
            "seconds": round(var_s, 3),
            "fp32_seconds": round(base_s, 3),
            "loss_max_rel_diff": max_rel_diff(got, base),
        }
    return out


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "load_average_start": [round(v, 2) for v in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Training throughput: library vs plain loop")
    parser.add_argument("--archs", default=",".join(LIGHT), help="comma-separated architectures")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--samples", type=int, default=2048, help="training samples")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--experiments", action="store_true")
    parser.add_argument(
        "--out", type=Path, default=Path("reports/benchmarks/training_throughput.json")
    )
    args = parser.parse_args()
    archs = [a for a in args.archs.split(",") if a]
    for arch in archs:
        models.get(arch)  # unknown names fail before any work
    torch.set_num_threads(args.threads)
    info = machine() | {"threads": args.threads, "epochs": args.epochs, "samples": args.samples}
    rows = []
    with tempfile.TemporaryDirectory(prefix="gaitgrf-throughput-") as tmp:
        n_val = max(64, args.samples // 4)
        samples = synthetic_set(args.samples + n_val, Path(tmp))
        order = np.random.default_rng(SEED).permutation(len(samples))
        tr, va = np.sort(order[: args.samples]), np.sort(order[args.samples :])
        print(f"{'arch':12s} {'library/s':>10s} {'plain/s':>10s} {'ratio':>6s} {'loss diff':>9s}")
        for k, arch in enumerate(archs):
            rows.append(measure(samples, arch, tr, va, args, k))
            r = rows[-1]
            print(
                f"{arch:12s} {r['library_samples_per_s']:10.0f} {r['plain_samples_per_s']:10.0f} "
                f"{r['ratio']:6.2f} {r['loss_max_rel_diff']:9.1e}",
                flush=True,
            )
            for variant, e in r.get("experiments", {}).items():
                print(f"  {variant:14s} " + json.dumps(e))
    info["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": info, "rows": rows}, indent=2) + "\n")
    print(f"load average {info['load_average_start']} -> {info['load_average_end']}")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
