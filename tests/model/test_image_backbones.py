"""The ImageNet backbones (resnet50, inception_v3): image adapter, shapes, real checkpoint loading.

Loading is tested with real torchvision-format files: a torchvision model with random weights is
saved under the exact checkpoint name torchvision uses, and our model must come out with exactly
those tensors. No test needs internet; `weights fetch` is only tested failing (offline, through a
proxy that refuses connections).
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
from typer.testing import CliRunner

from gaitgrf import models
from gaitgrf.cli import app
from gaitgrf.core.errors import GaitGrfError
from gaitgrf.models.base import ModelSpec
from gaitgrf.models.image import FixedAdapter, ImageRegressor, learned_adapter, parse_size
from gaitgrf.training import weights
from tests.support.servers import free_port

ARCHS = ("resnet50", "inception_v3")
C, T = 33, 101
#: Hyperparameters that are not searched: set from params.yaml, or a model option (`norm`).
FIXED_BY_CONFIG = {"pretrained", "weights_dir", "norm"}
CASES = [
    (arch, fusion, static) for arch in ARCHS for fusion in ("late", "early") for static in (0, 8)
]


def inputs(static: int, n: int = 2, length: int = T) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, C, length, generator=g), torch.randn(n, static, generator=g)


def torchvision_model(arch: str) -> torch.nn.Module:
    """The model torchvision's checkpoint belongs to (Inception with its auxiliary classifier)."""
    from torchvision.models import inception_v3, resnet50

    if arch == "resnet50":
        return resnet50(weights=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return inception_v3(weights=None, aux_logits=True, init_weights=True)


def backbone_of(model: torch.nn.Module) -> Any:
    """The torchvision backbone inside our model (typed Any: torchvision ships no types)."""
    assert isinstance(model, ImageRegressor)
    return model.backbone


def save_checkpoint(arch: str, folder: Path, seed: int = 1) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    state = torchvision_model(arch).state_dict()
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / weights.checkpoint_name(arch))
    return state


@pytest.mark.parametrize(("arch", "fusion", "static"), CASES)
def test_forward_shape_train_and_eval(arch: str, fusion: str, static: int) -> None:
    torch.manual_seed(0)
    model = models.build(arch, ModelSpec(C, T, static), {"fusion": fusion})
    assert isinstance(model, ImageRegressor)
    x, s = inputs(static)
    for train in (True, False):
        model.train(train)
        with torch.set_grad_enabled(train):
            y = model(x, s)
        assert type(y) is torch.Tensor  # never InceptionOutputs, in either mode
        assert y.shape == (2, 3, T)
        assert torch.isfinite(y).all()
    assert model.head.late == (fusion == "late" and static > 0)


@pytest.mark.parametrize("arch", ARCHS)
def test_fixed_adapter_and_window_length(arch: str) -> None:
    """The parameter-free adapter, early fusion, and windows (T = 100) instead of stances."""
    torch.manual_seed(0)
    model = models.build(arch, ModelSpec(C, 100, 8), {"adapter": "fixed", "fusion": "early"})
    assert isinstance(model.adapter, FixedAdapter)
    assert not list(model.adapter.parameters())
    x, s = inputs(8, length=100)
    y = model.train()(x, s)
    assert y.shape == (2, 3, 100)
    assert torch.isfinite(y).all()


def test_inception_backbone_settings() -> None:
    backbone = backbone_of(models.build("inception_v3", ModelSpec(C, T, 0)))
    assert backbone.aux_logits is False
    assert backbone.AuxLogits is None
    assert backbone.transform_input is False
    assert isinstance(backbone.fc, torch.nn.Identity)
    assert isinstance(backbone.dropout, torch.nn.Identity)  # only our `dropout` hp applies
    features = backbone.train()(torch.randn(2, 3, 80, 128))
    assert type(features) is torch.Tensor
    assert features.shape == (2, 2048)


def test_inception_refuses_images_below_75px() -> None:
    with pytest.raises(ValueError, match="below 75px"):
        models.build("inception_v3", ModelSpec(C, T, 0), {"image_size": "64x128"})


def test_adapters() -> None:
    plane = torch.randn(2, 1, 8, 16)
    learned = learned_adapter()
    out = learned(plane)
    assert out.shape == (2, 3, 8, 16)
    for k in range(3):  # starts as plain replication
        torch.testing.assert_close(out[:, k], plane[:, 0])
    fixed = FixedAdapter(((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)))
    grey = fixed(torch.zeros(1, 1, 2, 2))  # z = 0 -> grey 0.5 -> ImageNet-normalised
    expected = torch.tensor([(0.5 - 0.485) / 0.229, (0.5 - 0.456) / 0.224, (0.5 - 0.406) / 0.225])
    torch.testing.assert_close(grey[0, :, 0, 0], expected)
    assert parse_size("80x128") == (80, 128)
    with pytest.raises(ValueError, match="HEIGHTxWIDTH"):
        parse_size("80 by 128")


@pytest.mark.parametrize("arch", ARCHS)
def test_defaults_are_a_point_of_the_search_space(arch: str) -> None:
    spec_ = models.get(arch)
    hp = spec_.search_space(optuna.trial.FixedTrial(dict(spec_.defaults)))
    assert hp == {k: v for k, v in spec_.defaults.items() if k not in FIXED_BY_CONFIG}
    assert spec_.defaults["pretrained"] is False
    assert spec_.defaults["weights_dir"] is None
    assert spec_.image_backbone


