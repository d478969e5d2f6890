"""2D-CNN-LSTM: the study's winner.

The channel x time matrix is treated as a one-plane image: 2D convolutions learn patterns that
span neighbouring sensors/angles *and* time, pooling only across channels so that every time
step survives; an LSTM then models the stance as a sequence. Cheap compared with ImageNet
backbones, because the image is small and single-plane.
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
from gaitgrf.models.conv import conv2d_blocks
from gaitgrf.models.recurrent import RecurrentCore

FUSIONS = ("late", "early", "hidden")


class Cnn2dLstm(nn.Module):
    def __init__(self, spec: ModelSpec, hp: Mapping[str, Any]) -> None:
        super().__init__()
        check_fusion("cnn2d_lstm", hp["fusion"], FUSIONS)
        self.early = hp["fusion"] == "early"
        self.conv, planes, rows = conv2d_blocks(
            input_channels(spec, hp["fusion"]),
            hp["filters"],
            hp["conv_layers"],
            hp["kernel_c"],
            hp["kernel_t"],
        )
        self.dropout = nn.Dropout(hp["dropout"])
        self.rnn = RecurrentCore(
            planes * rows,
            hp["hidden"],
            hp["rnn_layers"],
            dropout=hp["dropout"],
            static=spec.static,
            init_from_static=hp["fusion"] == "hidden",
        )
        self.head = SequenceHead(
            self.rnn.out_features,
            spec.static,
            spec.length,
            spec.outputs,
            late=hp["fusion"] == "late",
        )

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        if self.early:
            x = broadcast_static(x, s)
        z = self.conv(x.unsqueeze(1))  # (B, F, C', T)
        z = self.dropout(z.flatten(1, 2))  # (B, F * C', T)
        out: torch.Tensor = self.head(self.rnn(z, s), s)
        return out


def search_space(trial: SearchTrial) -> dict[str, Any]:
    return {
        "conv_layers": trial.suggest_int("conv_layers", 1, 3),
        "filters": trial.suggest_categorical("filters", [8, 16, 32]),
        "kernel_c": trial.suggest_categorical("kernel_c", [3, 5]),
        "kernel_t": trial.suggest_categorical("kernel_t", [3, 5, 7]),
        "hidden": trial.suggest_categorical("hidden", [32, 64, 128]),
        "rnn_layers": trial.suggest_int("rnn_layers", 1, 2),
        "dropout": trial.suggest_float("dropout", 0.0, 0.4),
        "fusion": trial.suggest_categorical("fusion", list(FUSIONS)),
        **training_space(trial),
    }


DEFAULTS: dict[str, Any] = {
    "conv_layers": 2,
    "filters": 16,
    "kernel_c": 3,
    "kernel_t": 5,
    "hidden": 64,
    "rnn_layers": 1,
    "dropout": 0.1,
    "fusion": "late",
    "lr": 2e-3,
    "weight_decay": 1e-5,
    "batch_size": 64,
}

ARCHITECTURE = Architecture("cnn2d_lstm", Cnn2dLstm, search_space, DEFAULTS, FUSIONS)
