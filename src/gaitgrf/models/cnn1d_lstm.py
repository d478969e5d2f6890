"""1D-CNN-LSTM: temporal convolutions extract local features, an LSTM models their sequence.

The 1D counterpart of the study's winning hybrid: comparing the two isolates what 2D kernels
over neighbouring channels add.
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
from gaitgrf.models.conv import conv1d_blocks
from gaitgrf.models.recurrent import RecurrentNet

FUSIONS = ("late", "early", "hidden")


class Cnn1dLstm(RecurrentNet):
    def __init__(self, spec: ModelSpec, hp: Mapping[str, Any]) -> None:
        check_fusion("cnn1d_lstm", hp["fusion"], FUSIONS)
        frontend = conv1d_blocks(
            input_channels(spec, hp["fusion"]),
            hp["filters"],
            hp["conv_layers"],
            hp["kernel"],
            hp["dropout"],
        )
        features = hp["filters"] * 2 ** (hp["conv_layers"] - 1)
        super().__init__(spec, hp, layers=hp["rnn_layers"], frontend=frontend, features=features)


def search_space(trial: SearchTrial) -> dict[str, Any]:
    return {
        "conv_layers": trial.suggest_int("conv_layers", 1, 3),
        "filters": trial.suggest_categorical("filters", [16, 32, 64]),
        "kernel": trial.suggest_categorical("kernel", [3, 5, 7]),
        "hidden": trial.suggest_categorical("hidden", [32, 64, 128]),
        "rnn_layers": trial.suggest_int("rnn_layers", 1, 2),
        "dropout": trial.suggest_float("dropout", 0.0, 0.4),
        "fusion": trial.suggest_categorical("fusion", list(FUSIONS)),
        **training_space(trial),
    }


DEFAULTS: dict[str, Any] = {
    "conv_layers": 2,
    "filters": 32,
    "kernel": 5,
    "hidden": 64,
    "rnn_layers": 1,
    "dropout": 0.1,
    "fusion": "late",
    "lr": 2e-3,
    "weight_decay": 1e-5,
    "batch_size": 64,
}

ARCHITECTURE = Architecture("cnn1d_lstm", Cnn1dLstm, search_space, DEFAULTS, FUSIONS)
