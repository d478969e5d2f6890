"""The shared training loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gaitgrf import models
from gaitgrf.models.base import ModelSpec
from gaitgrf.training.loop import EpochResult, FitConfig, component_weights, dataset, fit, predict


def toy(n: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Targets that are a fixed function of the inputs, with AP/ML much smaller than vertical."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6, 21)).astype(np.float32)
    s = rng.normal(size=(n, 2)).astype(np.float32)
    y = np.stack([x[:, 0] + 1.0, 0.2 * x[:, 1], 0.05 * x[:, 2] + 0.05 * s[:, :1]], axis=1)
    return x, s, y.astype(np.float32)


def model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return models.build("cnn1d", ModelSpec(6, 21, 2))


def test_fit_learns_and_keeps_the_best_epoch() -> None:
    x, s, y = toy()
    train, val = dataset(x[:32], s[:32], y[:32]), dataset(x[32:], s[32:], y[32:])
    net = model()
    result = fit(net, train, val, FitConfig(epochs=15, batch_size=8, lr=3e-3, patience=0))
    losses = [e.val_loss for e in result.history]
    assert losses[-1] is not None and losses[0] is not None
    assert result.best_val_loss < 0.5 * losses[0]
    assert result.best_val_loss == min(loss for loss in losses if loss is not None)
    # The weights kept are the best epoch's: re-evaluating gives its loss.
    weights = component_weights(train.all_targets())  # the loss is weighted by training targets
    pred = torch.as_tensor(predict(net, x[32:], s[32:]))
    again = float(((pred - torch.as_tensor(y[32:])) ** 2 * weights.view(1, 3, 1)).mean())
    assert again == pytest.approx(result.best_val_loss, rel=1e-4)


def test_component_weights_balance_small_forces() -> None:
    _, _, y = toy()
    w = component_weights(torch.as_tensor(y))
    assert w[2] > w[1] > w[0]


def test_early_stopping_stops() -> None:
    x, s, y = toy()
    # Validation targets unrelated to the inputs: it cannot improve for long.
    rng = np.random.default_rng(9)
    val = dataset(x[32:], s[32:], rng.normal(size=y[32:].shape).astype(np.float32))
    result = fit(model(), dataset(x[:32], s[:32], y[:32]), val, FitConfig(epochs=50, patience=2))
    assert result.stopped_early
    assert len(result.history) < 50


def test_epoch_callback_sees_every_epoch_and_can_stop_training() -> None:
    x, s, y = toy()
    seen: list[EpochResult] = []

    class Stop(Exception):
        pass

    def on_epoch(epoch: EpochResult) -> None:
        seen.append(epoch)
        if epoch.epoch == 2:
            raise Stop

    with pytest.raises(Stop):
        fit(model(), dataset(x, s, y), dataset(x, s, y), FitConfig(epochs=10), on_epoch)
    assert [e.epoch for e in seen] == [0, 1, 2]


def test_fit_is_deterministic_for_a_seed() -> None:
    x, s, y = toy()
    outs = []
    for _ in range(2):
        net = model(seed=1)
        fit(net, dataset(x, s, y), None, FitConfig(epochs=2, seed=5))
        outs.append(predict(net, x, s))
    np.testing.assert_array_equal(outs[0], outs[1])
