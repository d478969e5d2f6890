"""Fine-tuning: a trained model's network trained further on new subjects, its inputs unchanged.

The normaliser is the start model's, not refitted: the network's weights were learnt on inputs
standardised that way, and a lab cohort of a few subjects gives poor statistics of its own. The
copy is trained, the start model is left as it was (it is also the "no adaptation" arm of
`pipeline.adapt`).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np

from gaitgrf.training.loop import FitResult, dataset, fit, fit_config

if TYPE_CHECKING:
    from gaitgrf.core.samples import SampleSet
    from gaitgrf.predictor import GrfPredictor


def fine_tune(
    start: GrfPredictor,
    samples: SampleSet,
    index: np.ndarray,
    *,
    epochs: int,
    lr_factor: float,
    seed: int,
    threads: int | None,
) -> tuple[GrfPredictor, FitResult]:
    """A copy of `start` trained `epochs` epochs on `samples[index]` at its learning rate x
    `lr_factor` (its batch size and weight decay), without early stopping: a few lab subjects
    leave none to spare for validation."""
    if index.size == 0:
        raise ValueError("fine-tuning needs at least one training sample")
    if tuple(samples.channels) != tuple(start.channels):
        raise ValueError(
            f"the samples' channels {list(samples.channels)} are not the model's "
            f"{list(start.channels)}"
        )
    tuned = copy.deepcopy(start)
    x, s = tuned.normaliser.transform(samples.take(index))
    cfg = fit_config(
        tuned.hp, epochs=epochs, patience=0, seed=seed, threads=threads, lr_factor=lr_factor
    )
    result = fit(tuned.network, dataset(x, s, samples.targets[index]), None, cfg)
    tuned.network.eval()
    return tuned, result
