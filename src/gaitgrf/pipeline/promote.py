"""Promotion in the MLflow model registry: `challenger` always, `champion` only when earned.

The challenger is the (architecture, condition) with the best *validation* score (cross-validated
loss from tuning): the test subjects pick nothing. It is registered as a new version of the
registered model (or its existing version reused when the same refit run was registered before)
and gets the alias `challenger`.

The challenger and the current champion are then scored on the *same* held-out test subjects
(docs/promotion.md). `champion` moves only when the challenger's primary metric (mean rRMSE) is
lower by at least `margin` (relative) and no component's rRMSE is worse by more than `tolerance`
(relative). A champion that cannot be scored on the current data (other channels or features)
is never replaced automatically: that needs a person (`gaitgrf registry promote`).
Every decision, with its numbers, goes to the report file and to the version's tags.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from gaitgrf.core.artifacts import Artifacts
from gaitgrf.core.errors import GaitGrfError
from gaitgrf.core.samples import TARGETS
from gaitgrf.pipeline.evaluate.metrics import PRIMARY, component_metrics

if TYPE_CHECKING:
    from gaitgrf.core.config import Params, PromoteConfig, TuneConfig
    from gaitgrf.predictor import GrfPredictor
    from gaitgrf.tracking.client import Tracker

CHAMPION: Final = "champion"
CHALLENGER: Final = "challenger"
PREVIOUS_TAG: Final = "gaitgrf.previous_champion"
#: The registered model's description (its page in the MLflow UI).
MODEL_DESCRIPTION: Final = (
    "Ground reaction forces (vertical, anterior, lateral; in body weights) over a stance or "
    "window, from wearable sensor signals and subject features. Serve `models:/<name>@champion`"
    "; `challenger` is the latest candidate. Each version's tags hold its study, data version, "
    "git commit, test metrics and promotion decision (docs/promotion.md)."
)


class PromotionError(GaitGrfError):
    hint = "`gaitgrf registry show` lists the registered versions and their aliases"


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str
    challenger: dict[str, float]
    champion: dict[str, float] | None
    checks: dict[str, bool] = field(default_factory=dict)


def decide(
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    *,
    margin: float,
    tolerance: float,
) -> Decision:
    """Compare test metrics (lower rRMSE is better); pure, so every rule is unit-tested."""
    chal = {k: float(v) for k, v in challenger.items()}
    if champion is None:
        return Decision(
            True, "no champion yet: the challenger becomes the first champion", chal, None
        )
    champ = {k: float(v) for k, v in champion.items()}
    checks = {"primary": chal[PRIMARY] <= champ[PRIMARY] * (1.0 - margin)}
    for name in TARGETS:
        key = f"{name}_rrmse"
        checks[key] = chal[key] <= champ[key] * (1.0 + tolerance)
    if not all(np.isfinite(list(chal.values()))):
        checks["finite"] = False
    if all(checks.values()):
        reason = (
            f"challenger {PRIMARY} {chal[PRIMARY]:.3f} beats champion {champ[PRIMARY]:.3f} by "
            f">= {margin:.0%} and no component is worse by more than {tolerance:.0%}"
        )
        return Decision(True, reason, chal, champ, checks)
    failed = [k for k, ok in checks.items() if not ok]
    reason = (
        f"champion kept: challenger {PRIMARY} {chal[PRIMARY]:.3f} vs champion "
        f"{champ[PRIMARY]:.3f}; failed check(s): {', '.join(failed)} "
        f"(margin {margin:.0%}, tolerance {tolerance:.0%})"
    )
    return Decision(False, reason, chal, champ, checks)


# --- scoring on the test subjects --------------------------------------------------------------
def test_metrics(
    predictor: GrfPredictor, artifacts: Artifacts, subjects: pd.DataFrame, cfg: TuneConfig
) -> dict[str, float]:
    """Pooled component metrics of `predictor` on the hold-out of its own condition's data."""
    from gaitgrf.core.samples import SampleSet
    from gaitgrf.training.splits import sample_index, split_subjects

    path = artifacts.fused_set(predictor.layout, predictor.condition)
    if not path.is_file():
        raise PromotionError(
            f"{path}: no fused data for layout {predictor.layout!r} and "
            f"condition {predictor.condition!r}"
        )
    samples = SampleSet.load(path)
    if tuple(samples.channels) != predictor.channels:
        raise PromotionError(f"{path}: channels differ from those the model was trained on")
    if tuple(samples.static_names) != predictor.static_names:
        raise PromotionError(f"{path}: static features differ from the model's")
    idx = sample_index(samples.groups, split_subjects(samples, subjects, cfg).test)
    predicted = predictor.predict_arrays(samples.inputs[idx], samples.static[idx])
    return component_metrics(samples.targets[idx], predicted)


