"""Convolution blocks shared by the CNN architectures (time resolution is always kept)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn


def conv1d_blocks(
    channels: int, filters: int, layers: int, kernel: int, dropout: float
) -> nn.Sequential:
    """Temporal convolutions over all channels; width doubles per block, time length kept."""
    blocks: list[nn.Module] = []
    for i in range(layers):
        out = filters * 2**i
        blocks += [
            nn.Conv1d(channels, out, kernel, padding="same"),
            nn.BatchNorm1d(out),
            nn.GELU(),
            nn.Dropout(dropout),
        ]
        channels = out
    return nn.Sequential(*blocks)


def conv2d_blocks(
    rows: int, filters: int, layers: int, kernel_c: int, kernel_t: int
) -> tuple[nn.Sequential, int, int]:
    """2D convolutions over the (channel, time) image, pooling channels only.

    Returns the blocks, the output planes and the channel rows left after pooling.
    """
    blocks: list[nn.Module] = []
    planes = 1
    for i in range(layers):
        out = filters * 2**i
        blocks += [
            nn.Conv2d(planes, out, (kernel_c, kernel_t), padding="same"),
            nn.BatchNorm2d(out),
            nn.GELU(),
            nn.MaxPool2d((2, 1), ceil_mode=True),
        ]
        planes = out
        rows = -(-rows // 2)
    return nn.Sequential(*blocks), planes, rows


class ChannelImage(nn.Module):
    """(B, C, T) -> 2D convolutions over the one-plane (C, T) image -> (B, F * C', T).

    Reads hyperparameters filters, conv_layers, kernel_c, kernel_t and dropout.
    """

    def __init__(self, rows: int, hp: Mapping[str, Any]) -> None:
        super().__init__()
        self.conv, planes, rows_left = conv2d_blocks(
            rows, hp["filters"], hp["conv_layers"], hp["kernel_c"], hp["kernel_t"]
        )
        self.features = planes * rows_left
        self.dropout = nn.Dropout(hp["dropout"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.dropout(self.conv(x.unsqueeze(1)).flatten(1, 2))
        return out
