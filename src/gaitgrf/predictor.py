"""A trained model as one self-contained bundle: network weights, hyperparameters, normalisation.

Tuning writes a bundle for every refit model; evaluation, promotion, the MLflow pyfunc model and
`gaitgrf predict` all load it. Inputs are always *raw* (un-normalised) channels in the units of
the fused data: the bundle applies the normalisation fitted on its training subjects, so a caller
cannot forget it or use the wrong statistics.

Files in a bundle folder:
* `bundle.json`: architecture, hyperparameters, shapes, channels, static features, condition,
  layout, the normaliser's statistics and where the model came from;
* `network.pt`: the network's `state_dict` (weights only; the architecture is rebuilt from the
  registry, so no pickled code travels with it).

The pyfunc model takes a long DataFrame, one row per time point of a sample:
`sample` (an id), one column per input channel and one per static feature (repeated on every row
of the sample; NaN where unknown). `frame_from_arrays` builds it from (N, C, T) arrays and
`arrays_from_frame` reverses it. Output: `sample`, `point`, `vertical`, `anterior`, `lateral`
in body weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from gaitgrf.core.errors import GaitGrfError
from gaitgrf.core.samples import TARGETS
from gaitgrf.training.normalisation import Normaliser

if TYPE_CHECKING:
    from torch import nn

BUNDLE_FILE: Final = "bundle.json"
WEIGHTS_FILE: Final = "network.pt"
FORMAT_VERSION: Final = 1
SAMPLE_COLUMN: Final = "sample"
POINT_COLUMN: Final = "point"


class PredictorError(GaitGrfError):
    hint = "inputs must carry the channels and static features listed in the bundle's bundle.json"


@dataclass
class GrfPredictor:
    architecture: str
    hp: dict[str, Any]
    condition: str
    layout: str
    normaliser: Normaliser
    length: int
    network: nn.Module
    #: Where the model came from (study, trial, data version, commit, MLflow run).
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def channels(self) -> tuple[str, ...]:
        return self.normaliser.channels

    @property
    def static_names(self) -> tuple[str, ...]:
        return self.normaliser.static_names

    # --- prediction ----------------------------------------------------------------------------
    def predict_arrays(self, inputs: np.ndarray, static: np.ndarray | None = None) -> np.ndarray:
        """Raw inputs (N, C, T) and static features (N, S) -> forces (N, 3, T) in body weights."""
        from gaitgrf.core.samples import SampleSet
        from gaitgrf.training.loop import predict

        inputs = np.asarray(inputs, dtype=np.float32)
        n = inputs.shape[0] if inputs.ndim == 3 else -1
        if inputs.ndim != 3 or inputs.shape[1:] != (len(self.channels), self.length):
            raise PredictorError(
                f"inputs of shape {inputs.shape}: expected (N, {len(self.channels)}, "
                f"{self.length}) for channels {list(self.channels)}"
            )
        if static is None:
            if self.static_names:
                raise PredictorError(
                    f"this model needs static subject features {list(self.static_names)}"
                )
            static = np.zeros((n, 0), np.float32)
        static = np.asarray(static, dtype=np.float32)
        if static.shape != (n, len(self.static_names)):
            raise PredictorError(
                f"static features of shape {static.shape}: expected ({n}, "
                f"{len(self.static_names)}) for {list(self.static_names)}"
            )
        empty = np.zeros((n, len(TARGETS), self.length), np.float32)
        ids = np.asarray([""] * n)
        samples = SampleSet(
            layout=self.layout,
            rate_hz=0.0,
            channels=self.channels,
            inputs=inputs,
            targets=empty,
            static_names=self.static_names,
            static=static,
            subject_id=ids,
            cohort_id=ids,
            trial_id=ids,
            side=ids,
            start_s=np.zeros(n),
            duration_s=np.zeros(n),
        )
        x, s = self.normaliser.transform(samples)
        return predict(self.network, x, s)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The pyfunc contract: long DataFrame in, long DataFrame of forces out."""
        ids, inputs, static = arrays_from_frame(
            frame, self.channels, self.static_names, self.length
        )
        forces = self.predict_arrays(inputs, static)
        t = forces.shape[2]
        out = pd.DataFrame(
            {
                SAMPLE_COLUMN: np.repeat(ids, t),
                POINT_COLUMN: np.tile(np.arange(t), len(ids)),
            }
        )
        for k, name in enumerate(TARGETS):
            out[name] = forces[:, k, :].reshape(-1)
        return out

    # --- storage -------------------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        import torch

        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.network.state_dict(), folder / WEIGHTS_FILE)
        meta = {
            "format_version": FORMAT_VERSION,
            "architecture": self.architecture,
            "hp": self.hp,
            "condition": self.condition,
            "layout": self.layout,
            "length": self.length,
            "targets": list(TARGETS),
            "target_unit": "body weight",
            "normaliser": self.normaliser.to_dict(),
            "metadata": self.metadata,
        }
        (folder / BUNDLE_FILE).write_text(json.dumps(meta, indent=2, default=str) + "\n")
        return folder

    @classmethod
    def load(cls, folder: Path) -> GrfPredictor:
        import torch

        from gaitgrf import models
        from gaitgrf.models.base import ModelSpec

        try:
            meta = json.loads((folder / BUNDLE_FILE).read_text())
        except FileNotFoundError:
            raise PredictorError(f"{folder}: no {BUNDLE_FILE} (not a model bundle)") from None
        if meta.get("format_version") != FORMAT_VERSION:
            raise PredictorError(
                f"{folder / BUNDLE_FILE}: format_version {meta.get('format_version')!r} "
                f"is not {FORMAT_VERSION}"
            )
        normaliser = Normaliser.from_dict(meta["normaliser"])
        spec = ModelSpec(
            channels=len(normaliser.channels),
            length=int(meta["length"]),
            static=len(normaliser.static_names_out),
        )
        hp = dict(meta["hp"])
        # The saved weights replace any ImageNet start: no checkpoint is read, but the network
        # keeps the layout it was trained with (an ImageNet start may change it, see
        # gaitgrf.models.image, `norm`).
        hp["load_pretrained"] = False
        network = models.build(meta["architecture"], spec, hp)
        state = torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        network.load_state_dict(state)
        network.eval()
        return cls(
            architecture=meta["architecture"],
            hp=dict(meta["hp"]),
            condition=meta["condition"],
            layout=meta["layout"],
            normaliser=normaliser,
            length=int(meta["length"]),
            network=network,
            metadata=dict(meta.get("metadata", {})),
        )