def pick_challenger(summaries: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """Best validation score (cv loss) among the tuned studies that logged a model."""
    usable = [
        s
        for s in summaries
        if s.get("cv_val_loss") is not None and (s.get("mlflow") or {}).get("model_uri")
    ]
    if not usable:
        raise PromotionError("no tuned study has a logged model; run the tune stages first")
    return min(usable, key=lambda s: float(s["cv_val_loss"]))


def load_registered(tracker: Tracker, name: str, version: str) -> GrfPredictor:
    """The predictor inside a registered pyfunc version (what `models:/name@alias` serves)."""
    import mlflow.pyfunc

    from gaitgrf.tracking.client import fluent_uris

    uri = tracker.model_uri(name, version)
    with fluent_uris(tracker.tracking_uri):
        model = mlflow.pyfunc.load_model(uri)
    predictor: GrfPredictor = model.unwrap_python_model().predictor
    return predictor


def promote(
    *,
    tracker: Tracker,
    summaries: Sequence[Mapping[str, Any]],
    artifacts: Artifacts,
    subjects: pd.DataFrame,
    tune_cfg: TuneConfig,
    cfg: PromoteConfig,
    log: Any = print,
) -> dict[str, Any]:
    """Register the challenger, compare it with the champion, move `champion` if earned."""
    name = cfg.model_name
    best = pick_challenger(summaries)
    version, chal_metrics = _register_challenger(
        tracker, name, best, artifacts, subjects, tune_cfg, log
    )
    champion_version = tracker.alias_version(name, CHAMPION)
    decision = _decide_against_champion(
        tracker, name, version, champion_version, chal_metrics, artifacts, subjects, tune_cfg, cfg
    )
    stamp = _apply_decision(tracker, name, version, champion_version, decision)
    record = _decision_record(stamp, name, best, version, champion_version, decision, cfg)
    for path, content in (
        (artifacts.promotion_report(), record),
        (artifacts.promotion_metrics(), decision_metrics(record)),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=2) + "\n")
    log(("PROMOTED: " if decision.promoted else "not promoted: ") + decision.reason)
    return record


def _register_challenger(
    tracker: Tracker,
    name: str,
    best: Mapping[str, Any],
    artifacts: Artifacts,
    subjects: pd.DataFrame,
    tune_cfg: TuneConfig,
    log: Any,
) -> tuple[str, dict[str, float]]:
    """Score the challenger on the test subjects, register it (or reuse the version of its
    refit run) with its numbers as tags, and give it the `challenger` alias.

    Returns its registered version and its test metrics.
    """
    from gaitgrf.predictor import GrfPredictor

    ml = best["mlflow"]
    existing = [v for v in tracker.versions(name) if v["run_id"] == ml["refit_run_id"]]
    challenger = GrfPredictor.load(artifacts.study_bundle(str(best["study"])))
    chal_metrics = test_metrics(challenger, artifacts, subjects, tune_cfg)
    tags = {
        "gaitgrf.study": best["study"],
        "gaitgrf.architecture": best["architecture"],
        "gaitgrf.condition": best["condition"],
        "gaitgrf.cv_val_loss": f"{float(best['cv_val_loss']):.5f}",
        "gaitgrf.data_version": best.get("data_version"),
        "gaitgrf.git_commit": best.get("git_commit"),
        **{f"gaitgrf.test.{k}": f"{v:.5f}" for k, v in chal_metrics.items()},
    }
    about = _version_description(best, chal_metrics)
    if existing:
        version = str(existing[-1]["version"])
        tracker.tag_version(name, version, tags)
        tracker.describe_version(name, version, about)
        if existing[-1]["model_id"]:  # a version registered before the link was written
            tracker.link_version(name, version, str(existing[-1]["model_id"]))
    else:
        version = tracker.register(name, ml["model_uri"], ml["refit_run_id"], tags, about)
    tracker.describe_model(name, MODEL_DESCRIPTION)
    tracker.set_alias(name, CHALLENGER, version)
    log(
        f"{name} v{version} ({best['study']}) is the {CHALLENGER}: cv loss "
        f"{float(best['cv_val_loss']):.4f}, test {PRIMARY} {chal_metrics[PRIMARY]:.3f}"
    )
    return version, chal_metrics


def _version_description(best: Mapping[str, Any], chal_metrics: Mapping[str, float]) -> str:
    """A version's description: which study it is and how it scored, in one sentence."""
    return (
        f"{best['study']} ({best['architecture']}, condition {best['condition']}): "
        f"cv loss {float(best['cv_val_loss']):.4f}, test {PRIMARY} "
        f"{chal_metrics[PRIMARY]:.2f} %, data {best.get('data_version')}, refit run "
        f"{(best.get('mlflow') or {}).get('refit_run_id')}."
    )


def _decide_against_champion(
    tracker: Tracker,
    name: str,
    version: str,
    champion_version: str | None,
    chal_metrics: dict[str, float],
    artifacts: Artifacts,
    subjects: pd.DataFrame,
    tune_cfg: TuneConfig,
    cfg: PromoteConfig,
) -> Decision:
    """The decision for challenger `version`: already champion, champion not comparable on the
    current data (kept), or `decide` on both models' test metrics."""
    champ_metrics: dict[str, float] | None = None
    if champion_version == version:
        return Decision(False, f"v{version} is already the champion", chal_metrics, chal_metrics)
    incomparable = None
    if champion_version is not None:
        try:
            champ = load_registered(tracker, name, champion_version)
            champ_metrics = test_metrics(champ, artifacts, subjects, tune_cfg)
        except PromotionError as exc:
            incomparable = str(exc)
    if incomparable is not None:
        return Decision(
            False,
            f"champion v{champion_version} cannot be scored on the current data "
            f"({incomparable}); champion kept, promote by hand if intended",
            chal_metrics,
            None,
        )
    return decide(chal_metrics, champ_metrics, margin=cfg.margin, tolerance=cfg.tolerance)


