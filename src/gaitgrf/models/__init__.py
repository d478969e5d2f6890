"""The model zoo: ten architectures behind one explicit registry.

Each architecture lives in its own module, which defines `ARCHITECTURE` (an
`gaitgrf.models.base.Architecture`: builder, Optuna search space, defaults, fusion modes).
Modules are imported on first use, so `import gaitgrf.models` does not import torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from gaitgrf.models.base import Architecture, ModelSpec

#: name -> module. The order is the study's: dense, convolutional, recurrent, hybrids, ImageNet.
REGISTRY: dict[str, str] = {
    "mlp": "gaitgrf.models.mlp",
    "cnn1d": "gaitgrf.models.cnn1d",
    "cnn2d": "gaitgrf.models.cnn2d",
    "lstm": "gaitgrf.models.lstm",
    "bilstm": "gaitgrf.models.bilstm",
    "gru": "gaitgrf.models.gru",
    "cnn1d_lstm": "gaitgrf.models.cnn1d_lstm",
    "cnn2d_lstm": "gaitgrf.models.cnn2d_lstm",
    "resnet50": "gaitgrf.models.resnet50",
    "inception_v3": "gaitgrf.models.inception_v3",
}


class UnknownArchitectureError(KeyError):
    def __str__(self) -> str:
        return f"unknown architecture {self.args[0]!r}; registered: {', '.join(REGISTRY)}"


def get(name: str) -> Architecture:
    if name not in REGISTRY:
        raise UnknownArchitectureError(name)
    arch: Architecture = importlib.import_module(REGISTRY[name]).ARCHITECTURE
    if arch.name != name:
        raise RuntimeError(f"{REGISTRY[name]} registers {arch.name!r}, expected {name!r}")
    return arch


def build(name: str, spec: ModelSpec, hp: Mapping[str, Any] | None = None) -> nn.Module:
    """Build `name` for `spec` with hyperparameters `hp` (defaults where not given)."""
    arch = get(name)
    return arch.build(spec, {**arch.defaults, **(hp or {})})
