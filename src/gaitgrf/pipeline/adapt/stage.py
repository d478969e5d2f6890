"""DVC stage `adapt`: the start model (`adapt.start`) adapted to every cohort of `adapt.cohorts`.

The start model is a study's tuned bundle or a registered model (`models:/...`, resolved in the
project's tracking store). Its samples are the fused set of its own layout and condition, so
the inputs are exactly those it was trained on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from gaitgrf.core.artifacts import Artifacts
from gaitgrf.pipeline.adapt.report import write_adaptation
from gaitgrf.pipeline.adapt.run import AdaptationError, CohortAdaptation, adapt_cohort

if TYPE_CHECKING:
    from gaitgrf.core.config import Params
    from gaitgrf.predictor import GrfPredictor


def load_start(params: Params, artifacts: Artifacts, environ: Mapping[str, str]) -> GrfPredictor:
    """The model `adapt.start` names: a study's bundle, or a URI in the project's registry."""
    start = params.adapt.start
    if start.startswith("models:/"):
        from gaitgrf.runtime import tracking_uri
        from gaitgrf.serving.inputs import load_predictor

        return load_predictor(start, tracking_uri(params, environ))
    from gaitgrf.predictor import GrfPredictor

    bundle = artifacts.study_bundle(start)
    if not bundle.is_dir():
        raise AdaptationError(
            f"adapt.start: study {start} has no tuned model at {bundle}; name a study of "
            "models.architectures x fuse.conditions and run `dvc repro`"
        )
    return GrfPredictor.load(bundle)


def adapt_stage(
    params: Params, environ: Mapping[str, str], log: Callable[[str], None]
) -> dict[str, Any]:
    """Adapt, write reports/adaptation.md and reports/adaptation/; return the metrics."""
    from gaitgrf.core.samples import SampleSet

    cfg = params.adapt
    artifacts = Artifacts.from_paths(params.paths)
    results: list[CohortAdaptation] = []
    layout = params.tune.layout
    if cfg.cohorts:
        start = load_start(params, artifacts, environ)
        layout = start.layout
        samples = SampleSet.load(artifacts.fused_set(start.layout, start.condition))
        for cohort in cfg.cohorts:
            results.append(
                adapt_cohort(
                    start,
                    samples,
                    cohort,
                    cfg,
                    seed=params.tune.seed,
                    threads=params.tune.threads,
                    log=log,
                )
            )
    context = {"start": cfg.start, "epochs": cfg.epochs, "lr_factor": cfg.lr_factor}
    return write_adaptation(
        artifacts.adaptation_dir(),
        artifacts.adaptation_report(),
        results,
        context,
        stance=layout == "stance",
    )


def summary_lines(metrics: Mapping[str, Any], report: Any) -> list[str]:
    """One line per cohort: mean rRMSE of each arm; the report's path."""
    lines = [
        f"adapt: {cohort}: mean rRMSE "
        + ", ".join(f"{arm} {m['rrmse_mean']:.1f} %" for arm, m in arms.items())
        for cohort, arms in metrics.items()
    ]
    return [*lines, f"adapt: report -> {report}"]