def test_checkpoint_names_come_from_torchvision() -> None:
    from torchvision.models import Inception_V3_Weights, ResNet50_Weights

    assert weights.checkpoint_name("resnet50") == "resnet50-0676ba61.pth"
    assert weights.checkpoint_name("inception_v3") == "inception_v3_google-0cc3c7bd.pth"
    assert weights.checkpoint_url("resnet50") == ResNet50_Weights.IMAGENET1K_V1.url
    assert weights.checkpoint_url("inception_v3") == Inception_V3_Weights.IMAGENET1K_V1.url


@pytest.mark.parametrize("arch", ARCHS)
def test_pretrained_weights_are_really_loaded(arch: str, tmp_path: Path) -> None:
    saved = save_checkpoint(arch, tmp_path, seed=1)
    torch.manual_seed(2)  # our own random init differs: only loading can make them equal
    hp = {"pretrained": True, "weights_dir": str(tmp_path)}
    model = models.build(arch, ModelSpec(C, T, 8), hp)
    ours = backbone_of(model).state_dict()
    compared = [k for k in saved if not k.startswith(("fc.", "AuxLogits."))]
    assert set(ours) == set(compared)  # the classifier is gone, nothing else is
    for key in compared:
        torch.testing.assert_close(ours[key], saved[key], rtol=0, atol=0, msg=key)
    x, s = inputs(8)
    with torch.no_grad():
        assert torch.isfinite(model.eval()(x, s)).all()


def test_pretrained_from_the_torch_hub_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without weights_dir the file is found where torch caches it: $TORCH_HOME/hub/checkpoints."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert weights.hub_dir() == tmp_path / "torch" / "hub" / "checkpoints"
    saved = save_checkpoint("resnet50", weights.hub_dir())
    model = models.build("resnet50", ModelSpec(C, T, 0), {"pretrained": True})
    torch.testing.assert_close(
        backbone_of(model).conv1.weight, saved["conv1.weight"], rtol=0, atol=0
    )


def test_missing_file_names_the_expected_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "weights"
    with pytest.raises(weights.WeightsNotFoundError) as info:
        models.build("resnet50", ModelSpec(C, T, 0), {"pretrained": True, "weights_dir": folder})
    expected = folder / "resnet50-0676ba61.pth"
    assert str(expected) in str(info.value)
    assert "gaitgrf weights fetch --arch resnet50" in str(info.value.hint)
    assert isinstance(info.value, GaitGrfError)
    # Without weights_dir: the hub cache under $TORCH_HOME is named.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    with pytest.raises(weights.WeightsNotFoundError) as info:
        models.build("inception_v3", ModelSpec(C, T, 0), {"pretrained": True})
    hub_file = tmp_path / "th" / "hub" / "checkpoints" / "inception_v3_google-0cc3c7bd.pth"
    assert str(hub_file) in str(info.value)
    assert "gaitgrf weights fetch --arch inception_v3" in str(info.value.hint)


def test_corrupt_or_foreign_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / weights.checkpoint_name("resnet50")
    hp = {"pretrained": True, "weights_dir": tmp_path}
    path.write_bytes(b"<html>captive portal</html>" * 40)
    with pytest.raises(weights.CheckpointError, match="not a readable PyTorch checkpoint") as info:
        models.build("resnet50", ModelSpec(C, T, 0), hp)
    assert str(path) in str(info.value)
    assert "delete it" in str(info.value.hint)
    # A readable file that is not ResNet50's: refused, never half-loaded.
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, path)
    with pytest.raises(weights.CheckpointError, match="missing entries"):
        models.build("resnet50", ModelSpec(C, T, 0), hp)
    torch.save({"conv1.weight": torch.zeros(8, 3, 3, 3)}, path)
    with pytest.raises(weights.CheckpointError, match="does not fit"):
        models.build("resnet50", ModelSpec(C, T, 0), hp)
    torch.save([torch.zeros(1)], path)
    with pytest.raises(weights.CheckpointError, match="not a state dict"):
        models.build("resnet50", ModelSpec(C, T, 0), hp)


def test_weights_status_and_fetch_of_a_present_file(tmp_path: Path) -> None:
    (tmp_path / "resnet50-0676ba61.pth").write_bytes(b"x" * 2048)
    result = CliRunner().invoke(app, ["weights", "status", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert str(tmp_path) in result.output
    assert "resnet50-0676ba61.pth present" in result.output
    assert "inception_v3_google-0cc3c7bd.pth missing" in result.output
    # A file already there is kept: no download is attempted.
    assert weights.fetch("resnet50", tmp_path) == tmp_path / "resnet50-0676ba61.pth"


def test_fetch_offline_is_one_clear_line(tmp_path: Path) -> None:
    """Through a proxy that refuses connections the download fails at once, on any machine."""
    proxy = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {**os.environ, "https_proxy": proxy, "HTTPS_PROXY": proxy, "no_proxy": "", "NO_PROXY": ""}
    target = tmp_path / "weights"
    command = ["weights", "fetch", "--arch", "resnet50", "--dir", str(target)]
    proc = subprocess.run(
        [sys.executable, "-m", "gaitgrf.cli", *command],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith("error: resnet50: download of https://download.pytorch.org/")
    assert lines[-1].startswith("hint: ")
    assert "resnet50-0676ba61.pth" in lines[-1]
    assert list(target.iterdir()) == []  # no partial file left behind
