"""ONNX export of a model bundle for wearable / edge use (docs/inference.md, "ONNX").

The exported graph takes **raw** inputs, like `GrfPredictor.predict_arrays`: the bundle's
normalisation is folded into the graph (`RawInputNetwork`), so a device feeds the signals in the
units of the fused data and nothing else needs to travel with the file.

* input `inputs`: float32 (N, C, T), channels in the order of the model's metadata `channels`;
* input `static` (only when the model has static features): float32 (N, S), raw values, NaN
  where unknown (features that may be unknown get their missing indicator inside the graph;
  NaN in any other feature gives NaN forces, where `predict_arrays` raises);
* output `forces`: float32 (N, 3, T), (vertical, anterior, lateral) in body weights.

The batch dimension is dynamic. The model's metadata (`metadata_props`) names the channels, the
static features, the layout, the length and the units. `export_onnx` checks the file with
onnxruntime against PyTorch (`predict_arrays`) before it returns.

Exporter: torch's dynamo-based `torch.onnx.export(..., dynamo=True)` (needs `onnxscript`) is
tried first; when it fails the legacy TorchScript exporter (`dynamo=False`) is used. The result
says which one wrote the file.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from gaitgrf.core.errors import GaitGrfError
from gaitgrf.core.samples import TARGETS

if TYPE_CHECKING:
    from torch import nn

    from gaitgrf.predictor import GrfPredictor

OPSET: Final = 18
#: Largest |ONNX - PyTorch| difference (body weights) accepted by the check.
TOLERANCE: Final = 1e-4
EXPORTERS: Final = ("dynamo", "torchscript")
INPUTS_NAME: Final = "inputs"
STATIC_NAME: Final = "static"
OUTPUT_NAME: Final = "forces"


class ExportError(GaitGrfError):
    hint = "pip install onnx onnxruntime onnxscript (they are gaitgrf dependencies)"


@dataclass(frozen=True)
class ExportResult:
    path: Path
    architecture: str
    exporter: str
    #: Largest |onnxruntime - PyTorch| over the check batch (BW).
    max_abs_diff: float
    seconds: float
    #: Why the preferred exporter was not used (empty when it was).
    fallback_reason: str = ""


def raw_input_module(predictor: GrfPredictor) -> nn.Module:
    """The bundle's network behind its normalisation: raw (inputs, static) -> forces."""
    import torch
    from torch import nn

    norm = predictor.normaliser
    indicators = [norm.static_names.index(n) for n in norm.missing_indicators]

    class RawInputNetwork(nn.Module):
        mean: torch.Tensor
        scale: torch.Tensor
        s_mean: torch.Tensor
        s_scale: torch.Tensor
        indicators: torch.Tensor

        def __init__(self, network: nn.Module) -> None:
            super().__init__()
            self.network = network
            f32 = torch.float32
            self.register_buffer("mean", torch.tensor(norm.input_mean, dtype=f32)[None, :, None])
            self.register_buffer(
                "scale", torch.tensor(1.0 / norm.input_std, dtype=f32)[None, :, None]
            )
            self.register_buffer("s_mean", torch.tensor(norm.static_mean, dtype=f32)[None, :])
            self.register_buffer("s_scale", torch.tensor(1.0 / norm.static_std, dtype=f32)[None])
            self.register_buffer("indicators", torch.tensor(indicators, dtype=torch.long))
            self.n_static = len(norm.static_names)

        def forward(self, inputs: torch.Tensor, static: torch.Tensor | None = None) -> Any:
            x = (inputs - self.mean) * self.scale
            if self.n_static == 0:
                s = inputs.new_zeros((inputs.shape[0], 0))
                return self.network(x, s)
            assert static is not None
            unknown = torch.isnan(static)
            z = torch.where(
                unknown, torch.zeros_like(static), (static - self.s_mean) * self.s_scale
            )
            flags = unknown.index_select(1, self.indicators).to(static.dtype)
            return self.network(x, torch.cat([z, flags], dim=1))

    module = RawInputNetwork(predictor.network)
    module.eval()
    return module


