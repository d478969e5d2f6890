"""What every architecture shares: the input/output contract, fusion of subject features, heads.

A model maps dynamic inputs `x` (B, C, T) and static subject features `s` (B, S) to the ground
reaction force `y` (B, 3, T). `S` is 0 in the `base` condition: every fusion mode then reduces to
the signal-only network, so both conditions train the same architecture.

Fusion modes (`fusion` hyperparameter, searched by Optuna where an architecture allows several):
* `late`: static features are concatenated to the representation that feeds the output head.
* `early`: static features are broadcast over time and appended as constant input channels.
* `hidden`: (recurrent models) static features initialise the recurrent hidden state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

FUSION_MODES = ("late", "early", "hidden")
N_OUTPUTS = 3


@dataclass(frozen=True)
class ModelSpec:
    """Shapes a model is built for (from the fused data)."""

    channels: int
    length: int
    static: int
    outputs: int = N_OUTPUTS


class SearchTrial(Protocol):
    """The part of `optuna.Trial` a search space uses (FixedTrial and Trial both fit)."""

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int: ...

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


@dataclass(frozen=True)
class Architecture:
    """One registered architecture: how to build it and what Optuna may search."""

    name: str
    build: Callable[[ModelSpec, Mapping[str, Any]], nn.Module]
    search_space: Callable[[SearchTrial], dict[str, Any]]
    #: A sensible hyperparameter set (used by tests, benchmarks and as Optuna's first trial).
    defaults: Mapping[str, Any]
    #: Fusion modes this architecture supports.
    fusions: tuple[str, ...] = ("late", "early")
    #: Pretrained image backbone (ResNet50, Inception): input mapped to an image.
    image_backbone: bool = False


def training_space(trial: SearchTrial) -> dict[str, Any]:
    """Optimiser hyperparameters every architecture searches."""
    return {
        "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True),
        "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
    }


def broadcast_static(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Early fusion: (B, C, T) + (B, S) -> (B, C + S, T)."""
    if s.shape[1] == 0:
        return x
    return torch.cat([x, s.unsqueeze(-1).expand(-1, -1, x.shape[-1])], dim=1)


class SequenceHead(nn.Module):
    """Per-time-step output layer on a (B, H, T') representation, with optional late fusion.

    The representation is resized to the target length when a network shortened time, and
    static features (late fusion) are appended to every time step before a small per-step MLP.
    """

    def __init__(self, hidden: int, static: int, length: int, outputs: int, *, late: bool) -> None:
        super().__init__()
        self.length = length
        self.late = late and static > 0
        width = hidden + (static if self.late else 0)
        self.mlp = nn.Sequential(
            nn.Conv1d(width, hidden, kernel_size=1), nn.GELU(), nn.Conv1d(hidden, outputs, 1)
        )

    def forward(self, h: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        if h.shape[-1] != self.length:
            h = nn.functional.interpolate(h, size=self.length, mode="linear", align_corners=False)
        if self.late:
            h = broadcast_static(h, s)
        out: torch.Tensor = self.mlp(h)
        return out


class VectorHead(nn.Module):
    """Output layer on a flat (B, F) representation: a dense layer to the 3 x T waveform."""

    def __init__(
        self, features: int, static: int, length: int, outputs: int, *, late: bool
    ) -> None:
        super().__init__()
        self.late = late and static > 0
        self.length = length
        self.outputs = outputs
        self.linear = nn.Linear(features + (static if self.late else 0), outputs * length)

    def forward(self, f: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        if self.late:
            f = torch.cat([f, s], dim=1)
        out: torch.Tensor = self.linear(f)
        return out.view(-1, self.outputs, self.length)


def input_channels(spec: ModelSpec, fusion: str) -> int:
    """Channels the first layer sees: early fusion appends the static features."""
    return spec.channels + (spec.static if fusion == "early" else 0)


def check_fusion(name: str, fusion: str, allowed: tuple[str, ...]) -> None:
    if fusion not in allowed:
        raise ValueError(f"{name}: fusion {fusion!r} not supported (choose from {allowed})")
