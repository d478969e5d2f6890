"""The one training loop: tuning trials, refits and tests all go through `fit`.

Loss is mean squared error per force component, each divided by that component's variance in
the training targets: the medio-lateral force is ~15x smaller than the vertical one, and a plain
MSE would let the model ignore it. Early stopping watches the validation loss and restores the
best epoch's weights. `on_epoch` sees every epoch's losses and may raise (Optuna pruning).
`train_once` is the one path from samples to a trained network (normalise, build, fit), shared
by tuning trials and refits so that both train exactly alike.

Two optional hooks let a model shape its own training without special cases here: a model
with `param_groups(lr)` gets those optimiser groups (per-group learning rates) instead of one
group of all its parameters, and one with `begin_epoch(epoch)` has it called before every
epoch (e.g. the ImageNet backbones' frozen-backbone warm-up, `gaitgrf.models.image`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from gaitgrf.training.batches import Arrays, BatchReader, arrays, shuffled
from gaitgrf.training.normalisation import Normaliser, sample_positions

if TYPE_CHECKING:
    from gaitgrf.core.samples import SampleSet


@dataclass(frozen=True)
class FitConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-5
    #: Stop after this many epochs without a better validation loss (0: never stop early).
    patience: int = 5
    seed: int = 0
    #: torch threads for this process (None: leave torch's default).
    threads: int | None = None


@dataclass(frozen=True)
class EpochResult:
    epoch: int
    train_loss: float
    val_loss: float | None
    seconds: float


@dataclass
class FitResult:
    history: list[EpochResult] = field(default_factory=list)
    best_epoch: int = -1
    best_val_loss: float = float("inf")
    stopped_early: bool = False

    @property
    def seconds(self) -> float:
        return sum(e.seconds for e in self.history)


EpochCallback = Callable[[EpochResult], None]


def dataset(inputs: np.ndarray, static: np.ndarray, targets: np.ndarray) -> Arrays:
    """Training or validation data from standardised arrays (memory maps are read per batch)."""
    return arrays(inputs, static, targets)


def standardised_rows(samples: SampleSet, normaliser: Normaliser, index: np.ndarray) -> Arrays:
    """The samples at `index`, standardised batch by batch as they are read (no copy of the
    inputs: `samples` may hold memory maps); the same numbers as `normaliser.transform`."""
    normaliser.check(samples)
    rows = sample_positions(index, len(samples))
    shift, scale = normaliser.input_affine()
    static = normaliser.transform_static(np.asarray(samples.static)[rows])
    return Arrays(samples.inputs, static, samples.targets, rows=rows, shift=shift, scale=scale)


class WeightedMSE(nn.Module):
    """MSE with one weight per force component (B, 3, T)."""

    weights: torch.Tensor

    def __init__(self, weights: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("weights", weights.view(1, -1, 1))

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss: torch.Tensor = ((pred - target) ** 2 * self.weights).mean()
        return loss


def component_weights(targets: torch.Tensor) -> torch.Tensor:
    """1 / variance of each component over the training targets (guarded against zero)."""
    var = targets.transpose(0, 1).reshape(targets.shape[1], -1).var(dim=1)
    return 1.0 / var.clamp_min(1e-6)


def _run_epoch(
    model: nn.Module,
    batches: Iterator[tuple[torch.Tensor, ...]],
    loss_fn: nn.Module,
    optimiser: torch.optim.Optimizer | None,
) -> float:
    training = optimiser is not None
    model.train(training)
    total, count = 0.0, 0
    with torch.set_grad_enabled(training):
        for x, s, y in batches:
            loss = loss_fn(model(x, s), y)
            if optimiser is not None:
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
            total += float(loss.detach()) * x.shape[0]
            count += x.shape[0]
    return total / max(count, 1)


def fit(
    model: nn.Module,
    train: Arrays,
    val: Arrays | None,
    cfg: FitConfig,
    on_epoch: EpochCallback | None = None,
) -> FitResult:
    """Train `model` in place; with `val`, keep the weights of the best validation epoch."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    reader = BatchReader(train, cfg.batch_size)
    val_reader = BatchReader(val, 256) if val is not None else None
    loss_fn = WeightedMSE(component_weights(train.all_targets()))
    # A model may ask for its own optimiser groups (an ImageNet backbone at its own rate) and
    # be told when an epoch starts (its frozen warm-up): the two hooks of docs/models.md.
    groups = getattr(model, "param_groups", None)
    params = groups(cfg.lr) if callable(groups) else model.parameters()
    # foreach: one multi-tensor call per update step instead of ~6 kernel launches per parameter
    # tensor (torch's CPU default); bit-identical results, the step 2-3x faster on CPU.
    optimiser = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    begin_epoch = getattr(model, "begin_epoch", None)
    result = FitResult()
    best_state = None
    for epoch in range(cfg.epochs):
        start = time.perf_counter()
        if callable(begin_epoch):
            begin_epoch(epoch)
        order = shuffled(len(train), generator)
        train_loss = _run_epoch(model, reader.batches(order), loss_fn, optimiser)
        val_loss = _run_epoch(model, val_reader.batches(), loss_fn, None) if val_reader else None
        outcome = EpochResult(epoch, train_loss, val_loss, time.perf_counter() - start)
        result.history.append(outcome)
        if val_loss is not None and val_loss < result.best_val_loss:
            result.best_val_loss, result.best_epoch = val_loss, epoch
            best_state = copy.deepcopy(model.state_dict())
        if on_epoch is not None:
            on_epoch(outcome)
        if cfg.patience and val_loss is not None and epoch - result.best_epoch >= cfg.patience:
            result.stopped_early = True
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return result


