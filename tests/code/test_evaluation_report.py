"""The evaluation report (gaitgrf.pipeline.evaluate.run.write_outputs and .report): what it says
of models whose test predictions are constructed, so every verdict is known in advance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gaitgrf.core.artifacts import Artifacts
from gaitgrf.core.config import PathsConfig
from gaitgrf.pipeline.evaluate.metrics import ModelResult, evaluate_model
from gaitgrf.pipeline.evaluate.run import write_outputs
from tests.sample_factory import make_samples

SAMPLES, _ = make_samples(subjects=10, per_subject=6)


class StubPredictor:
    """Stands in for a loaded bundle: returns the predictions it was built with."""

    layout = "stance"

    def __init__(self, architecture: str, condition: str, predicted: np.ndarray) -> None:
        import torch

        self.architecture, self.condition, self.predicted = architecture, condition, predicted
        self.network = torch.nn.Linear(2, 3)

    def predict_arrays(self, inputs: np.ndarray, static: np.ndarray) -> np.ndarray:
        return self.predicted[: len(inputs)]


def noisy(sd: float, seed: int) -> np.ndarray:
    """The measured forces plus white noise of `sd` BW: a model that errs by about `sd`."""
    rng = np.random.default_rng(seed)
    return (SAMPLES.targets + rng.normal(0, sd, SAMPLES.targets.shape)).astype(np.float32)


def scored(arch: str, condition: str, predicted: np.ndarray, **summary: Any) -> ModelResult:
    """`evaluate_model` of a stub predictor on every sample of SAMPLES."""
    return evaluate_model(
        StubPredictor(arch, condition, predicted),  # type: ignore[arg-type]
        SAMPLES.inputs,
        SAMPLES.static,
        SAMPLES.targets,
        SAMPLES.groups,
        {
            "study": f"{arch}__{condition}",
            "cv_val_loss": 0.5,
            "layout": "stance",
            "trials": {"COMPLETE": 3},
            "budget": {"n_trials": 3, "epochs": 4, "folds_used": None},
            **summary,
        },
    )


def report_of(tmp_path: Path, results: list[ModelResult]) -> tuple[Artifacts, str, dict]:  # type: ignore[type-arg]
    artifacts = Artifacts.from_paths(
        PathsConfig(tuned=tmp_path / "tuned", fused=tmp_path / "fused", reports=tmp_path / "rep")
    )
    context = {
        "test_subjects": 10,
        "test_samples": len(SAMPLES),
        "layout": "stance",
        "data_version": "test-v1",
        "external_cohorts": [],
        "external_subjects": 0,
    }
    metrics = write_outputs(results, artifacts, context, bootstrap=200, alpha=0.05)
    return artifacts, artifacts.evaluation_report().read_text(), metrics


def table_rows(report: str, heading: str) -> dict[str, list[str]]:
    """The rows of the first table under `heading`, by their first cell."""
    lines = report.split(heading, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2 :]:  # after the header and the alignment row
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return {row[0]: row for row in rows}


# --- item 9: the feature-effect verdict --------------------------------------------------------
def test_feature_verdict_says_helps_hurts_or_no_evidence(tmp_path: Path) -> None:
    """A significant harm is reported as `hurts`, not as "helps: no"."""
    results = [
        scored("gru", "base", noisy(0.02, 1)),
        scored("gru", "subject", noisy(0.06, 2)),  # every subject worse with the features
        scored("mlp", "base", noisy(0.06, 3)),
        scored("mlp", "subject", noisy(0.02, 4)),  # every subject better
        scored("lstm", "base", noisy(0.04, 5)),
        scored("lstm", "subject", noisy(0.04, 5)),  # the same predictions: no difference
    ]
    _, report, metrics = report_of(tmp_path, results)
    effects = metrics["feature_effects"]
    assert effects["gru"]["p_value"] < 0.05 and effects["gru"]["mean_diff"] > 0
    assert (effects["gru"]["helps"], effects["gru"]["hurts"]) == (False, True)
    assert (effects["mlp"]["helps"], effects["mlp"]["hurts"]) == (True, False)
    rows = table_rows(report, "## Do subject features help?")
    header = report.split("## Do subject features help?", 1)[1]
    assert "| p | effect size | verdict |" in header
    assert rows["gru"][-1] == "hurts"
    assert rows["mlp"][-1] == "helps"
    assert rows["lstm"][-1] == "no evidence"


@pytest.mark.parametrize(("shift", "expected"), [(-0.5, "helps"), (0.5, "hurts"), (0.0, "none")])
def test_paired_comparison_names_both_directions(shift: float, expected: str) -> None:
    import pandas as pd

    from gaitgrf.pipeline.evaluate.stats import paired_comparison, verdict

    rng = np.random.default_rng(0)
    base = pd.Series(rng.uniform(10, 12, 10), index=[f"s{i}" for i in range(10)])
    other = base + shift + (rng.normal(0, 0.01, 10) if shift else 0.0)
    out = paired_comparison(base, other, bootstrap=200, alpha=0.05)
    assert verdict(out) == {"none": "no evidence"}.get(expected, expected)
    assert out["helps"] is (expected == "helps") and out["hurts"] is (expected == "hurts")
