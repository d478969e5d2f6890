"""Standardisation fitted inside a training split (docs/features.md, "Normalisation").

`Normaliser.fit(samples, train_index)` looks only at the samples in `train_index`; the fused files
stay un-normalised so every split fits its own statistics and no test subject leaks into them.

* Inputs: per channel, mean and standard deviation over (training samples, time).
* Static features: per feature, mean and standard deviation over the training samples, ignoring
  NaN (unknown). A feature that is all-NaN in training gets mean 0 and std 1; a constant one gets
  its value as mean and std 1 (so it becomes 0, not a division by zero). The same std-1 rule
  applies to a constant input channel. "Constant" means std <= 1e-6 * max(|mean|, 1) (variation
  below float32 resolution of a unit-scale signal, where the float64 std of identical values is
  rounding noise, not 0). The floor of 1 matters for a channel that is zero by construction: the
  importer's foot frame is built from the shank's axis, so marker-based ankle adduction is 0 up to
  rounding (std ~1e-15 deg); without the floor its "SD" would turn the few degrees a real
  recording gives into z-scores of 1e15. Every input and static feature is in physical units of
  order one (deg, m/s^2, BW, kg, m), so 1e-6 of one unit is far below any real variation.
* Unknown static values (NaN) become the training mean, i.e. 0 after standardising, and every
  feature that may be unknown (`gaitgrf.pipeline.fuse.features.MAY_BE_MISSING`: knee alignment and
  anthropometrics) gets a 0/1 "missing" column appended, so a model can tell "unknown" from
  "average". Output static columns: the standardised features, then `<name>_missing` in feature
  order (`static_names_out`).
* Targets are left alone: they stay in body weights.

Standard deviations use ddof = 0. Statistics are float64; outputs are float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from gaitgrf.core.errors import GaitGrfError
from gaitgrf.core.samples import SampleSet
from gaitgrf.pipeline.fuse.features import MAY_BE_MISSING

FORMAT_VERSION: Final = 1
MISSING_SUFFIX: Final = "_missing"
#: A standard deviation at most this fraction of max(|mean|, 1) counts as constant (std set to 1).
_CONSTANT_RTOL: Final = 1e-6


class NormalisationError(GaitGrfError):
    hint = "fit the Normaliser on a non-empty training index of the same fused sample set"


@dataclass(frozen=True)
class Normaliser:
    channels: tuple[str, ...]
    input_mean: np.ndarray  # (C,) float64
    input_std: np.ndarray  # (C,) float64, > 0
    static_names: tuple[str, ...]
    static_mean: np.ndarray  # (S,) float64
    static_std: np.ndarray  # (S,) float64, > 0
    #: Static features that get a 0/1 missing-indicator column, in static_names order.
    missing_indicators: tuple[str, ...]
    #: Number of training samples the statistics come from.
    fitted_on: int

    # --- fitting -------------------------------------------------------------------------------
    @classmethod
    def fit(cls, samples: SampleSet, index: np.ndarray) -> Normaliser:
        """Fit on the samples in `index` (integer positions or a boolean mask) only."""
        idx = sample_positions(index, len(samples))
        if idx.size == 0:
            raise NormalisationError("cannot fit normalisation statistics on an empty index")
        c_count = len(samples.channels)
        mean = np.zeros(c_count)
        std = np.ones(c_count)
        for ch in range(c_count):  # one channel at a time: float64 copies stay small
            x = samples.inputs[idx, ch, :].astype(np.float64)
            if not np.isfinite(x).all():
                raise NormalisationError(
                    f"input channel {samples.channels[ch]} has non-finite values in the "
                    "training samples"
                )
            mean[ch] = x.mean()
            std[ch] = _usable_std(x.std(), mean[ch])

        s_count = len(samples.static_names)
        s_mean = np.zeros(s_count)
        s_std = np.ones(s_count)
        static = samples.static[idx].astype(np.float64)
        for j in range(s_count):
            col = static[:, j]
            known = col[~np.isnan(col)]
            if np.isinf(known).any():
                raise NormalisationError(f"static feature {samples.static_names[j]} is infinite")
            if known.size:
                s_mean[j] = known.mean()
                s_std[j] = _usable_std(known.std(), s_mean[j])
        indicators = tuple(n for n in samples.static_names if n in MAY_BE_MISSING)
        return cls(
            channels=tuple(samples.channels),
            input_mean=mean,
            input_std=std,
            static_names=tuple(samples.static_names),
            static_mean=s_mean,
            static_std=s_std,
            missing_indicators=indicators,
            fitted_on=int(idx.size),
        )

    # --- applying ------------------------------------------------------------------------------
    @property
    def static_names_out(self) -> tuple[str, ...]:
        return self.static_names + tuple(f"{n}{MISSING_SUFFIX}" for n in self.missing_indicators)

    def transform(self, samples: SampleSet) -> tuple[np.ndarray, np.ndarray]:
        """(inputs float32 (N, C, T), static float32 (N, S + indicators)), standardised.

        Training does not go through here: `training.loop.standardised_rows` standardises a
        fold's rows batch by batch with the same `input_affine`, so no fold is copied."""
        self.check(samples)
        shift, scale = self.input_affine()
        inputs = np.asarray(samples.inputs, dtype=np.float32) - shift
        inputs *= scale
        return inputs, self.transform_static(samples.static)

    def check(self, samples: SampleSet) -> None:
        """Refuse samples whose channels or static features are not those fitted."""
        if tuple(samples.channels) != self.channels:
            raise NormalisationError(
                f"channels differ from those fitted: got {list(samples.channels)}, "
                f"fitted {list(self.channels)}"
            )
        if tuple(samples.static_names) != self.static_names:
            raise NormalisationError(
                f"static features differ from those fitted: got {list(samples.static_names)}, "
                f"fitted {list(self.static_names)}"
            )

    def input_affine(self) -> tuple[np.ndarray, np.ndarray]:
        """float32 (1, C, 1) shift and scale: standardised inputs are (x - shift) * scale."""
        mean = self.input_mean.astype(np.float32)[None, :, None]
        scale = (1.0 / self.input_std).astype(np.float32)[None, :, None]
        return mean, scale

    def transform_static(self, static_in: np.ndarray) -> np.ndarray:
        """Static features (N, S) -> float32 (N, S + indicators): standardised, unknown -> 0,
        then the missing-indicator columns."""
        static = static_in.astype(np.float64)
        unknown = np.isnan(static)
        cannot_be_missing = [
            n
            for j, n in enumerate(self.static_names)
            if n not in self.missing_indicators and unknown[:, j].any()
        ]
        if cannot_be_missing:
            raise NormalisationError(
                f"static feature(s) {cannot_be_missing} are unknown (NaN) for some samples but "
                "have no missing indicator"
            )
        z = (static - self.static_mean) / self.static_std
        z[unknown] = 0.0
        position = {n: j for j, n in enumerate(self.static_names)}
        flags = unknown[:, [position[n] for n in self.missing_indicators]].astype(np.float64)
        out_static: np.ndarray = np.concatenate([z, flags], axis=1).astype(np.float32)
        return out_static

    # --- storage -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable; floats are written exactly (repr round-trips float64)."""
        return {
            "format_version": FORMAT_VERSION,
            "channels": list(self.channels),
            "input_mean": [float(v) for v in self.input_mean],
            "input_std": [float(v) for v in self.input_std],
            "static_names": list(self.static_names),
            "static_mean": [float(v) for v in self.static_mean],
            "static_std": [float(v) for v in self.static_std],
            "missing_indicators": list(self.missing_indicators),
            "fitted_on": self.fitted_on,
            "target_unit": "body weight (not scaled)",
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normaliser:
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise NormalisationError(
                f"normaliser format_version {version!r} is not {FORMAT_VERSION}"
            )
        try:
            out = cls(
                channels=tuple(data["channels"]),
                input_mean=np.asarray(data["input_mean"], dtype=np.float64),
                input_std=np.asarray(data["input_std"], dtype=np.float64),
                static_names=tuple(data["static_names"]),
                static_mean=np.asarray(data["static_mean"], dtype=np.float64),
                static_std=np.asarray(data["static_std"], dtype=np.float64),
                missing_indicators=tuple(data["missing_indicators"]),
                fitted_on=int(data["fitted_on"]),
            )
        except KeyError as exc:
            raise NormalisationError(f"normaliser dict lacks {exc}") from None
        return out

    def __post_init__(self) -> None:
        c_count, s_count = len(self.channels), len(self.static_names)
        if self.input_mean.shape != (c_count,) or self.input_std.shape != (c_count,):
            raise NormalisationError("input statistics do not match the channels")
        if self.static_mean.shape != (s_count,) or self.static_std.shape != (s_count,):
            raise NormalisationError("static statistics do not match the static features")
        if not (np.all(self.input_std > 0) and np.all(self.static_std > 0)):
            raise NormalisationError("standard deviations must be positive")
        if not set(self.missing_indicators) <= set(self.static_names):
            raise NormalisationError("missing indicators name unknown static features")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Normaliser):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.channels, self.static_names, self.fitted_on))


def _usable_std(std: float, mean: float) -> float:
    """`std`, or 1.0 for a constant (std within rounding noise of the mean) feature."""
    return float(std) if std > _CONSTANT_RTOL * max(abs(mean), 1.0) else 1.0


def sample_positions(index: np.ndarray, n: int) -> np.ndarray:
    """Integer positions from `index` (positions or a boolean mask over `n` samples), checked."""
    idx = np.asarray(index)
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise NormalisationError(f"boolean index of shape {idx.shape} for {n} samples")
        return np.flatnonzero(idx)
    if idx.size == 0:
        return np.zeros(0, dtype=np.intp)
    if not np.issubdtype(idx.dtype, np.integer) or idx.ndim != 1:
        raise NormalisationError("index must be a 1-D array of sample positions or a mask")
    if idx.min() < -n or idx.max() >= n:
        raise NormalisationError(f"index holds positions outside 0..{n - 1}")
    return idx.astype(np.intp)
