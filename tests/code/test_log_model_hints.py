"""Logging a model prints none of MLflow's signature hints that do not apply to gaitgrf's models
(`gaitgrf.tracking.client._SIGNATURE_HINTS`): two such lines per study used to fill `dvc repro`."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from champion_factory import Champion, session_champion

from gaitgrf.predictor import GrfPredictor, frame_from_arrays
from gaitgrf.tracking.client import _SIGNATURE_HINTS, TUNING_EXPERIMENT, Tracker


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> Champion:
    return session_champion(tmp_path_factory)


def test_log_grf_model_is_quiet_about_signature_hints(champion: Champion, tmp_path: Path) -> None:
    predictor = GrfPredictor.load(champion.bundle_dir)
    n, c, t = 2, len(predictor.channels), predictor.length
    inputs = np.random.default_rng(0).normal(size=(n, c, t)).astype(np.float32)
    static = np.zeros((n, len(predictor.static_names)), np.float32)
    raw = frame_from_arrays(inputs, static, predictor.channels, predictor.static_names)
    normalised = (inputs, np.zeros((n, len(predictor.normaliser.static_names_out)), np.float32))
    tracker = Tracker(champion.tracking_uri, tmp_path / "artifacts")
    run = tracker.start_run(TUNING_EXPERIMENT, "quiet#refit")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        uri = tracker.log_grf_model(
            run, champion.bundle_dir, raw, normalised, [], study="quiet__subject"
        )
    messages = [str(w.message) for w in seen]
    patterns = (*_SIGNATURE_HINTS, r".*Add type hints to the `predict` method")
    assert not [m for m in messages if any(re.match(p, m) for p in patterns)]
    assert uri.startswith("models:/")
    # the filter is scoped to the logging: afterwards the same hint reaches the caller again
    with warnings.catch_warnings(record=True) as after:
        warnings.simplefilter("always")
        warnings.warn("Hint: Inferred schema contains integer column(s).", UserWarning, 1)
    assert len(after) == 1
