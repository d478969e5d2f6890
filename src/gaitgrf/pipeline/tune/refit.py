"""The refit: a study's best hyperparameters trained on all tuning subjects, saved and logged.

The model bundle (`GrfPredictor`) is what evaluation and serving load; with a tracker, the
refit is also an MLflow child run of the study that owns the logged model (the URI the
promotion stage registers).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gaitgrf import models
from gaitgrf.pipeline.tune.data import subsample
from gaitgrf.pipeline.tune.objective import StudyContext
from gaitgrf.pipeline.tune.study import study_name
from gaitgrf.runtime import redact

if TYPE_CHECKING:
    import optuna

    from gaitgrf.predictor import GrfPredictor
    from gaitgrf.training.loop import Trained


@dataclass(frozen=True)
class _Refit:
    trained: Trained
    hp: dict[str, Any]
    #: Sample positions it trained on.
    index: np.ndarray
    epochs: int
    seconds: float


def refit(
    ctx: StudyContext,
    best: optuna.trial.FrozenTrial,
    bundle: Path,
    pip_requirements: Sequence[str],
) -> dict[str, Any]:
    """Train the best trial's hyperparameters on all tuning subjects; save and log the model."""
    done = train_best(ctx, best)
    name = study_name(ctx.arch, ctx.condition)
    _save_bundle(ctx, best, done, bundle)
    ctx.log(
        f"{name}: refit trial {best.number} on {done.index.size} samples, {done.epochs} epoch(s) "
        f"({done.seconds:.1f} s)"
    )
    result: dict[str, Any] = {
        "refit": {
            "epochs": done.epochs,
            "samples": int(done.index.size),
            "seconds": done.seconds,
            "train_loss": [e.train_loss for e in done.trained.result.history],
        },
        "bundle": bundle.name,
        "mlflow": None,
    }
    if ctx.tracker is None or ctx.parent_run is None:
        return result
    result["mlflow"] = _log_refit_run(ctx, best, done, bundle, pip_requirements)
    return result


def train_best(ctx: StudyContext, best: optuna.trial.FrozenTrial) -> _Refit:
    """One training run on the tuning subjects for the mean best epoch of the trial's folds."""
    from gaitgrf.training.loop import train_once

    budget = ctx.budget
    best_epochs = best.user_attrs.get("best_epochs") or [budget.epochs - 1]
    epochs = budget.refit_epochs or round(float(np.mean(best_epochs))) + 1
    hp = {**models.get(ctx.arch).defaults, **best.params, **ctx.fixed_hp}
    index = subsample(ctx.data.tuning_index, budget.max_refit_samples, ctx.cfg.seed)
    start = time.perf_counter()
    trained = train_once(
        ctx.data.samples,
        ctx.arch,
        hp,
        index,
        None,
        epochs=epochs,
        patience=0,
        seed=ctx.cfg.seed,
        threads=ctx.cfg.threads,
    )
    seconds = time.perf_counter() - start
    return _Refit(trained=trained, hp=hp, index=index, epochs=epochs, seconds=seconds)


def _save_bundle(
    ctx: StudyContext, best: optuna.trial.FrozenTrial, done: _Refit, bundle: Path
) -> None:
    """Write the `GrfPredictor` bundle, its metadata naming the study, trial and data."""
    predictor = refit_predictor(ctx, done)
    predictor.metadata = {
        "study": study_name(ctx.arch, ctx.condition),
        "best_trial": best.number,
        "cv_val_loss": best.value,
        "refit_epochs": done.epochs,
        "refit_samples": int(done.index.size),
        **{k.removeprefix("gaitgrf."): v for k, v in ctx.tags.items()},
    }
    predictor.save(bundle)


def refit_predictor(ctx: StudyContext, done: _Refit) -> GrfPredictor:
    """The refit network with its normaliser as a `GrfPredictor` (no metadata yet)."""
    from gaitgrf.predictor import GrfPredictor

    samples = ctx.data.samples
    return GrfPredictor(
        architecture=ctx.arch,
        hp=done.hp,
        condition=ctx.condition,
        layout=samples.layout,
        normaliser=done.trained.normaliser,
        length=int(samples.inputs.shape[2]),
        network=done.trained.network,
    )


def _log_refit_run(
    ctx: StudyContext,
    best: optuna.trial.FrozenTrial,
    done: _Refit,
    bundle: Path,
    pip_requirements: Sequence[str],
) -> dict[str, Any]:
    """The refit's MLflow child run: hyperparameters, losses and the logged model."""
    from gaitgrf.predictor import frame_from_arrays
    from gaitgrf.tracking.client import TUNING_EXPERIMENT

    assert ctx.tracker is not None and ctx.parent_run is not None
    tracker, samples, index = ctx.tracker, ctx.data.samples, done.index
    run = tracker.start_run(
        TUNING_EXPERIMENT,
        f"{study_name(ctx.arch, ctx.condition)}#refit",
        {**ctx.tags, "gaitgrf.role": "refit"},
        parent=ctx.parent_run,
        note=f"The best trial of {study_name(ctx.arch, ctx.condition)} (trial {best.number}) "
        "refit on all tuning subjects; `model` (pyfunc, raw inputs) is what gets registered, "
        "`network` the bare PyTorch network.",
    )
    tracker.log_params(run, done.hp)
    for e in done.trained.result.history:
        tracker.log_metrics(run, {"train_loss": e.train_loss}, step=e.epoch)
    tracker.log_metrics(run, {"cv_val_loss": float(best.value or np.nan), "seconds": done.seconds})
    example_idx = index[:2]
    raw = frame_from_arrays(
        samples.inputs[example_idx],
        samples.static[example_idx],
        samples.channels,
        samples.static_names,
    )
    x, s = done.trained.normaliser.transform(samples.take(example_idx))
    uri = tracker.log_grf_model(
        run, bundle, raw, (x, s), pip_requirements, study=study_name(ctx.arch, ctx.condition)
    )
    tracker.end_run(run)
    return {
        "tracking_uri": redact(tracker.tracking_uri),
        "experiment": TUNING_EXPERIMENT,
        "parent_run_id": ctx.parent_run,
        "refit_run_id": run,
        "model_uri": uri,
    }
