"""A TPE sampler whose randomness belongs to the trial, not to the process.

`TPESampler(seed=s)` seeds one random stream when the sampler is built. A study that is resumed
in a new process (or shared by several `--worker` processes) builds a new sampler with the same
seed and replays the same stream: trials 1, 3, 5 of a twice-resumed study drew the same
hyperparameters, and so did two workers. Here every trial gets a fresh TPE sampler seeded from
the study's seed *and the trial's number*, which storage hands out once per trial. The draw of
trial n therefore depends only on the study seed, n and the trials already finished, the same
whether the study ran in one go, was resumed, or was shared by workers.

TPE keeps no state between trials except its random stream (it reads the history from the
study every time), so a sampler per trial changes nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, TPESampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

#: A large prime keeps the seeds of consecutive trials far apart.
_STRIDE = 1_000_003


class TrialSeededTPESampler(BaseSampler):
    """TPE whose random stream for trial n is seeded by (seed, n); see the module docstring."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._tpe = TPESampler(seed=seed)

    def trial_seed(self, number: int) -> int:
        return (self._seed + _STRIDE * (number + 1)) % 2**31

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._tpe = TPESampler(seed=self.trial_seed(trial.number))
        self._tpe.before_trial(study, trial)

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._tpe.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._tpe.sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._tpe.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._tpe.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._tpe.reseed_rng()
