"""The MLflow parent run of a study and the tags every run of the study carries.

A study's trials and refit are child runs of one parent run in the tuning experiment; a
re-run of the same study (same fingerprint) resumes that parent instead of starting another.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gaitgrf.core.config import BudgetConfig
from gaitgrf.pipeline.tune.study import study_name

if TYPE_CHECKING:
    from gaitgrf.pipeline.tune.run import StudyRequest
    from gaitgrf.tracking.client import Tracker


def study_tags(request: StudyRequest, print_: str) -> dict[str, str]:
    return {
        "gaitgrf.study": study_name(request.arch, request.condition),
        "gaitgrf.architecture": request.arch,
        "gaitgrf.condition": request.condition,
        "gaitgrf.data_version": request.data_version,
        "gaitgrf.git_commit": request.git_commit,
        "gaitgrf.fingerprint": print_,
    }


def parent_run(
    tracker: Tracker | None,
    name: str,
    print_: str,
    tags: dict[str, str],
    budget: BudgetConfig,
    profile: str,
    role: str = "study",
    note: str | None = None,
) -> str | None:
    """The study's MLflow parent run: resumed when one of this fingerprint exists, else new.

    `role` tells a hold-out study ("study") from a nested outer-fold one ("outer_study"), so
    a search for one never finds the other; `note` replaces the run's default description.
    """
    from gaitgrf.tracking.client import TUNING_EXPERIMENT

    if tracker is None:
        return None
    found = tracker.find_run(
        TUNING_EXPERIMENT,
        {"gaitgrf.study": name, "gaitgrf.fingerprint": print_, "gaitgrf.role": role},
    )
    if found is not None:
        parent: str = found.info.run_id
        tracker.resume_run(parent)
        return parent
    parent = tracker.start_run(
        TUNING_EXPERIMENT,
        name,
        {**tags, "gaitgrf.role": role},
        note=note
        or f"Optuna study {name}: one child run per trial, and the refit of the "
        "best trial on all tuning subjects, which owns the logged models.",
    )
    tracker.log_params(
        parent,
        {"budget.profile": profile, **{f"budget.{k}": v for k, v in budget.model_dump().items()}},
    )
    return parent
