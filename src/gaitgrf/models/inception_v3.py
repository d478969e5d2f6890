"""Inception v3 (torchvision), optionally from ImageNet weights, as in the study.

Parallel kernels of several sizes in every block; the auxiliary classifier is dropped (it is a
training aid for ImageNet classification, not part of a regression model), so the backbone
returns a plain (B, 2048) tensor in train and eval mode alike. `transform_input=False`: the
`fixed` adapter produces the (g - 0.5) / 0.5 planes Google's weights expect directly.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from torch import nn

from gaitgrf.models.base import Architecture, ModelSpec, SearchTrial
from gaitgrf.models.image import (
    FUSIONS,
    INCEPTION_NORM,
    ImageRegressor,
    image_defaults,
    image_space,
    load_pretrained,
    parse_size,
)

#: Inception v3's stem and pooling need at least 75 x 75 pixels.
MIN_SIZE = 75
#: Width of Inception v3's pooled features (what its classifier saw).
FEATURES = 2048


class InceptionV3Regressor(ImageRegressor):
    def __init__(self, spec: ModelSpec, hp: Mapping[str, Any]) -> None:
        from torchvision.models import inception_v3

        if min(parse_size(hp["image_size"])) < MIN_SIZE:
            raise ValueError(f"inception_v3: image_size {hp['image_size']} below {MIN_SIZE}px")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # init_weights' default is changing
            backbone = inception_v3(
                weights=None, aux_logits=False, transform_input=False, init_weights=True
            )
        if hp.get("pretrained") and hp.get("load_pretrained", True):
            load_pretrained(backbone, "inception_v3", hp.get("weights_dir"))
        backbone.fc = nn.Identity()
        # Its own dropout (p = 0.5, before fc) would stack on ours: the `dropout` hp is the one.
        backbone.dropout = nn.Identity()
        super().__init__("inception_v3", spec, hp, backbone, features=FEATURES, norm=INCEPTION_NORM)


def search_space(trial: SearchTrial) -> dict[str, Any]:
    return image_space(trial, ["80x128", "112x160"])


DEFAULTS: dict[str, Any] = image_defaults("80x128")

ARCHITECTURE = Architecture(
    "inception_v3", InceptionV3Regressor, search_space, DEFAULTS, FUSIONS, image_backbone=True
)
