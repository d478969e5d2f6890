"""ImageNet checkpoints for the image backbones: where they live, loading, fetching.

The files are torchvision's own checkpoints under torchvision's own names (taken from the URL of
the weights enum, e.g. `ResNet50_Weights.IMAGENET1K_V1.url`), looked up in one folder:

* `weights_dir` when given (params.yaml `models.pretrained.weights_dir`), else
* torch's hub cache, `torch.hub.get_dir()/checkpoints`: `$TORCH_HOME/hub/checkpoints`, by default
  `~/.cache/torch/hub/checkpoints`, where torchvision itself stores what it downloads. torch reads
  $TORCH_HOME (and $XDG_CACHE_HOME) itself; this module only asks it.

Nothing is downloaded at training time: `gaitgrf weights fetch` does that, once, on a machine
with internet; the file can then be copied to the offline machine's folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gaitgrf.core.errors import GaitGrfError

if TYPE_CHECKING:
    import torch

#: architecture -> torchvision weights enum entry (the study's ImageNet-1k weights).
WEIGHTS = {
    "resnet50": "ResNet50_Weights.IMAGENET1K_V1",
    "inception_v3": "Inception_V3_Weights.IMAGENET1K_V1",
}


class WeightsError(GaitGrfError):
    hint = "`gaitgrf weights status` shows which checkpoint files are expected where"


class WeightsNotFoundError(WeightsError):
    """Pretrained weights requested, but the checkpoint file is not where it is looked up."""

    def __init__(self, arch: str, expected: Path, *, configured: bool) -> None:
        name = expected.name
        if configured:
            where = f"{expected.parent} (models.pretrained.weights_dir)"
            other = f"without weights_dir it is looked up in the torch hub cache {hub_dir()}"
        else:
            where = f"{expected.parent} (torch hub cache, $TORCH_HOME/hub/checkpoints)"
            other = "or set models.pretrained.weights_dir to the folder that holds it"
        super().__init__(
            f"{arch}: ImageNet weights requested, but {name} is not in {where}\n"
            f"expected file: {expected} ({other})"
        )
        self.expected = expected
        self.hint = (
            f"run `gaitgrf weights fetch --arch {arch}` on a machine with internet, or copy "
            f"{name} to {expected.parent}; or set models.pretrained.enabled: false"
        )


class CheckpointError(WeightsError):
    """A checkpoint file that exists but cannot be used."""

    def __init__(self, arch: str, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.hint = (
            f"the file is damaged or not torchvision's {arch} checkpoint: delete it and run "
            f"`gaitgrf weights fetch --arch {arch}` (compare its SHA-256 with the name's suffix)"
        )


class DownloadError(WeightsError):
    def __init__(self, arch: str, url: str, reason: str, target: Path) -> None:
        super().__init__(f"{arch}: download of {url} failed: {reason}")
        self.hint = (
            f"`gaitgrf weights fetch` needs internet (or $https_proxy); on an offline machine "
            f"copy {target.name} from one that has it to {target.parent}"
        )


def _weights_entry(arch: str) -> Any:
    from torchvision.models import get_weight

    if arch not in WEIGHTS:
        raise WeightsError(f"no ImageNet weights known for {arch!r}; known: {sorted(WEIGHTS)}")
    return get_weight(WEIGHTS[arch])


def checkpoint_url(arch: str) -> str:
    """torchvision's download URL of the architecture's ImageNet checkpoint."""
    return str(_weights_entry(arch).url)


def checkpoint_name(arch: str) -> str:
    """The checkpoint's file name, as torchvision stores it (e.g. resnet50-0676ba61.pth)."""
    return checkpoint_url(arch).rsplit("/", 1)[-1]


def hub_dir() -> Path:
    """torch's checkpoint cache (`torch.hub.get_dir()/checkpoints`, follows $TORCH_HOME)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def expected_path(arch: str, weights_dir: str | Path | None) -> Path:
    """Where the checkpoint must be: in weights_dir when given, else in the hub cache."""
    folder = Path(weights_dir).expanduser() if weights_dir is not None else hub_dir()
    return folder / checkpoint_name(arch)


def locate(arch: str, weights_dir: str | Path | None) -> Path:
    path = expected_path(arch, weights_dir)
    if not path.is_file():
        raise WeightsNotFoundError(arch, path, configured=weights_dir is not None)
    return path


def load_state_dict(arch: str, weights_dir: str | Path | None) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors, loaded safely (`weights_only`: no code runs from the file)."""
    import torch

    path = locate(arch, weights_dir)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged file
        first = str(exc).splitlines()[0] if str(exc) else ""
        if first.startswith("Weights only load failed"):  # its advice does not apply here
            first = "not a tensor-only checkpoint"
        detail = f"{type(exc).__name__}: {first[:160]}" if first else type(exc).__name__
        raise CheckpointError(arch, path, f"not a readable PyTorch checkpoint ({detail})") from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(arch, path, "not a state dict (a mapping of names to tensors)")
    return state


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint's status in one folder (for `gaitgrf weights status`)."""

    arch: str
    path: Path
    present: bool
    size: int | None


def status(weights_dir: str | Path | None) -> list[Checkpoint]:
    """Every architecture's checkpoint where it is looked up (weights_dir, else the hub cache)."""
    rows = []
    for arch in WEIGHTS:
        path = expected_path(arch, weights_dir)
        present = path.is_file()
        rows.append(Checkpoint(arch, path, present, path.stat().st_size if present else None))
    return rows


def fetch(arch: str, dest_dir: str | Path | None = None, *, progress: bool = True) -> Path:
    """Download the checkpoint into dest_dir, else the hub cache; a present file is kept.

    Uses torch's own downloader (`torch.hub.download_url_to_file`, what torchvision's
    `weights.get_state_dict` calls): it writes a `.partial` file, checks the SHA-256 against the
    hash prefix in the file name and only then moves it in place, so a failed download leaves
    nothing behind.
    """
    import torch

    target = expected_path(arch, dest_dir)
    if target.is_file():
        return target
    url = checkpoint_url(arch)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(
            url, str(target), hash_prefix=target.stem.rsplit("-", 1)[-1], progress=progress
        )
    # URLError/HTTPError and socket errors are OSErrors; RuntimeError: hash mismatch;
    # ValueError: a malformed proxy setting.
    except (OSError, RuntimeError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        reason_text = str(reason).splitlines()[0] if str(reason) else type(exc).__name__
        raise DownloadError(arch, url, reason_text, target) from exc
    return target
