"""LSTM: the classic sequence model for gait (Mundt et al. 2020).

In the study it was the one architecture that subject features did not improve.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gaitgrf.models.base import Architecture, ModelSpec, check_fusion
from gaitgrf.models.recurrent import (
    RECURRENT_DEFAULTS,
    RECURRENT_FUSIONS,
    RecurrentNet,
    recurrent_space,
)


class Lstm(RecurrentNet):
    def __init__(self, spec: ModelSpec, hp: Mapping[str, Any]) -> None:
        check_fusion("lstm", hp["fusion"], RECURRENT_FUSIONS)
        super().__init__(spec, hp, cell="lstm", bidirectional=False)


ARCHITECTURE = Architecture("lstm", Lstm, recurrent_space, RECURRENT_DEFAULTS, RECURRENT_FUSIONS)