def _apply_decision(
    tracker: Tracker,
    name: str,
    version: str,
    champion_version: str | None,
    decision: Decision,
) -> str:
    """Move `champion` when promoted (remembering the one it replaces) and tag the decision on
    the challenger's version; returns the decision's timestamp."""
    if decision.promoted:
        tracker.set_alias(name, CHAMPION, version)
        if champion_version is not None:
            tracker.tag_version(name, version, {PREVIOUS_TAG: champion_version})
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    tracker.tag_version(
        name,
        version,
        {
            "gaitgrf.decision": "promoted" if decision.promoted else "not promoted",
            "gaitgrf.decision_reason": decision.reason,
            "gaitgrf.decided_at": stamp,
        },
    )
    return stamp


def _decision_record(
    stamp: str,
    name: str,
    best: Mapping[str, Any],
    version: str,
    champion_version: str | None,
    decision: Decision,
    cfg: PromoteConfig,
) -> dict[str, Any]:
    """The promotion report (reports/promotion.json): the decision and its numbers."""
    ml = best["mlflow"]
    return {
        "decided_at": stamp,
        "model_name": name,
        "promoted": decision.promoted,
        "reason": decision.reason,
        "checks": decision.checks,
        "challenger": {
            "version": version,
            "study": best["study"],
            "cv_val_loss": best["cv_val_loss"],
            "model_uri": ml["model_uri"],
            "test": decision.challenger,
        },
        "champion": {"version": champion_version, "test": decision.champion},
        "champion_before": champion_version,
        "champion_after": version if decision.promoted else champion_version,
        "margin": cfg.margin,
        "tolerance": cfg.tolerance,
    }


def decision_metrics(record: Mapping[str, Any]) -> dict[str, Any]:
    """The stage's DVC metrics: the decision `record` in numbers only (names, reason and time
    stay in reports/promotion.json). `champion_version` is the champion after the decision,
    `champion_before_rrmse_mean` the score of the one compared with (absent if none)."""
    challenger = record["challenger"]
    out: dict[str, Any] = {
        "promoted": int(bool(record["promoted"])),
        "challenger_version": int(challenger["version"]),
        "challenger_cv_val_loss": round(float(challenger["cv_val_loss"]), 5),
        "challenger_rrmse_mean": round(float(challenger["test"][PRIMARY]), 5),
    }
    if record.get("champion_after") is not None:
        out["champion_version"] = int(record["champion_after"])
    before = (record.get("champion") or {}).get("test")
    if before:
        out["champion_before_rrmse_mean"] = round(float(before[PRIMARY]), 5)
    return out


def rollback(tracker: Tracker, name: str) -> tuple[str, str]:
    """Move `champion` back to the version it replaced; returns (from, to)."""
    current = tracker.alias_version(name, CHAMPION)
    if current is None:
        raise PromotionError(f"registered model {name!r} has no {CHAMPION} to roll back")
    tags = next(v["tags"] for v in tracker.versions(name) if v["version"] == current)
    previous = tags.get(PREVIOUS_TAG)
    if not previous:
        raise PromotionError(
            f"{name} v{current} was the first {CHAMPION}: there is no previous one to go back to"
        )
    tracker.set_alias(name, CHAMPION, previous)
    tracker.tag_version(
        name,
        current,
        {
            "gaitgrf.rolled_back_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )
    return current, previous


def read_summaries(artifacts: Artifacts, studies: Sequence[str]) -> list[dict[str, Any]]:
    out = []
    for study in studies:
        path = artifacts.study_summary(study)
        if not path.is_file():
            raise PromotionError(f"{path}: missing; run the tune stage of {study}")
        out.append(json.loads(path.read_text()))
    return out


# --- the stage ---------------------------------------------------------------------------------
def promote_stage(
    params: Params, environ: Mapping[str, str], log: Callable[[str], None]
) -> dict[str, Any]:
    """DVC stage `promote`: `promote` over every study of params, with the stores of params
    overridden by `environ` (`gaitgrf.runtime`); returns the decision record."""
    from gaitgrf.pipeline.fuse.features import read_subjects
    from gaitgrf.pipeline.tune.study import study_names
    from gaitgrf.runtime import open_tracker

    artifacts = Artifacts.from_paths(params.paths)
    studies = study_names(params.models.architectures, params.fuse.conditions)
    return promote(
        tracker=open_tracker(params, environ),
        summaries=read_summaries(artifacts, studies),
        artifacts=artifacts,
        subjects=read_subjects(artifacts.subjects_table()),
        tune_cfg=params.tune,
        cfg=params.promote,
        log=log,
    )
