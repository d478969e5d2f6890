"""Model bundles (gaitgrf.predictor): raw inputs in, same forces after save/load, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gaitgrf import models
from gaitgrf.models.base import ModelSpec
from gaitgrf.predictor import (
    GrfPredictor,
    PredictorError,
    arrays_from_frame,
    frame_from_arrays,
)
from gaitgrf.training.normalisation import Normaliser
from tests.sample_factory import make_samples


@pytest.fixture
def predictor() -> GrfPredictor:
    samples, _ = make_samples(subjects=4, per_subject=3)
    norm = Normaliser.fit(samples, np.arange(len(samples)))
    spec = ModelSpec(len(samples.channels), samples.inputs.shape[2], len(norm.static_names_out))
    torch.manual_seed(0)
    return GrfPredictor(
        architecture="cnn1d",
        hp=dict(models.get("cnn1d").defaults),
        condition="subject",
        layout="stance",
        normaliser=norm,
        length=spec.length,
        network=models.build("cnn1d", spec),
        metadata={"study": "cnn1d__subject"},
    )


def test_save_load_gives_identical_predictions(predictor: GrfPredictor, tmp_path: Path) -> None:
    samples, _ = make_samples(subjects=4, per_subject=3)
    before = predictor.predict_arrays(samples.inputs, samples.static)
    loaded = GrfPredictor.load(predictor.save(tmp_path / "bundle"))
    after = loaded.predict_arrays(samples.inputs, samples.static)
    assert before.shape == (len(samples), 3, samples.inputs.shape[2])
    np.testing.assert_array_equal(before, after)
    assert loaded.metadata["study"] == "cnn1d__subject"


def test_frame_round_trip_and_prediction(predictor: GrfPredictor) -> None:
    samples, _ = make_samples(subjects=4, per_subject=3)
    frame = frame_from_arrays(
        samples.inputs, samples.static, samples.channels, samples.static_names
    )
    assert len(frame) == len(samples) * samples.inputs.shape[2]
    _ids, x, s = arrays_from_frame(
        frame.sample(frac=1.0, random_state=0).sort_index(),
        samples.channels,
        samples.static_names,
        samples.inputs.shape[2],
    )
    np.testing.assert_allclose(x, samples.inputs, rtol=1e-6)
    np.testing.assert_allclose(s, samples.static, rtol=1e-6)
    out = predictor.predict_frame(frame)
    direct = predictor.predict_arrays(samples.inputs, samples.static)
    np.testing.assert_allclose(
        out["vertical"].to_numpy().reshape(len(samples), -1), direct[:, 0], rtol=1e-5
    )


def test_missing_column_is_named(predictor: GrfPredictor) -> None:
    samples, _ = make_samples(subjects=2, per_subject=2)
    frame = frame_from_arrays(
        samples.inputs, samples.static, samples.channels, samples.static_names
    ).drop(columns=["acc_pelvis_z"])
    with pytest.raises(PredictorError, match="acc_pelvis_z"):
        predictor.predict_frame(frame)


def test_wrong_shapes_are_refused(predictor: GrfPredictor) -> None:
    samples, _ = make_samples(subjects=2, per_subject=2)
    with pytest.raises(PredictorError, match="expected"):
        predictor.predict_arrays(samples.inputs[:, :2], samples.static)
    with pytest.raises(PredictorError, match="static subject features"):
        predictor.predict_arrays(samples.inputs)


def test_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(PredictorError, match="not a model bundle"):
        GrfPredictor.load(tmp_path)
