"""Resumed studies and parallel workers never repeat hyperparameters (the hardening issue).

Before: `TPESampler(seed=...)` was rebuilt on every process start, so a study resumed twice
ran trials 1, 3, 5 with one parameter set and 2, 4, 6 with another, and two workers drew the same
sequence. Each "process" here is a fresh `load_study` with a fresh sampler from
`gaitgrf.pipeline.tune.study._sampler`, exactly what a new stage or worker process builds.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from gaitgrf.pipeline.tune.study import _sampler

NAME = "lstm__base"


def _space(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    width = trial.suggest_int("width", 8, 256)
    dropout = trial.suggest_float("dropout", 0.0, 0.5)
    trial.suggest_categorical("act", ["relu", "gelu", "tanh"])
    return (lr - 0.01) ** 2 + (width - 64) ** 2 * 1e-6 + dropout


def _process(storage: str, seed: int = 0) -> optuna.Study:
    return optuna.create_study(
        study_name=NAME, storage=storage, sampler=_sampler(seed, NAME), load_if_exists=True
    )


def _params(storage: str) -> list[tuple[object, ...]]:
    study = optuna.load_study(study_name=NAME, storage=storage)
    return [tuple(sorted(t.params.items())) for t in study.trials]


@pytest.fixture(autouse=True)
def _quiet() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_a_study_resumed_twice_never_repeats_parameters(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    for _ in range(3):  # start, killed, resumed, killed, resumed
        _process(storage).optimize(_space, n_trials=2)
    drawn = _params(storage)
    assert len(drawn) == 6
    assert len(set(drawn)) == 6


def test_resuming_draws_what_one_uninterrupted_run_draws(tmp_path: Path) -> None:
    """Reproducible: the same seed gives the same trials however often the study restarts."""
    whole = f"sqlite:///{tmp_path / 'whole.db'}"
    _process(whole).optimize(_space, n_trials=4)
    pieces = f"sqlite:///{tmp_path / 'pieces.db'}"
    for _ in range(4):
        _process(pieces).optimize(_space, n_trials=1)
    assert _params(whole) == _params(pieces)


def test_two_workers_on_one_study_draw_different_parameters(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    first, second = _process(storage), _process(storage)
    for _ in range(3):  # interleaved, as two processes asking at about the same time
        a, b = first.ask(), second.ask()
        first.tell(a, _space(a))
        second.tell(b, _space(b))
    drawn = _params(storage)
    assert len(drawn) == 6
    assert len(set(drawn)) == 6


def test_studies_with_other_seeds_or_names_differ(tmp_path: Path) -> None:
    one = f"sqlite:///{tmp_path / 'a.db'}"
    other = f"sqlite:///{tmp_path / 'b.db'}"
    _process(one, seed=0).optimize(_space, n_trials=2)
    _process(other, seed=1).optimize(_space, n_trials=2)
    assert set(_params(one)).isdisjoint(_params(other))
