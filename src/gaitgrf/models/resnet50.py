"""ResNet50 (torchvision), optionally from ImageNet weights, as in the study.

The heavyweight reference: 23.5 M backbone parameters for a task the custom hybrids solve with a
few hundred thousand. Whether ImageNet features transfer to a sensor matrix is part of what the
comparison measures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from gaitgrf.models.base import Architecture, ModelSpec, SearchTrial, training_space
from gaitgrf.models.image import ADAPTERS, FUSIONS, ImageRegressor, load_pretrained

#: Width of ResNet50's pooled features (what its classifier saw).
FEATURES = 2048


class ResNet50Regressor(ImageRegressor):
    def __init__(self, spec: ModelSpec, hp: Mapping[str, Any]) -> None:
        from torchvision.models import resnet50

        backbone = resnet50(weights=None)
        if hp.get("pretrained"):
            load_pretrained(backbone, "resnet50", hp.get("weights_dir"))
        backbone.fc = nn.Identity()
        super().__init__("resnet50", spec, hp, backbone, features=FEATURES)


def search_space(trial: SearchTrial) -> dict[str, Any]:
    return {
        "adapter": trial.suggest_categorical("adapter", list(ADAPTERS)),
        "image_size": trial.suggest_categorical("image_size", ["64x128", "96x160"]),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        "fusion": trial.suggest_categorical("fusion", list(FUSIONS)),
        **training_space(trial),
    }


DEFAULTS: dict[str, Any] = {
    "adapter": "learned",
    "image_size": "64x128",
    "dropout": 0.2,
    "fusion": "late",
    "lr": 1e-3,
    "weight_decay": 1e-5,
    "batch_size": 32,
    # Set from params.yaml (models.pretrained.enabled / .weights_dir), never searched.
    "pretrained": False,
    "weights_dir": None,
}

ARCHITECTURE = Architecture(
    "resnet50", ResNet50Regressor, search_space, DEFAULTS, FUSIONS, image_backbone=True
)
