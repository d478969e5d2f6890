"""MLP: the dense baseline (Mundt et al. 2020 predicted GRF from joint angles with one).

No notion of time or of neighbouring channels: every input sample is a separate feature. It
shows how much the structured architectures add over plain capacity.
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
    VectorHead,
    check_fusion,
    training_space,
)

FUSIONS = ("late", "early")


class Mlp(nn.Module):
    def __init__(self, spec: ModelSpec, hp: Mapping[str, Any]) -> None:
        super().__init__()
        check_fusion("mlp", hp["fusion"], FUSIONS)
        self.early = hp["fusion"] == "early"
        width = spec.channels * spec.length + (spec.static if self.early else 0)
        layers: list[nn.Module] = []
        for _ in range(hp["layers"]):
            layers += [nn.Linear(width, hp["width"]), nn.GELU(), nn.Dropout(hp["dropout"])]
            width = hp["width"]
        self.body = nn.Sequential(*layers)
        self.head = VectorHead(width, spec.static, spec.length, spec.outputs, late=not self.early)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        f = x.flatten(1)
        if self.early and s.shape[1]:
            f = torch.cat([f, s], dim=1)
        out: torch.Tensor = self.head(self.body(f), s)
        return out


def search_space(trial: SearchTrial) -> dict[str, Any]:
    return {
        "layers": trial.suggest_int("layers", 1, 3),
        "width": trial.suggest_categorical("width", [64, 128, 256]),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        "fusion": trial.suggest_categorical("fusion", list(FUSIONS)),
        **training_space(trial),
    }


DEFAULTS: dict[str, Any] = {
    "layers": 2,
    # The first layer dominates (C x T = 3,333 inputs per unit), so the default is ~480k
    # parameters, more than the other small models; width 64 (~240k) learns too slowly to pass
    # the conformance overfit check (30 steps). The search's top (3 x 256) is ~1.1M.
    "width": 128,
    "dropout": 0.1,
    "fusion": "late",
    "lr": 1e-3,
    "weight_decay": 1e-5,
    "batch_size": 64,
}

ARCHITECTURE = Architecture("mlp", Mlp, search_space, DEFAULTS, FUSIONS)
