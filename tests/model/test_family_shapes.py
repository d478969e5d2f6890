"""Smoke test of the seven signal-network families (mlp, 1D/2D CNNs, recurrent, cnn1d_lstm).

Every fusion mode each one declares, with and without subject features, for stances (T = 101)
and windows (T = 100). The full contract of every registered model is in test_conformance.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import optuna
import pytest
import torch

from gaitgrf import models
from gaitgrf.models.base import ModelSpec

FAMILY = ("mlp", "cnn1d", "cnn2d", "lstm", "bilstm", "gru", "cnn1d_lstm")
C = 33
CASES = [
    (name, fusion, static)
    for name in FAMILY
    for fusion in models.get(name).fusions
    for static in (0, 8)
]


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny batches gain nothing from threads, and an oversubscribed CPU (tests beside other
    work) makes torch's multi-threaded LSTM ~1000x slower; one thread keeps this test fast."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize(("name", "fusion", "static"), CASES)
@pytest.mark.parametrize("length", [101, 100])
def test_forward_shape_and_finite(name: str, fusion: str, static: int, length: int) -> None:
    torch.manual_seed(0)
    model = models.build(name, ModelSpec(C, length, static), {"fusion": fusion}).eval()
    g = torch.Generator().manual_seed(1)
    x, s = torch.randn(4, C, length, generator=g), torch.randn(4, static, generator=g)
    with torch.no_grad():
        y = model(x, s)
    assert y.shape == (4, 3, length)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", FAMILY)
def test_defaults_are_a_point_of_the_search_space(name: str) -> None:
    arch = models.get(name)
    assert arch.search_space(optuna.trial.FixedTrial(dict(arch.defaults))) == dict(arch.defaults)


@pytest.mark.parametrize("name", FAMILY)
def test_unsupported_fusion_is_refused(name: str) -> None:
    arch = models.get(name)
    missing = [f for f in ("late", "early", "hidden") if f not in arch.fusions]
    for fusion in missing:
        with pytest.raises(ValueError, match="not supported"):
            models.build(name, ModelSpec(C, 101, 8), {"fusion": fusion})