# --- long DataFrame <-> arrays -----------------------------------------------------------------
def frame_from_arrays(
    inputs: np.ndarray,
    static: np.ndarray,
    channels: tuple[str, ...] | list[str],
    static_names: tuple[str, ...] | list[str],
    sample_ids: np.ndarray | None = None,
) -> pd.DataFrame:
    """(N, C, T) + (N, S) -> one row per time point (the pyfunc input)."""
    n, c_count, t = inputs.shape
    ids = np.arange(n) if sample_ids is None else np.asarray(sample_ids)
    data: dict[str, Any] = {SAMPLE_COLUMN: np.repeat(ids, t)}
    for j, name in enumerate(channels[:c_count]):
        data[name] = inputs[:, j, :].reshape(-1).astype(np.float64)
    for j, name in enumerate(static_names):
        data[name] = np.repeat(static[:, j].astype(np.float64), t)
    return pd.DataFrame(data)


def arrays_from_frame(
    frame: pd.DataFrame,
    channels: tuple[str, ...],
    static_names: tuple[str, ...],
    length: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sample ids, inputs (N, C, T), static (N, S)) from the long frame; extra columns ignored."""
    missing = [n for n in (SAMPLE_COLUMN, *channels, *static_names) if n not in frame.columns]
    if missing:
        raise PredictorError(f"input frame lacks column(s) {missing}")
    ids, counts = np.unique(frame[SAMPLE_COLUMN].to_numpy(), return_counts=True)
    wrong = ids[counts != length]
    if wrong.size:
        raise PredictorError(
            f"sample(s) {wrong[:5].tolist()} do not have {length} rows (one per time point)"
        )
    ordered = frame.sort_values(SAMPLE_COLUMN, kind="stable")
    n = ids.size
    values = ordered[list(channels)].to_numpy(np.float32)
    inputs = values.reshape(n, length, len(channels)).transpose(0, 2, 1)
    static = ordered[list(static_names)].to_numpy(np.float32).reshape(n, length, -1)[:, 0, :]
    return ids, np.ascontiguousarray(inputs), static


class PyfuncModel:
    """The MLflow pyfunc wrapper (built lazily: mlflow is imported only when logging/serving)."""

    @staticmethod
    def make() -> Any:
        import mlflow.pyfunc

        class GrfPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]
            """Loads the bundle from the model's artifacts; predicts raw long DataFrames."""

            def load_context(self, context):  # type: ignore[no-untyped-def]
                self.predictor = GrfPredictor.load(Path(context.artifacts["bundle"]))

            # `pd.DataFrame` is one of the hints MLflow infers no schema from (the signature is
            # logged explicitly) and leaves the input as it comes; without a hint MLflow warns
            # at class creation, under its own warning filter. The long frame is the contract;
            # dict and array inputs are accepted for in-process callers.
            def predict(self, context, model_input: pd.DataFrame, params=None):  # type: ignore[no-untyped-def]
                if isinstance(model_input, dict):
                    return self.predictor.predict_arrays(
                        model_input["inputs"], model_input.get("static")
                    )
                if isinstance(model_input, np.ndarray):
                    return self.predictor.predict_arrays(model_input)
                return self.predictor.predict_frame(pd.DataFrame(model_input))

        return GrfPyfunc()
