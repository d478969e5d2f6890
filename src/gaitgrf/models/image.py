"""Shared machinery of the ImageNet backbones: the channel x time matrix as an image.

The (C, T) matrix of standardised inputs (plus constant static channels under early fusion) is a
one-plane image. It is resized (bilinear) to `image_size` ("HxW": ResNet50 runs at any size,
Inception v3 needs at least 75 x 75; sizes stay small to keep the CPU cost sane), then an
`adapter` maps it to the three planes an ImageNet network expects:

* `learned`: a 1x1 convolution (1 -> 3 planes), trained with the network. It starts as plain
  replication (weights 1, bias 0): standardised inputs already have the mean-0, std-1 statistics
  of an ImageNet-normalised image.
* `fixed`: no parameters. The z-scores are squashed to grey levels in (0, 1) by a logistic,
  replicated to three planes and normalised the way the checkpoint's training images were
  (ImageNet mean/std for ResNet50; (g - 0.5) / 0.5 for Google's Inception v3, which is what
  torchvision's `transform_input=True` converts to; the backbone is built with
  `transform_input=False`, so that conversion is done here, once).

(Resizing before the adapter is cheaper, and for `learned` identical: a 1x1 affine map commutes
with bilinear interpolation.) The backbone's classifier is replaced by `nn.Identity`, its 2048
pooled features go through dropout to a `VectorHead` for the 3 x T output (late fusion appends
the static features there).

Pretrained weights (`pretrained`, `weights_dir` hyperparameters, set from params.yaml
`models.pretrained`, never searched) are torchvision's checkpoint files, loaded with
`gaitgrf.training.weights`; only the classifier's entries may be left out. A bundle being
loaded sets `load_pretrained: False`: its own weights replace the checkpoint's, but the layout
(the normalisation below) must stay the one it was trained with.

The few-sample recipe (docs/models.md, "ImageNet backbones on few samples"), all options of the
model, none a special case of the training loop:

* `norm`: `frozen_bn` keeps BatchNorm's running statistics fixed (its layers stay in eval mode
  whatever `train()` says; the affine scale and shift still learn), `group_norm` swaps every
  BatchNorm for a GroupNorm (statistics per sample, so independent of the batch size),
  `batch_norm` is torchvision's plain train-mode BatchNorm, and `auto` (the default) picks
  `frozen_bn` with ImageNet weights (their statistics are worth keeping) and `group_norm`
  without (a random network's statistics are placeholders, and a few batches of 32 estimate
  them badly: the cause of Inception's 1e8 validation loss with one epoch on 192 samples).
* `warmup_epochs`: the first epochs train the head only (adapter and backbone frozen), so a
  random head does not push large gradients into the backbone; then everything trains.
* `backbone_lr_factor`: the backbone's learning rate is `lr` x this, the adapter's and head's
  `lr`.
* Both apply only to a backbone that starts from ImageNet weights: from a random start they are
  off (0 warm-up epochs, factor 1), since a warm-up then trains a head on random features and a
  smaller rate slows a backbone that has nothing to keep (docs/models.md, measured).

The loop reaches the last two through two generic hooks (`gaitgrf.training.loop`):
`param_groups(lr)` for the optimiser and `begin_epoch(epoch)` at the start of every epoch.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gaitgrf.models.base import (
    ModelSpec,
    SearchTrial,
    VectorHead,
    broadcast_static,
    check_fusion,
    training_space,
)

FUSIONS = ("late", "early")
ADAPTERS = ("learned", "fixed")
NORMS = ("auto", "frozen_bn", "group_norm", "batch_norm")
#: Most groups of a GroupNorm replacing a BatchNorm (fewer where the width is not divisible).
MAX_GROUPS = 32
#: Checkpoint entries of the replaced classifier heads (dropped before loading).
DROPPED_PREFIXES = ("fc.", "AuxLogits.")
#: Per-plane (mean, std) of the images each checkpoint was trained on, in [0, 1] grey levels.
IMAGENET_NORM = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
INCEPTION_NORM = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


def parse_size(text: str) -> tuple[int, int]:
    """'64x128' -> (64, 128): image height (channels axis) x width (time axis)."""
    try:
        height, width = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise ValueError(f"image_size {text!r}: expected 'HEIGHTxWIDTH', e.g. '64x128'") from None
    if height < 1 or width < 1:
        raise ValueError(f"image_size {text!r}: both sides must be positive")
    return height, width


class FixedAdapter(nn.Module):
    """One plane of z-scores -> three normalised planes: logistic, replicate, (g - mean) / std."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, norm: tuple[tuple[float, ...], tuple[float, ...]]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(norm[0]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(norm[1]).view(1, 3, 1, 1), persistent=False)

    def forward(self, plane: torch.Tensor) -> torch.Tensor:
        return (torch.sigmoid(plane) - self.mean) / self.std


