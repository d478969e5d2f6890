"""A recurrent core shared by lstm, bilstm, gru and the CNN-LSTM hybrids.

It owns the one fusion mode only recurrent networks have: `hidden`, where the static subject
features set the initial hidden (and cell) state through a learned linear map, so the network
starts every sequence "knowing" the subject.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from gaitgrf.models.base import (
    ModelSpec,
    SearchTrial,
    SequenceHead,
    broadcast_static,
    input_channels,
    training_space,
)


class RecurrentCore(nn.Module):
    """(B, F, T) -> (B, H * directions, T)."""

    def __init__(
        self,
        features: int,
        hidden: int,
        layers: int,
        *,
        cell: str = "lstm",
        bidirectional: bool = False,
        dropout: float = 0.0,
        static: int = 0,
        init_from_static: bool = False,
    ) -> None:
        super().__init__()
        kinds = {"lstm": nn.LSTM, "gru": nn.GRU}
        if cell not in kinds:
            raise ValueError(f"cell {cell!r} not in {sorted(kinds)}")
        self.cell = cell
        self.layers = layers
        self.hidden = hidden
        self.directions = 2 if bidirectional else 1
        self.rnn = kinds[cell](
            features,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        states = layers * self.directions * hidden
        self.init = (
            nn.Linear(static, states * (2 if cell == "lstm" else 1))
            if init_from_static and static > 0
            else None
        )

    @property
    def out_features(self) -> int:
        return self.hidden * self.directions

    def _initial_state(
        self, s: torch.Tensor
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None:
        if self.init is None:
            return None
        batch = s.shape[0]
        shape = (batch, self.layers * self.directions, self.hidden)
        states = torch.tanh(self.init(s))
        if self.cell == "lstm":
            h, c = states.chunk(2, dim=1)
            return (
                h.reshape(shape).transpose(0, 1).contiguous(),
                c.reshape(shape).transpose(0, 1).contiguous(),
            )
        return states.reshape(shape).transpose(0, 1).contiguous()

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x.transpose(1, 2), self._initial_state(s))
        result: torch.Tensor = out.transpose(1, 2)
        return result


class RecurrentNet(nn.Module):
    """[frontend ->] recurrent core -> per-step head: lstm, bilstm, gru and the CNN-LSTM hybrids.

    The optional `frontend` maps the (early-fused) input (B, C, T) to (B, F, T) features, e.g.
    convolutions; without one the recurrent core reads the input channels directly.
    """

    def __init__(
        self,
        spec: ModelSpec,
        hp: Mapping[str, Any],
        *,
        cell: str = "lstm",
        bidirectional: bool = False,
        layers: int | None = None,
        frontend: nn.Module | None = None,
        features: int | None = None,
    ) -> None:
        super().__init__()
        self.early = hp["fusion"] == "early"
        self.frontend = frontend if frontend is not None else nn.Identity()
        self.rnn = RecurrentCore(
            features if features is not None else input_channels(spec, hp["fusion"]),
            hp["hidden"],
            layers if layers is not None else hp["layers"],
            cell=cell,
            bidirectional=bidirectional,
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
        out: torch.Tensor = self.head(self.rnn(self.frontend(x), s), s)
        return out


RECURRENT_FUSIONS = ("late", "early", "hidden")


def recurrent_space(trial: SearchTrial) -> dict[str, Any]:
    return {
        "hidden": trial.suggest_categorical("hidden", [32, 64, 128]),
        "layers": trial.suggest_int("layers", 1, 2),
        "dropout": trial.suggest_float("dropout", 0.0, 0.4),
        "fusion": trial.suggest_categorical("fusion", list(RECURRENT_FUSIONS)),
        **training_space(trial),
    }


RECURRENT_DEFAULTS: dict[str, Any] = {
    "hidden": 64,
    "layers": 1,
    "dropout": 0.1,
    "fusion": "late",
    "lr": 2e-3,
    "weight_decay": 1e-5,
    "batch_size": 64,
}
