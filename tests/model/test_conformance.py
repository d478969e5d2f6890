"""One conformance suite over every registered architecture, in both feature conditions.

A new architecture is accepted when it passes all of this: the right output shape, finite values,
gradients to every trainable parameter, determinism for a seed, a valid model from its own search
space, the ability to overfit a tiny batch, and a lossless round trip through MLflow's PyTorch
flavour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
import torch

from gaitgrf import models
from gaitgrf.core.config import Params
from gaitgrf.models.base import FUSION_MODES, ModelSpec

C, T = 33, 101
#: base: no subject features; subject: the default `subject` condition's 8 features.
CONDITIONS = {"base": 0, "subject": 8}
CASES = [(name, cond) for name in models.REGISTRY for cond in CONDITIONS]


def spec(condition: str) -> ModelSpec:
    return ModelSpec(channels=C, length=T, static=CONDITIONS[condition])


def batch(condition: str, n: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, C, T, generator=g), torch.randn(n, CONDITIONS[condition], generator=g)


def build(name: str, condition: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return models.build(name, spec(condition))


def test_registry_matches_params() -> None:
    assert tuple(models.REGISTRY) == Params().models.architectures
    assert len(models.REGISTRY) == 10
    for name in models.REGISTRY:
        arch = models.get(name)
        assert arch.name == name
        assert set(arch.fusions) <= set(FUSION_MODES)


def test_unknown_architecture_is_named() -> None:
    with pytest.raises(KeyError, match="registered: mlp"):
        models.get("transformer")


@pytest.mark.parametrize(("name", "condition"), CASES)
def test_output_shape_and_finite(name: str, condition: str) -> None:
    model = build(name, condition).eval()
    x, s = batch(condition)
    with torch.no_grad():
        y = model(x, s)
    assert y.shape == (4, 3, T)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize(("name", "condition"), CASES)
def test_every_fusion_mode_builds(name: str, condition: str) -> None:
    arch = models.get(name)
    x, s = batch(condition, n=2)
    for fusion in arch.fusions:
        model = models.build(name, spec(condition), {"fusion": fusion}).eval()
        with torch.no_grad():
            assert model(x, s).shape == (2, 3, T)


@pytest.mark.parametrize(("name", "condition"), CASES)
def test_gradients_reach_every_parameter(name: str, condition: str) -> None:
    model = build(name, condition).train()
    x, s = batch(condition)
    model(x, s).pow(2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient for {missing[:5]}"
    dead = [n for n, p in model.named_parameters() if p.grad is not None and not p.grad.any()]
    assert len(dead) <= len(list(model.parameters())) // 10, f"zero gradients: {dead[:5]}"


@pytest.mark.parametrize(("name", "condition"), CASES)
def test_deterministic_for_a_seed(name: str, condition: str) -> None:
    x, s = batch(condition)
    with torch.no_grad():
        a = build(name, condition, seed=3).eval()(x, s)
        b = build(name, condition, seed=3).eval()(x, s)
        c = build(name, condition, seed=4).eval()(x, s)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("name", list(models.REGISTRY))
def test_search_space_sample_builds_a_model(name: str) -> None:
    arch = models.get(name)
    hp = arch.search_space(optuna.trial.FixedTrial(dict(arch.defaults)))
    assert {k: arch.defaults[k] for k in hp} == hp
    assert {"lr", "batch_size", "weight_decay", "fusion"} <= set(hp)
    model = arch.build(spec("subject"), {**arch.defaults, **hp}).eval()
    x, s = batch("subject", n=2)
    with torch.no_grad():
        assert model(x, s).shape == (2, 3, T)
    # A random sample from the space is valid too (a real Optuna trial, seeded).
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    trial = study.ask()
    sampled = arch.search_space(trial)
    arch.build(spec("subject"), {**arch.defaults, **sampled})


@pytest.mark.parametrize(("name", "condition"), CASES)
def test_overfits_a_tiny_batch(name: str, condition: str) -> None:
    """30 optimiser steps on 8 smooth waveforms cut the loss at least threefold."""
    model = build(name, condition).train()
    x, s = batch(condition, n=8, seed=1)
    t = torch.linspace(0, 1, T)
    y = torch.stack([torch.sin(np.pi * t * (k % 3 + 1)) * (1 + k / 8) for k in range(8)])
    y = y.unsqueeze(1).repeat(1, 3, 1) * torch.tensor([1.0, 0.2, 0.06]).view(1, 3, 1)
    weights = torch.tensor([1.0, 25.0, 280.0]).view(1, 3, 1)
    # Each architecture at its own default learning rate: deep ImageNet backbones need less.
    optimiser = torch.optim.Adam(model.parameters(), lr=models.get(name).defaults["lr"])
    losses = []
    for _ in range(30):
        optimiser.zero_grad()
        loss = ((model(x, s) - y) ** 2 * weights).mean()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert min(losses[-5:]) < losses[0] / 3, f"loss {losses[0]:.3f} -> {losses[-1]:.3f}"


@pytest.mark.parametrize(("name", "condition"), CASES)
def test_mlflow_pytorch_round_trip(name: str, condition: str, tmp_path: Path) -> None:
    import mlflow.pytorch

    model = build(name, condition).eval()
    x, s = batch(condition)
    with torch.no_grad():
        expected = model(x, s)
    # MLflow 3.17 defaults to the torch.export ("pt2") format, which needs TensorSpec signatures
    # and static shapes; gaitgrf stores models in the pickle format (docs/models.md).
    mlflow.pytorch.save_model(
        model, tmp_path / "model", pip_requirements=["torch"], serialization_format="pickle"
    )
    loaded = mlflow.pytorch.load_model(str(tmp_path / "model")).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, s), expected, rtol=0, atol=0)