def learned_adapter() -> nn.Conv2d:
    conv = nn.Conv2d(1, 3, kernel_size=1)
    nn.init.ones_(conv.weight)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


def load_pretrained(backbone: nn.Module, arch: str, weights_dir: str | Path | None) -> None:
    """Load torchvision's checkpoint into `backbone`; only classifier entries may be left out.

    Raises `gaitgrf.training.weights.WeightsNotFoundError` when the file is absent and
    `WeightsError` when
    it does not fit the backbone (other missing or unexpected entries, other shapes).
    """
    from gaitgrf.training.weights import CheckpointError, load_state_dict, locate

    state = load_state_dict(arch, weights_dir)
    kept = {k: v for k, v in state.items() if not k.startswith(DROPPED_PREFIXES)}
    path = locate(arch, weights_dir)
    try:
        result = backbone.load_state_dict(kept, strict=False)
    except RuntimeError as exc:  # shape mismatches
        problem = " ".join(str(exc).split())[:300]
        raise CheckpointError(arch, path, f"does not fit {arch}: {problem}") from None
    missing = [k for k in result.missing_keys if not k.startswith(DROPPED_PREFIXES)]
    if missing or result.unexpected_keys:
        raise CheckpointError(
            arch,
            path,
            f"does not fit {arch}: {len(missing)} missing entries {missing[:3]}, "
            f"{len(result.unexpected_keys)} unexpected {result.unexpected_keys[:3]}",
        )


def resolve_norm(norm: str, pretrained: bool) -> str:
    """`auto` -> `frozen_bn` with ImageNet weights, `group_norm` without (see module doc)."""
    if norm not in NORMS:
        raise ValueError(f"norm {norm!r} not in {NORMS}")
    if norm == "auto":
        return "frozen_bn" if pretrained else "group_norm"
    return norm


def group_count(channels: int, most: int = MAX_GROUPS) -> int:
    """The largest number of groups <= `most` that divides `channels` (GroupNorm needs it)."""
    return next(g for g in range(min(most, channels), 0, -1) if channels % g == 0)


def to_group_norm(module: nn.Module) -> None:
    """Replace every BatchNorm2d under `module` by a GroupNorm of the same width, in place.

    The affine scale and shift are carried over (ImageNet's, when loaded); the running
    statistics have no GroupNorm counterpart and are dropped.
    """
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            group = nn.GroupNorm(group_count(child.num_features), child.num_features, child.eps)
            with torch.no_grad():
                if child.affine:
                    group.weight.copy_(child.weight)
                    group.bias.copy_(child.bias)
            setattr(module, name, group)
        else:
            to_group_norm(child)


