"""ONNX export of the model zoo: parity with PyTorch and CPU latency, onnxruntime vs PyTorch.

    python benchmarks/export_onnx.py [--archs mlp,cnn1d,...] [--repeats 30] [--threads 1]
                                     [--out reports/benchmarks/export_onnx.json]

For each architecture at its default hyperparameters (stance layout: 33 channels x 101 points,
`subject` condition: 8 static features, 2 of them with missing indicators; weights random, a
fitted-like normaliser), `gaitgrf.serving.onnx_export.export_onnx` writes the raw-input graph
(normalisation folded in) and checks it against `GrfPredictor.predict_arrays`. Latency is the
median over `--repeats` runs of the same raw-input computation: onnxruntime `session.run` vs the
PyTorch module `raw_input_module` under `torch.inference_mode`, both on `--threads` threads
(1 = what a wearable's single core sees), at batch 1 and 64. The ratio is PyTorch time / ONNX
time (> 1: onnxruntime faster), measured in the same run on the same machine. Writes JSON and
a Markdown table (same path, .md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gaitgrf import models
from gaitgrf.models.base import ModelSpec
from gaitgrf.pipeline.fuse.features import MAY_BE_MISSING, STATIC_GROUPS
from gaitgrf.predictor import GrfPredictor
from gaitgrf.serving.onnx_export import (
    example_inputs,
    export_onnx,
    onnx_predict,
    raw_input_module,
    session,
)
from gaitgrf.training.normalisation import Normaliser

LIGHT = ("mlp", "cnn1d", "cnn2d", "lstm", "bilstm", "gru", "cnn1d_lstm", "cnn2d_lstm")
CHANNELS = 33
LENGTH = 101
STATIC = tuple(
    n for g in ("knee_alignment", "affected_side", "stance_side") for n in STATIC_GROUPS[g]
)


def predictor(arch: str) -> GrfPredictor:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    missing = tuple(n for n in STATIC if n in MAY_BE_MISSING)
    norm = Normaliser(
        channels=tuple(f"ch{j:02d}" for j in range(CHANNELS)),
        input_mean=rng.normal(0, 5, CHANNELS),
        input_std=rng.uniform(0.5, 10, CHANNELS),
        static_names=STATIC,
        static_mean=rng.normal(0, 1, len(STATIC)),
        static_std=rng.uniform(0.5, 2, len(STATIC)),
        missing_indicators=missing,
        fitted_on=1000,
    )
    spec = ModelSpec(channels=CHANNELS, length=LENGTH, static=len(norm.static_names_out))
    network = models.build(arch, spec, {"pretrained": False})
    network.eval()
    return GrfPredictor(arch, {}, "subject", "stance", norm, LENGTH, network)


def median_ms(fn: Any, repeats: int) -> float:
    fn()  # warm-up (allocations, lazy initialisation)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def measure(arch: str, folder: Path, repeats: int, threads: int) -> dict[str, Any]:
    pred = predictor(arch)
    path = folder / f"{arch}.onnx"
    try:
        result = export_onnx(pred, path)
    except Exception as exc:  # report and go on with the next architecture
        return {"arch": arch, "exported": False, "error": str(exc).splitlines()[0][:300]}
    sess = session(path, threads=threads)
    module = raw_input_module(pred)
    row: dict[str, Any] = {
        "arch": arch,
        "exported": True,
        "exporter": result.exporter,
        "max_abs_diff_bw": result.max_abs_diff,
        "export_s": round(result.seconds, 2),
        "onnx_mb": round(path.stat().st_size / 2**20, 3),
    }
    for batch in (1, 64):
        x, s = example_inputs(pred, batch, seed=batch)
        xt, st = torch.as_tensor(x), torch.as_tensor(s)

        def run_torch(xt: torch.Tensor = xt, st: torch.Tensor = st) -> None:
            with torch.inference_mode():
                module(xt, st)

        def run_onnx(x: np.ndarray = x, s: np.ndarray = s) -> None:
            onnx_predict(sess, x, s)

        t_torch = median_ms(run_torch, repeats)
        t_onnx = median_ms(run_onnx, repeats)
        row[f"torch_ms_b{batch}"] = round(t_torch, 3)
        row[f"onnx_ms_b{batch}"] = round(t_onnx, 3)
        row[f"ratio_b{batch}"] = round(t_torch / t_onnx, 2)
    return row


def markdown(rows: list[dict[str, Any]], threads: int) -> str:
    lines = [
        f"Median latency on {threads} thread(s); ratio = PyTorch / onnxruntime.",
        "",
        "| arch | exporter | max abs diff (BW) | torch b1 ms | onnx b1 ms | ratio b1 | "
        "torch b64 ms | onnx b64 ms | ratio b64 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if not r["exported"]:
            lines.append(f"| {r['arch']} | failed: {r['error']} | | | | | | | |")
            continue
        lines.append(
            f"| {r['arch']} | {r['exporter']} | {r['max_abs_diff_bw']:.1e} | {r['torch_ms_b1']} | "
            f"{r['onnx_ms_b1']} | {r['ratio_b1']} | {r['torch_ms_b64']} | {r['onnx_ms_b64']} | "
            f"{r['ratio_b64']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default=",".join(LIGHT))
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks/export_onnx.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.archs.split(","):
            row = measure(arch, Path(tmp), args.repeats, args.threads)
            print(json.dumps(row), flush=True)
            rows.append(row)
    report = {
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__},
        "threads": args.threads,
        "repeats": args.repeats,
        "shape": {"channels": CHANNELS, "length": LENGTH, "static": len(STATIC)},
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(rows, args.threads)
    args.out.with_suffix(".md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
