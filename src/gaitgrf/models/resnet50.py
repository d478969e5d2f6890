"""ResNet50 (torchvision), optionally from ImageNet weights, as in the study.

The heavyweight reference: 23.5 M backbone parameters for a task the custom hybrids solve with a
few hundred thousand. Whether ImageNet features transfer to a sensor matrix is part of what the
comparison measures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from gaitgrf.models.base import Architecture, ModelSpec, SearchTrial
from gaitgrf.models.image import (
    FUSIONS,
    ImageRegressor,
    image_defaults,
    image_space,
    load_pretrained,
)

#: Width of ResNet50's pooled features (what its classifier saw).
FEATURES = 2048


class ResNet50Regressor(ImageRegressor):
    def __init__(self, spec: ModelSpec, hp: Mapping[str, Any]) -> None:
        from torchvision.models import resnet50

        backbone = resnet50(weights=None)
        if hp.get("pretrained") and hp.get("load_pretrained", True):
            load_pretrained(backbone, "resnet50", hp.get("weights_dir"))
        backbone.fc = nn.Identity()
        super().__init__("resnet50", spec, hp, backbone, features=FEATURES)


def search_space(trial: SearchTrial) -> dict[str, Any]:
    return image_space(trial, ["64x128", "96x160"])


DEFAULTS: dict[str, Any] = image_defaults("64x128")

ARCHITECTURE = Architecture(
    "resnet50", ResNet50Regressor, search_space, DEFAULTS, FUSIONS, image_backbone=True
)
