"""2D CNN: the channel x time matrix as a one-plane image.

Kernels span neighbouring channels as well as time, so sensors next to each other in the
channel order (the three axes of one accelerometer, the three planes of one joint) are read
together. No recurrence: the comparison with cnn2d_lstm isolates what the LSTM adds.
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
from gaitgrf.models.conv import ChannelImage

FUSIONS = ("late", "early")


class Cnn2d(nn.Module):
    def __init__(self, spec: ModelSpec, hp: Mapping[str, Any]) -> None:
        super().__init__()
        check_fusion("cnn2d", hp["fusion"], FUSIONS)
        self.early = hp["fusion"] == "early"
        self.image = ChannelImage(input_channels(spec, hp["fusion"]), hp)
        self.head = SequenceHead(
            self.image.features, spec.static, spec.length, spec.outputs, late=not self.early
        )

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        if self.early:
            x = broadcast_static(x, s)
        out: torch.Tensor = self.head(self.image(x), s)
        return out


def search_space(trial: SearchTrial) -> dict[str, Any]:
    return {
        "conv_layers": trial.suggest_int("conv_layers", 1, 3),
        "filters": trial.suggest_categorical("filters", [8, 16, 32]),
        "kernel_c": trial.suggest_categorical("kernel_c", [3, 5]),
        "kernel_t": trial.suggest_categorical("kernel_t", [3, 5, 7]),
        "dropout": trial.suggest_float("dropout", 0.0, 0.4),
        "fusion": trial.suggest_categorical("fusion", list(FUSIONS)),
        **training_space(trial),
    }


DEFAULTS: dict[str, Any] = {
    "conv_layers": 2,
    "filters": 16,
    "kernel_c": 3,
    "kernel_t": 5,
    "dropout": 0.1,
    "fusion": "late",
    "lr": 2e-3,
    "weight_decay": 1e-5,
    "batch_size": 64,
}

ARCHITECTURE = Architecture("cnn2d", Cnn2d, search_space, DEFAULTS, FUSIONS)