class ImageRegressor(nn.Module):
    """Adapter + resize -> ImageNet backbone (classifier removed) -> dropout -> VectorHead.

    `train()` keeps BatchNorm in eval mode under `frozen_bn`; `param_groups` and `begin_epoch`
    are the training loop's hooks for the per-group learning rates and the warm-up.
    """

    def __init__(
        self,
        name: str,
        spec: ModelSpec,
        hp: Mapping[str, Any],
        backbone: nn.Module,
        *,
        features: int,
        norm: tuple[tuple[float, ...], tuple[float, ...]] = IMAGENET_NORM,
    ) -> None:
        super().__init__()
        check_fusion(name, hp["fusion"], FUSIONS)
        if hp["adapter"] not in ADAPTERS:
            raise ValueError(f"{name}: adapter {hp['adapter']!r} not in {ADAPTERS}")
        self.early = hp["fusion"] == "early"
        self.size = parse_size(hp["image_size"])
        self.adapter: nn.Module = (
            learned_adapter() if hp["adapter"] == "learned" else FixedAdapter(norm)
        )
        self.norm = resolve_norm(hp["norm"], bool(hp.get("pretrained")))
        if self.norm == "group_norm":
            to_group_norm(backbone)
        self.backbone = backbone
        self.dropout = nn.Dropout(hp["dropout"])
        self.head = VectorHead(
            features, spec.static, spec.length, spec.outputs, late=hp["fusion"] == "late"
        )
        warmup, factor = int(hp["warmup_epochs"]), float(hp["backbone_lr_factor"])
        if warmup < 0 or not factor > 0:
            raise ValueError(f"{name}: warmup_epochs must be >= 0 and backbone_lr_factor > 0")
        # Both protect ImageNet features from a random head's first gradients; a backbone that
        # starts random has nothing to protect (a warm-up would train a head on random
        # features, a smaller rate slow the backbone down), so from a random start they are off.
        imagenet = bool(hp.get("pretrained"))
        self.warmup_epochs = warmup if imagenet else 0
        self.backbone_lr_factor = factor if imagenet else 1.0

    def train(self, mode: bool = True) -> ImageRegressor:
        """As nn.Module's, but BatchNorm layers stay in eval mode (fixed statistics) under
        `frozen_bn`: the loop's `model.train()` each epoch must not re-estimate them."""
        super().train(mode)
        if self.norm == "frozen_bn":
            for module in self.backbone.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def _input_side(self) -> list[nn.Parameter]:
        """Adapter and backbone: what the warm-up freezes (the head still learns)."""
        return [*self.adapter.parameters(), *self.backbone.parameters()]

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Optimiser groups (loop hook): the pretrained backbone at `lr` x backbone_lr_factor,
        the new parts (adapter, head) at `lr`."""
        backbone = {id(p) for p in self.backbone.parameters()}
        return [
            {"params": [p for p in self.parameters() if id(p) not in backbone], "lr": lr},
            {"params": list(self.backbone.parameters()), "lr": lr * self.backbone_lr_factor},
        ]

    def begin_epoch(self, epoch: int) -> None:
        """Loop hook at the start of every epoch: adapter and backbone frozen during the first
        `warmup_epochs` epochs, trainable after (the backward pass then stops at the head)."""
        trainable = epoch >= self.warmup_epochs
        for parameter in self._input_side():
            parameter.requires_grad_(trainable)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        if self.early:
            x = broadcast_static(x, s)
        plane = nn.functional.interpolate(
            x.unsqueeze(1), size=self.size, mode="bilinear", align_corners=False
        )
        features = self.backbone(self.adapter(plane))
        if isinstance(features, tuple):  # InceptionOutputs, were aux_logits ever enabled
            features = features[0]
        out: torch.Tensor = self.head(self.dropout(features), s)
        return out


def image_space(trial: SearchTrial, sizes: list[str]) -> dict[str, Any]:
    """The search space both backbones share; `sizes` are the image sizes worth trying."""
    return {
        "adapter": trial.suggest_categorical("adapter", list(ADAPTERS)),
        "image_size": trial.suggest_categorical("image_size", sizes),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        "fusion": trial.suggest_categorical("fusion", list(FUSIONS)),
        "warmup_epochs": trial.suggest_int("warmup_epochs", 0, 2),
        "backbone_lr_factor": trial.suggest_float("backbone_lr_factor", 0.01, 1.0, log=True),
        **training_space(trial),
    }


def image_defaults(image_size: str) -> dict[str, Any]:
    return {
        "adapter": "learned",
        "image_size": image_size,
        "dropout": 0.2,
        "fusion": "late",
        "lr": 1e-3,
        "weight_decay": 1e-5,
        "batch_size": 32,
        "warmup_epochs": 1,
        "backbone_lr_factor": 0.1,
        # A model option, not searched: `auto` picks by `pretrained` (module docstring).
        "norm": "auto",
        # Set from params.yaml (models.pretrained.enabled / .weights_dir), never searched.
        "pretrained": False,
        "weights_dir": None,
    }
