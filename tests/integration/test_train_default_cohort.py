"""Every architecture trains for one epoch on the default cohort's fused data.

The whole data path runs for real on the default synthetic cohort (40 subjects, 200 trials):
generate -> validate -> resample -> fuse; then a subject-wise hold-out, normalisation fitted on
the training subjects only, one epoch of `fit` per architecture, and predictions on held-out
subjects that must beat the same network untrained. The ImageNet backbones (~0.1 s per sample
and epoch on two cores, ~100x a custom network) take a seeded draw of the training and the
test subjects' samples: the same check at a fraction of the cost (their full epochs were a
quarter of the integration suite's time).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gaitgrf import models
from gaitgrf.core.config import Params
from gaitgrf.core.samples import SampleSet
from gaitgrf.models.base import ModelSpec
from gaitgrf.pipeline.fuse.features import read_subjects
from gaitgrf.pipeline.fuse.run import fuse
from gaitgrf.pipeline.resample.run import resample_cohorts
from gaitgrf.pipeline.validate.run import validate_cohorts
from gaitgrf.synth import generate_cohort
from gaitgrf.training.loop import FitConfig, dataset, fit, predict
from gaitgrf.training.normalisation import Normaliser
from gaitgrf.training.splits import hold_out, sample_index

pytestmark = pytest.mark.integration

PARAMS = Params()
#: Samples of the training / test subjects an ImageNet backbone's epoch draws (at most).
BACKBONE_SAMPLES = (512, 256)
#: The eight light architectures train in both conditions; the ImageNet backbones (minutes per
#: epoch on two cores) in the `subject` condition, the one the study reports them at their best.
CASES = [
    (name, condition)
    for name in models.REGISTRY
    for condition in ("base", "subject")
    if condition == "subject" or not models.get(name).image_backbone
]


@pytest.fixture(scope="module")
def fused(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("default-cohort")
    generate_cohort(PARAMS.synth, root / "raw" / PARAMS.synth.cohort_id, workers=2)
    validate_cohorts(
        root / "raw", root / "validated", root / "reports", PARAMS.contract, PARAMS.validate_
    )
    resample_cohorts(root / "validated", root / "resampled", root / "events.json", PARAMS.resample)
    fuse(root / "resampled", root / "fused", PARAMS.fuse)
    return root


@pytest.mark.parametrize(("name", "condition"), CASES)
def test_one_epoch_on_default_cohort(fused: Path, name: str, condition: str) -> None:
    samples = SampleSet.load(fused / "fused" / "stance" / f"{condition}.npz")
    split = hold_out(read_subjects(fused / "resampled" / "subjects.csv"), 0.2, seed=0)
    train = sample_index(samples.groups, split.tuning)
    test = sample_index(samples.groups, split.test)
    if models.get(name).image_backbone:
        rng = np.random.default_rng(0)
        train, test = (
            np.sort(rng.choice(idx, size=min(n, idx.size), replace=False))
            for idx, n in zip((train, test), BACKBONE_SAMPLES, strict=True)
        )
    assert not set(samples.groups[train]) & set(samples.groups[test])
    normaliser = Normaliser.fit(samples, train)
    x, s = normaliser.transform(samples)
    y = samples.targets
    spec = ModelSpec(channels=x.shape[1], length=x.shape[2], static=s.shape[1])
    torch.manual_seed(0)
    model = models.build(name, spec)
    before = predict(model, x[test], s[test])
    result = fit(
        model,
        dataset(x[train], s[train], y[train]),
        dataset(x[test], s[test], y[test]),
        FitConfig(epochs=1, batch_size=models.get(name).defaults["batch_size"], threads=2),
    )
    after = predict(model, x[test], s[test])
    assert len(result.history) == 1 and np.isfinite(result.history[0].train_loss)
    assert np.isfinite(after).all()
    rmse_before = np.sqrt(((before - y[test]) ** 2).mean(axis=(0, 2)))
    rmse_after = np.sqrt(((after - y[test]) ** 2).mean(axis=(0, 2)))
    # One epoch already beats the untrained network on the vertical force of unseen subjects.
    assert rmse_after[0] < rmse_before[0], (rmse_before, rmse_after)