def example_inputs(predictor: GrfPredictor, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Plausible raw inputs: each channel around its training mean and spread; static features
    likewise, a quarter of the may-be-unknown ones NaN."""
    rng = np.random.default_rng(seed)
    norm = predictor.normaliser
    c, t = len(norm.channels), predictor.length
    inputs = norm.input_mean[None, :, None] + norm.input_std[None, :, None] * rng.normal(
        size=(n, c, t)
    )
    static = norm.static_mean[None, :] + norm.static_std[None, :] * rng.normal(
        size=(n, len(norm.static_names))
    )
    for j, name in enumerate(norm.static_names):
        if name in norm.missing_indicators:
            static[rng.random(n) < 0.25, j] = np.nan
    return inputs.astype(np.float32), static.astype(np.float32)


def _metadata(predictor: GrfPredictor) -> dict[str, str]:
    return {
        "gaitgrf.architecture": predictor.architecture,
        "gaitgrf.condition": predictor.condition,
        "gaitgrf.layout": predictor.layout,
        "gaitgrf.length": str(predictor.length),
        "gaitgrf.channels": json.dumps(list(predictor.channels)),
        "gaitgrf.static_names": json.dumps(list(predictor.static_names)),
        "gaitgrf.targets": json.dumps(list(TARGETS)),
        "gaitgrf.target_unit": "body weight",
        "gaitgrf.inputs": "raw (normalisation inside the graph); static NaN = unknown",
        "gaitgrf.source": json.dumps(predictor.metadata, default=str),
    }


def _export(module: nn.Module, args: tuple[Any, ...], path: Path, exporter: str) -> None:
    import torch

    names = [INPUTS_NAME, STATIC_NAME][: len(args)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            batch = torch.export.Dim("batch", min=1, max=65536)
            shapes = {"inputs": {0: batch}}
            if len(args) > 1:
                shapes["static"] = {0: batch}
            program = torch.onnx.export(
                module,
                args,
                dynamo=True,
                input_names=names,
                output_names=[OUTPUT_NAME],
                dynamic_shapes=shapes,
                opset_version=OPSET,
                verbose=False,
            )
            if program is None:
                raise RuntimeError("the dynamo exporter returned no program")
            program.save(str(path))
        else:
            torch.onnx.export(
                module,
                args,
                str(path),
                dynamo=False,
                input_names=names,
                output_names=[OUTPUT_NAME],
                dynamic_axes={n: {0: "batch"} for n in [*names, OUTPUT_NAME]},
                opset_version=OPSET,
            )


def _add_metadata(path: Path, meta: dict[str, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


def onnx_predict(session: Any, inputs: np.ndarray, static: np.ndarray | None) -> np.ndarray:
    """Run an onnxruntime session of an exported model on raw arrays."""
    feeds = {INPUTS_NAME: np.ascontiguousarray(inputs, dtype=np.float32)}
    if len(session.get_inputs()) > 1:
        if static is None:
            raise ExportError("this ONNX model needs the static features input")
        feeds[STATIC_NAME] = np.ascontiguousarray(static, dtype=np.float32)
    return np.asarray(session.run([OUTPUT_NAME], feeds)[0])


def session(path: Path, threads: int | None = None) -> Any:
    import onnxruntime as ort  # type: ignore[import-untyped]

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def export_onnx(
    predictor: GrfPredictor,
    path: Path,
    *,
    exporter: str | None = None,
    tolerance: float = TOLERANCE,
    report: Callable[[str], None] | None = None,
) -> ExportResult:
    """Write `predictor` as ONNX (raw inputs) to `path` and check it against PyTorch.

    `exporter` None tries "dynamo" then "torchscript". Raises ExportError when no exporter
    works or the check batch differs by more than `tolerance` (BW).
    """
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import torch
    except ImportError as exc:
        raise ExportError(f"ONNX export needs {exc.name}, which is not installed") from None

    say = report or (lambda line: None)
    started = time.perf_counter()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = raw_input_module(predictor)
    x, s = example_inputs(predictor, 2)
    args: tuple[Any, ...] = (torch.as_tensor(x),)
    if predictor.static_names:
        args += (torch.as_tensor(s),)
    tried: list[str] = []
    used = None
    for name in [exporter] if exporter else list(EXPORTERS):
        if name not in EXPORTERS:
            raise ExportError(f"unknown exporter {name!r} (one of {', '.join(EXPORTERS)})")
        say(f"exporting {predictor.architecture} with the {name} exporter")
        try:
            _export(module, args, path, name)
            used = name
            break
        except Exception as exc:  # any exporter failure: try the next one
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            tried.append(f"{name}: {type(exc).__name__}: {first}")
    if used is None:
        raise ExportError(
            f"{predictor.architecture}: no ONNX exporter worked ({'; '.join(tried)})",
        )
    _add_metadata(path, _metadata(predictor))
    say("checking the ONNX model against PyTorch")
    diff, scale = check_against_torch(predictor, path)
    # Forces of a trained model are about 1 BW: the tolerance is absolute there. An untrained
    # network can output 1e8 BW, where float32 rounding alone exceeds 1e-4: scale it then.
    if not diff <= tolerance * max(1.0, scale):
        raise ExportError(
            f"{path}: ONNX and PyTorch forces differ by {diff:.2e} BW (tolerance {tolerance:g} "
            f"x max(1, largest force {scale:.3g} BW))"
        )
    return ExportResult(
        path=path,
        architecture=predictor.architecture,
        exporter=used,
        max_abs_diff=diff,
        seconds=time.perf_counter() - started,
        fallback_reason="; ".join(tried),
    )


def check_against_torch(predictor: GrfPredictor, path: Path, n: int = 7) -> tuple[float, float]:
    """(largest |onnxruntime - predict_arrays|, largest |predict_arrays|) on `n` plausible raw
    samples (BW).

    NaN only in features that may be unknown, which `predict_arrays` accepts too.
    """
    x, s = example_inputs(predictor, n, seed=1)
    reference = predictor.predict_arrays(x, s if predictor.static_names else None)
    got = onnx_predict(session(path), x, s if predictor.static_names else None)
    if got.shape != reference.shape:
        raise ExportError(f"{path}: ONNX output shape {got.shape}, PyTorch {reference.shape}")
    return float(np.max(np.abs(got - reference))), float(np.max(np.abs(reference)))
