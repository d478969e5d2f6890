"""The ImageNet backbones' few-sample recipe (issue 15): normalisation, warm-up, lr groups.

Each option is checked through the one training loop (`gaitgrf.training.loop.fit`), the way
tuning and refits use it, on a handful of samples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from gaitgrf import models
from gaitgrf.models.base import ModelSpec
from gaitgrf.models.image import ImageRegressor, group_count, resolve_norm
from gaitgrf.training.loop import EpochResult, FitConfig, dataset, fit
from tests.model.test_image_backbones import save_checkpoint

C, T, S = 33, 101, 2
SPEC = ModelSpec(C, T, S)
#: The cheapest image size ResNet50 accepts here: the recipe does not depend on it.
SMALL = {"image_size": "32x32", "batch_size": 4}


def build(arch: str = "resnet50", **hp: Any) -> ImageRegressor:
    torch.manual_seed(0)
    model = models.build(arch, SPEC, {**SMALL, **hp})
    assert isinstance(model, ImageRegressor)
    return model


#: An ImageNet-start layout without the checkpoint file (what a reloaded bundle builds): the
#: warm-up and the backbone's own rate apply to such a backbone only.
IMAGENET = {"pretrained": True, "load_pretrained": False}


def data(n: int = 8) -> Any:
    g = torch.Generator().manual_seed(0)
    x, s = torch.randn(n, C, T, generator=g), torch.randn(n, S, generator=g)
    y = torch.randn(n, 3, T, generator=g)
    return dataset(x.numpy(), s.numpy(), y.numpy())


def batch_norms(model: nn.Module) -> list[nn.BatchNorm2d]:
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]


def stats(model: nn.Module) -> list[torch.Tensor]:
    return [t.clone() for m in batch_norms(model) for t in (m.running_mean, m.running_var)]


def fit_epochs(model: nn.Module, epochs: int, **cfg: Any) -> list[dict[str, torch.Tensor]]:
    """Train through the loop; the state after each epoch."""
    states: list[dict[str, torch.Tensor]] = []

    def keep(_: EpochResult) -> None:
        states.append({k: v.clone() for k, v in model.state_dict().items()})

    fit(model, data(), None, FitConfig(epochs=epochs, batch_size=4, patience=0, **cfg), keep)
    return states


def test_auto_picks_frozen_bn_with_imagenet_weights_and_group_norm_without() -> None:
    assert resolve_norm("auto", pretrained=True) == "frozen_bn"
    assert resolve_norm("auto", pretrained=False) == "group_norm"
    assert resolve_norm("batch_norm", pretrained=True) == "batch_norm"
    with pytest.raises(ValueError, match="norm 'layer'"):
        resolve_norm("layer", pretrained=False)


def test_frozen_bn_statistics_are_unchanged_by_training() -> None:
    model = build(norm="frozen_bn", warmup_epochs=0)
    before = stats(model)
    model.train()
    assert model.training and not any(m.training for m in batch_norms(model))
    fit_epochs(model, 1)
    assert all(torch.equal(a, b) for a, b in zip(before, stats(model), strict=True))


def test_train_mode_batch_norm_does_change_them() -> None:
    """The control: the old recipe re-estimates the statistics from every training batch."""
    model = build(norm="batch_norm", warmup_epochs=0)
    before = stats(model)
    fit_epochs(model, 1)
    assert not all(torch.equal(a, b) for a, b in zip(before, stats(model), strict=True))


@pytest.mark.parametrize("arch", ["resnet50", "inception_v3"])
def test_group_norm_replaces_every_batch_norm(arch: str) -> None:
    hp = {"image_size": "80x80"} if arch == "inception_v3" else {}
    model = build(arch, norm="group_norm", **hp)
    groups = [m for m in model.modules() if isinstance(m, nn.GroupNorm)]
    assert not batch_norms(model) and groups
    assert all(m.num_channels % m.num_groups == 0 for m in groups)
    assert group_count(2048) == 32 and group_count(48) == 24 and group_count(80) == 20


def test_warm_up_freezes_the_backbone_then_fine_tunes_it() -> None:
    model = build(warmup_epochs=1, backbone_lr_factor=0.1, **IMAGENET)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    after_warm_up, after_fine_tuning = fit_epochs(model, 2)

    def moved(state: dict[str, torch.Tensor], prefix: str) -> bool:
        keys = [k for k in state if k.startswith(prefix) and state[k].is_floating_point()]
        assert keys
        return any(not torch.equal(state[k], start[k]) for k in keys)

    assert not moved(after_warm_up, "backbone.") and not moved(after_warm_up, "adapter.")
    assert moved(after_warm_up, "head.")
    assert moved(after_fine_tuning, "backbone.") and moved(after_fine_tuning, "adapter.")
    assert all(p.requires_grad for p in model.parameters())


def test_a_random_start_trains_everything_at_one_rate_from_the_first_epoch() -> None:
    """Warm-up and backbone rate protect ImageNet features; a random backbone has none."""
    model = build(warmup_epochs=2, backbone_lr_factor=0.1)
    assert model.warmup_epochs == 0 and model.backbone_lr_factor == 1.0
    assert [g["lr"] for g in model.param_groups(1e-3)] == pytest.approx([1e-3, 1e-3])
    start = {k: v.clone() for k, v in model.state_dict().items()}
    (after_first,) = fit_epochs(model, 1)
    assert any(
        not torch.equal(after_first[k], start[k])
        for k in start
        if k.startswith("backbone.") and start[k].is_floating_point()
    )


def test_param_groups_give_the_backbone_its_own_learning_rate() -> None:
    model = build(backbone_lr_factor=0.1, **IMAGENET)
    groups = model.param_groups(1e-3)
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 1e-4])
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())  # each exactly once
    assert {id(p) for p in model.backbone.parameters()} == {id(p) for p in groups[1]["params"]}
    optimiser_lrs: list[float] = []
    original = torch.optim.AdamW.__init__

    def spy(self: torch.optim.AdamW, params: Any, **kw: Any) -> None:
        original(self, params, **kw)
        optimiser_lrs.extend(g["lr"] for g in self.param_groups)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.optim.AdamW, "__init__", spy)
        fit_epochs(model, 1, lr=2e-3)
    assert optimiser_lrs == pytest.approx([2e-3, 2e-4])


def test_imagenet_start_keeps_batch_norm_and_a_bundle_rebuilds_that_layout(
    tmp_path: Path,
) -> None:
    """With a checkpoint, `auto` keeps its BatchNorm statistics (frozen); a saved bundle is
    rebuilt without reading the checkpoint (`load_pretrained: False`), in the same layout."""
    saved = save_checkpoint("resnet50", tmp_path, seed=1)
    model = build(pretrained=True, weights_dir=str(tmp_path))
    assert model.norm == "frozen_bn"
    torch.testing.assert_close(model.backbone.bn1.running_var, saved["bn1.running_var"])
    again = build(pretrained=True, weights_dir=str(tmp_path / "absent"), load_pretrained=False)
    again.load_state_dict(model.state_dict())  # same keys: BatchNorm buffers included
    assert again.norm == "frozen_bn"