def predict(
    model: nn.Module, inputs: np.ndarray, static: np.ndarray, batch: int = 256
) -> np.ndarray:
    """Forces (N, 3, T) in body weights, in evaluation mode."""
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, inputs.shape[0], batch):
            x = torch.as_tensor(inputs[i : i + batch], dtype=torch.float32)
            s = torch.as_tensor(static[i : i + batch], dtype=torch.float32)
            out.append(model(x, s).numpy())
    return np.concatenate(out) if out else np.zeros((0, 3, inputs.shape[-1]), np.float32)


def fit_config(
    hp: Mapping[str, Any],
    *,
    epochs: int,
    patience: int,
    seed: int,
    threads: int | None,
    lr_factor: float = 1.0,
) -> FitConfig:
    """The loop's settings from a model's hyperparameters (batch size, learning rate x
    `lr_factor`, weight decay): one reading of `hp` for training and fine-tuning alike."""
    return FitConfig(
        epochs=epochs,
        batch_size=int(hp["batch_size"]),
        lr=float(hp["lr"]) * lr_factor,
        weight_decay=float(hp["weight_decay"]),
        patience=patience,
        seed=seed,
        threads=threads,
    )


@dataclass
class Trained:
    network: nn.Module
    normaliser: Normaliser
    result: FitResult


def train_once(
    samples: SampleSet,
    arch: str,
    hp: Mapping[str, Any],
    train_idx: np.ndarray,
    val_idx: np.ndarray | None,
    *,
    epochs: int,
    patience: int,
    seed: int,
    threads: int | None,
    on_epoch: Callable[[EpochResult], None] | None = None,
) -> Trained:
    """Normalise on `train_idx` only, build `arch` with `hp`, fit; the one path for all training."""
    from gaitgrf import models
    from gaitgrf.models.base import ModelSpec

    normaliser = Normaliser.fit(samples, train_idx)
    train = standardised_rows(samples, normaliser, train_idx)
    _, channels, length = samples.inputs.shape
    spec = ModelSpec(channels=channels, length=length, static=train.static.shape[1])
    torch.manual_seed(seed)
    network = models.build(arch, spec, hp)
    val = standardised_rows(samples, normaliser, val_idx) if val_idx is not None else None
    cfg = fit_config(hp, epochs=epochs, patience=patience, seed=seed, threads=threads)
    result = fit(network, train, val, cfg, on_epoch)
    return Trained(network=network, normaliser=normaliser, result=result)
