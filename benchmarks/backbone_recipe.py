"""Does the ImageNet backbones' few-sample recipe train? Validation loss, before and after.

    python benchmarks/backbone_recipe.py [--arch resnet50] [--epochs 3] [--train 300] [--val 200]

On a small stance-shaped set (the test factory's learnable input -> force relation, widened to
the stance layout's 33 channels x 101 points, subjects split train / validation), each variant
of the backbone is trained `--epochs` epochs through the one training loop
(`gaitgrf.training.loop.train_once`) from the same seed, and its validation loss (the loop's
variance-weighted MSE) is reported against two baselines measured in the same run: the same
network untrained, and the training subjects' mean waveform (what a network that learnt
nothing from its inputs would predict; loss about 1). Variants: torchvision's plain recipe as
before (train-mode BatchNorm, one learning rate, no warm-up) and the recipe's defaults
(`norm: auto`, `warmup_epochs: 1`, `backbone_lr_factor: 0.1`). Also the seconds per epoch of
each (wall, and CPU seconds of the one torch thread used: a shared machine's load inflates
the first, hardly the second), and of one light architecture (`--light`) for the
study-profile time estimate in docs/tuning.md. Writes reports/benchmarks/backbone_recipe.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

from benchmarks.orchestration import widen  # noqa: E402
from gaitgrf import models  # noqa: E402
from gaitgrf.models.base import ModelSpec  # noqa: E402
from gaitgrf.training.loop import WeightedMSE, component_weights, train_once  # noqa: E402
from gaitgrf.training.normalisation import Normaliser  # noqa: E402
from tests.sample_factory import make_samples  # noqa: E402

#: torchvision's recipe before issue 15: train-mode BatchNorm, one learning rate, no warm-up.
BEFORE = {"norm": "batch_norm", "warmup_epochs": 0, "backbone_lr_factor": 1.0}
VARIANTS: dict[str, dict[str, Any]] = {"before (torchvision BN, one lr)": BEFORE, "recipe": {}}


def split(n_subjects: int, per_subject: int, train: int) -> tuple[np.ndarray, np.ndarray]:
    """Subject-wise: the first subjects' samples train, the rest validate."""
    cut = -(-train // per_subject) * per_subject
    index = np.arange(n_subjects * per_subject)
    return index[:cut], index[cut:]


def losses_of(samples: Any, arch: str, hp: dict[str, Any], tr: np.ndarray, va: np.ndarray) -> dict:
    """Untrained and mean-waveform validation losses, with the loop's weighting."""
    normaliser = Normaliser.fit(samples, tr)
    x_va, s_va = normaliser.transform(samples.take(va))
    spec = ModelSpec(channels=x_va.shape[1], length=x_va.shape[2], static=s_va.shape[1])
    y_tr = torch.as_tensor(samples.targets[tr])
    y_va = torch.as_tensor(samples.targets[va])
    loss = WeightedMSE(component_weights(y_tr))
    torch.manual_seed(0)  # the seed train_once builds with
    network = models.build(arch, spec, hp).eval()
    with torch.no_grad():
        pred = network(torch.as_tensor(x_va), torch.as_tensor(s_va))
        mean = y_tr.mean(dim=0, keepdim=True).expand_as(y_va)
        return {"untrained": float(loss(pred, y_va)), "mean_waveform": float(loss(mean, y_va))}


def run(
    arch: str, hp: dict[str, Any], samples: Any, tr: np.ndarray, va: np.ndarray, epochs: int
) -> dict:
    start, cpu = time.perf_counter(), time.process_time()
    marks = [cpu]

    def mark(_: Any) -> None:
        marks.append(time.process_time())

    trained = train_once(
        samples, arch, hp, tr, va, epochs=epochs, patience=0, seed=0, threads=1, on_epoch=mark
    )
    history = trained.result.history
    return {
        "hp": hp,
        "val_loss": [e.val_loss for e in history],
        "train_loss": [e.train_loss for e in history],
        "epoch_s": [round(e.seconds, 2) for e in history],
        "seconds": round(time.perf_counter() - start, 1),
        # One thread: CPU seconds per sample hold on a loaded machine, wall seconds do not.
        "cpu_s": round(time.process_time() - cpu, 1),
        "epoch_cpu_s": [round(b - a, 2) for a, b in itertools.pairwise(marks)],
        **losses_of(samples, arch, hp, tr, va),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--light", default="gru", help="light architecture timed alongside")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train", type=int, default=300)
    parser.add_argument("--val", type=int, default=200)
    parser.add_argument("--per-subject", type=int, default=25)
    parser.add_argument(
        "--out", type=Path, default=REPO / "reports/benchmarks/backbone_recipe.json"
    )
    args = parser.parse_args()
    per = args.per_subject
    subjects = -(-args.train // per) + -(-args.val // per)
    base, _ = make_samples(subjects=subjects, per_subject=per, length=101)
    samples = widen(base, 33)
    tr, va = split(subjects, per, args.train)
    result: dict[str, Any] = {
        "machine": f"{os.cpu_count()} CPU cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
        "arch": args.arch,
        "train_samples": len(tr),
        "val_samples": len(va),
        "epochs": args.epochs,
        "variants": {},
    }
    for name, changes in VARIANTS.items():
        hp = {**models.get(args.arch).defaults, **changes}
        result["variants"][name] = out = run(args.arch, hp, samples, tr, va, args.epochs)
        print(
            f"{args.arch} {name}: untrained {out['untrained']:.3f}, mean waveform "
            f"{out['mean_waveform']:.3f}, val {[round(v, 3) for v in out['val_loss']]}, "
            f"epochs {out['epoch_s']} s wall, {out['epoch_cpu_s']} s CPU",
            flush=True,
        )
    light = run(args.light, dict(models.get(args.light).defaults), samples, tr, va, args.epochs)
    result["light"] = {"arch": args.light, **light}
    print(
        f"{args.light}: val {[round(v, 3) for v in light['val_loss']]}, "
        f"epochs {light['epoch_s']} s wall, {light['epoch_cpu_s']} s CPU",
        flush=True,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
