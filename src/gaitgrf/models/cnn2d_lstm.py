"""2D-CNN-LSTM: the study's winner.

The channel x time matrix is treated as a one-plane image: 2D convolutions learn patterns that
span neighbouring sensors/angles *and* time, pooling only across channels so that every time
step survives; an LSTM then models the stance as a sequence. Cheap compared with ImageNet
backbones, because the image is small and single-plane.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gaitgrf.models.base import (
    Architecture,
    ModelSpec,
    SearchTrial,
    check_fusion,
    input_channels,
    training_space,
)
from gaitgrf.models.conv import ChannelImage
from gaitgrf.models.recurrent import RecurrentNet

FUSIONS = ("late", "early", "hidden")


class Cnn2dLstm(RecurrentNet):
    def __init__(self, spec: ModelSpec, hp: Mapping[str, Any]) -> None:
        check_fusion("cnn2d_lstm", hp["fusion"], FUSIONS)
        frontend = ChannelImage(input_channels(spec, hp["fusion"]), hp)
        super().__init__(
            spec, hp, layers=hp["rnn_layers"], frontend=frontend, features=frontend.features
        )


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
