"""Bidirectional LSTM: offline prediction may look ahead.

Every time step sees the whole stance or window, the past and the future.
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


class BiLstm(RecurrentNet):
    def __init__(self, spec: ModelSpec, hp: Mapping[str, Any]) -> None:
        check_fusion("bilstm", hp["fusion"], RECURRENT_FUSIONS)
        super().__init__(spec, hp, cell="lstm", bidirectional=True)


ARCHITECTURE = Architecture(
    "bilstm", BiLstm, recurrent_space, RECURRENT_DEFAULTS, RECURRENT_FUSIONS
)
