"""1D CNN: temporal convolutions across all channels (Johnson et al. 2021 used CNNs on
accelerometers). Local patterns in time, every sensor mixed from the first layer.

Time resolution is kept ('same' padding, odd kernels, no pooling), so the per-step head needs no
resampling; the receptive field grows with depth and kernel size instead (4 blocks of kernel 9
see 33 of the 101 points). Width doubles per block.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from gaitgrf.models.base import (
    Architecture,
    ModelSpec,
    SearchTrial,
    SequenceHead,
    broadcast_static,
    check_fusion,
    input_channels,
    training_space,
)
from gaitgrf.models.conv import conv1d_blocks

FUSIONS = ("late", "early")


class Cnn1d(nn.Module):
    def __init__(self, spec: ModelSpec, hp: Mapping[str, Any]) -> None:
        super().__init__()
        check_fusion("cnn1d", hp["fusion"], FUSIONS)
        self.early = hp["fusion"] == "early"
        self.conv = conv1d_blocks(
            input_channels(spec, hp["fusion"]),
            hp["filters"],
            hp["layers"],
            hp["kernel"],
            hp["dropout"],
        )
        width = hp["filters"] * 2 ** (hp["layers"] - 1)
        self.head = SequenceHead(width, spec.static, spec.length, spec.outputs, late=not self.early)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        if self.early:
            x = broadcast_static(x, s)
        out: torch.Tensor = self.head(self.conv(x), s)
        return out


def search_space(trial: SearchTrial) -> dict[str, Any]:
    return {
        "layers": trial.suggest_int("layers", 2, 4),
        "filters": trial.suggest_categorical("filters", [16, 32, 64]),
        "kernel": trial.suggest_categorical("kernel", [3, 5, 7, 9]),
        "dropout": trial.suggest_float("dropout", 0.0, 0.4),
        "fusion": trial.suggest_categorical("fusion", list(FUSIONS)),
        **training_space(trial),
    }


DEFAULTS: dict[str, Any] = {
    "layers": 3,
    "filters": 32,
    "kernel": 7,
    "dropout": 0.1,
    "fusion": "late",
    "lr": 2e-3,
    "weight_decay": 1e-5,
    "batch_size": 64,
}

ARCHITECTURE = Architecture("cnn1d", Cnn1d, search_space, DEFAULTS, FUSIONS)
