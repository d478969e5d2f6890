"""The evaluation report (gaitgrf.pipeline.evaluate.run.write_outputs and .report): what it says
of models whose test predictions are constructed, so every verdict is known in advance."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gaitgrf.core.artifacts import SUMMARY_FILE, Artifacts
from gaitgrf.core.config import Params, PathsConfig
from gaitgrf.pipeline.evaluate.metrics import ModelResult, evaluate_model
from gaitgrf.pipeline.evaluate.run import EvaluationError, write_outputs
from tests.sample_factory import StubPredictor, make_samples

SAMPLES, _ = make_samples(subjects=10, per_subject=6)


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


def table_rows(report: str, heading: str) -> list[list[str]]:
    """The rows (cells) of the first table under `heading`."""
    lines = report.split(heading, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2 :]:  # after the header and the alignment row
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


# --- item 9: the feature-effect verdict --------------------------------------------------------
def test_feature_verdict_says_helps_hurts_or_no_evidence(tmp_path: Path) -> None:
    """A significant harm is reported as `hurts`, not as "helps: no"."""
    results = [
        scored("gru", "base", noisy(0.01, 1)),
        scored("gru", "subject", noisy(0.03, 2)),  # every subject worse with the features
        scored("mlp", "base", noisy(0.03, 3)),
        scored("mlp", "subject", noisy(0.01, 4)),  # every subject better
        scored("lstm", "base", noisy(0.02, 5)),
        scored("lstm", "subject", noisy(0.02, 5)),  # the same predictions: no difference
    ]
    _, report, metrics = report_of(tmp_path, results)
    effects = metrics["feature_effects"]
    assert effects["gru"]["p_value"] < 0.05 and effects["gru"]["mean_diff"] > 0
    assert (effects["gru"]["helps"], effects["gru"]["hurts"]) == (False, True)
    assert (effects["mlp"]["helps"], effects["mlp"]["hurts"]) == (True, False)
    rows = {row[0]: row for row in table_rows(report, "## Do subject features help?")}
    header = report.split("## Do subject features help?", 1)[1]
    assert "| p | p Holm | r | d_z | verdict |" in header
    assert rows["gru"][-1] == "hurts"
    assert rows["mlp"][-1] == "helps"
    assert rows["lstm"][-1] == "no evidence"


@pytest.mark.parametrize(("shift", "expected"), [(-0.5, "helps"), (0.5, "hurts"), (0.0, "none")])
def test_paired_comparison_names_both_directions(shift: float, expected: str) -> None:
    from gaitgrf.pipeline.evaluate.stats import paired_comparison, verdict

    rng = np.random.default_rng(0)
    base = pd.Series(rng.uniform(10, 12, 10), index=[f"s{i}" for i in range(10)])
    other = base + shift + (rng.normal(0, 0.01, 10) if shift else 0.0)
    out = paired_comparison(base, other, bootstrap=200, alpha=0.05)
    assert verdict(out) == {"none": "no evidence"}.get(expected, expected)
    assert out["helps"] is (expected == "helps") and out["hurts"] is (expected == "hurts")


# --- item 8: diverged models -------------------------------------------------------------------
def mean_curve_guess() -> np.ndarray:
    """Each component's overall mean, everywhere: a converged but useless model (rRMSE ~60 %)."""
    means = SAMPLES.targets.mean(axis=(0, 2), keepdims=True)
    return np.broadcast_to(means, SAMPLES.targets.shape).astype(np.float32).copy()


def test_the_divergence_rule() -> None:
    """Non-finite, or an RMSE above the measured span of the force; never a constant guess
    inside that span, on any component; never a weak model."""
    from gaitgrf.pipeline.evaluate.divergence import divergence

    y = SAMPLES.targets
    low, high = float(y.min()), float(y.max())
    assert divergence(y, y) is None and divergence(y, noisy(0.05, 0)) is None
    assert divergence(y, mean_curve_guess()) is None
    rng = np.random.default_rng(0)
    for _ in range(20):  # any constant guess inside the span passes, whatever its component
        guess = np.broadcast_to(rng.uniform(low, high, size=(1, 3, 1)), y.shape)
        assert divergence(y, guess) is None
    assert divergence(y, np.broadcast_to(np.float32(low), y.shape)) is None
    broken = y.copy()
    broken[3, 1, 7] = np.nan
    assert divergence(y, broken) == "1 non-finite predicted value(s)"
    reason = divergence(y, noisy(100.0, 0))
    assert re.fullmatch(
        r"vertical RMSE 99\.\d BW, anterior RMSE 99\.\d BW, lateral RMSE 99\.\d BW > the "
        r"measured force span 1\.\d+ BW",
        reason or "",
    )
    lateral_off = y.copy()
    lateral_off[:, 2] += 1.01 * (high - low)  # only the small lateral force, beyond the span
    assert (divergence(y, lateral_off) or "").startswith("lateral RMSE")
    lateral_off[:, 2] = y[:, 2] + 0.99 * (high - low)  # within it: a bad model, not diverged
    assert divergence(y, lateral_off) is None


def test_a_diverged_model_is_listed_never_ranked_tested_or_plotted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gaitgrf.pipeline.evaluate.run as run

    bars: list[pd.DataFrame] = []
    real_bars = run.plot_bars

    def recorded_bars(table: pd.DataFrame, path: Path) -> Path:
        bars.append(table)
        return real_bars(table, path)

    monkeypatch.setattr(run, "plot_bars", recorded_bars)
    cd_tests: list[dict[str, Any]] = []
    real_cd = run.plot_critical_difference

    def recorded_cd(tests: dict[str, Any], path: Path, alpha: float) -> Path:
        cd_tests.append(tests)
        return real_cd(tests, path, alpha)

    monkeypatch.setattr(run, "plot_critical_difference", recorded_cd)
    good, fair = scored("gru", "base", noisy(0.02, 1)), scored("lstm", "base", noisy(0.03, 2))
    poor = scored("mlp", "base", mean_curve_guess())
    wild = scored("inception_v3", "base", noisy(120.0, 3), cv_val_loss=2.4e8)
    other = scored("inception_v3", "subject", noisy(0.025, 4))
    # The trap: the diverged model's rRMSE saturates below a converged but poor model's.
    assert wild.pooled["rrmse_mean"] < poor.pooled["rrmse_mean"]
    assert wild.diverged is not None and "measured force span" in wild.diverged
    assert [r.diverged for r in (good, fair, poor, other)] == [None] * 4
    artifacts, report, metrics = report_of(tmp_path, [wild, poor, fair, good, other])

    ranking = pd.read_csv(artifacts.evaluation_dir() / "ranking.csv")
    ranked = ranking[ranking["rank"].notna()]
    assert list(ranked["architecture"]) == ["gru", "inception_v3", "lstm", "mlp"]
    assert list(ranked["rank"]) == [1, 2, 3, 4]
    (row,) = ranking[
        ranking["architecture"].eq("inception_v3") & ranking["condition"].eq("base")
    ].to_dict("records")
    assert np.isnan(row["rank"]) and row["diverged"] == wild.diverged
    assert metrics["diverged"] == ["inception_v3__base"]
    assert metrics["best"]["study"] == "gru__base"
    untested = metrics["feature_effects"]["inception_v3"]  # its base model diverged
    assert untested["diverged"] is True and untested["p_value"] is None
    assert set(metrics["friedman"]["base"]["mean_rank"]) == {"gru", "lstm", "mlp"}
    # Out of the chart scales: the DVC bar plot's table and the bar chart.
    scores = pd.read_csv(artifacts.evaluation_dir() / "plots" / "scores.csv")
    assert "inception_v3/base" not in set(scores["model"])
    (charted,) = bars
    charted_models = set(charted["architecture"] + "/" + charted["condition"])
    assert "inception_v3/base" not in charted_models
    assert len(charted) == 4
    (plotted,) = cd_tests  # the critical-difference plot: its ranks are Friedman's
    assert set(plotted["base"]["mean_rank"]) == {"gru", "lstm", "mlp"}
    assert plotted["base"]["architectures"] == 3
    # The report: not in the ranking, peak or per-cohort tables; listed as diverged, with why.
    for heading in ("## Ranking", "## Peak errors", "## Per cohort"):
        rows = table_rows(report, heading)
        assert ["inception_v3", "base"] not in [
            r[1:3] if heading == "## Ranking" else r[:2] for r in rows
        ]
        assert len(rows) == 4, heading
    (listed,) = table_rows(report, "**Diverged, not ranked (1):**")
    assert listed[:3] == ["inception_v3", "base", wild.diverged]
    assert listed[4] == "2.4e+08"
    (effect,) = table_rows(report, "## Do subject features help?")
    assert effect[0] == "inception_v3" and effect[-1] == "not tested (a model diverged)"


def test_every_model_diverged_is_an_error_that_names_them(tmp_path: Path) -> None:
    results = [scored("gru", "base", noisy(50.0, 0)), scored("mlp", "base", noisy(70.0, 1))]
    with pytest.raises(EvaluationError, match=r"every model diverged.*gru__base: vertical RMSE"):
        report_of(tmp_path, results)


def test_the_header_states_each_studys_budget_and_trials() -> None:
    from gaitgrf.pipeline.evaluate.report import budget_lines

    small = {"n_trials": 1, "epochs": 1, "folds_used": 1, "max_train_samples": 192}
    results = [
        scored("gru", "base", noisy(0.02, 0), folds=3),
        scored("gru", "subject", noisy(0.02, 1), folds=3),
        scored("resnet50", "base", noisy(0.02, 2), folds=3, budget=small, trials={"PRUNED": 1}),
    ]
    text = "\n".join(budget_lines(results))
    assert (
        "Effective tuning budget per study (the profile's `budget` with its `overrides`): "
        "3 trial(s) x 4 epoch(s) on all 3 folds, all training samples per fold: gru__base, "
        "gru__subject; 1 trial(s) x 1 epoch(s) on 1 of 3 folds, 192 training samples per fold: "
        "resnet50__base."
    ) in text
    assert "gru__base 3/3, gru__subject 3/3, resnet50__base 1/1" in text
    assert "Budget profile (`tune.profile`): unrecorded." in text  # bundles from before profiles


def test_header_names_the_profile_its_fairness_and_patience() -> None:
    """Issue 15: the header says which profile produced the report and what it gave each study;
    studies of different profiles are flagged as mixed."""
    from gaitgrf.pipeline.evaluate.report import budget_lines

    fair = {"profile": "study", "fair": True}
    study = {"n_trials": 20, "epochs": 60, "patience": 8, "max_train_samples": None}
    results = [
        scored("gru", "base", noisy(0.02, 0), folds=3, budget=study, **fair),
        scored("mlp", "base", noisy(0.02, 1), folds=3, budget=study, **fair),
    ]
    text = "\n".join(budget_lines(results))
    assert "Budget profile (`tune.profile`): `study` (fair: every architecture the same" in text
    assert "20 trial(s) x 60 epoch(s) on all 3 folds (patience 8), all training samples" in text
    smoke = scored("lstm", "base", noisy(0.02, 2), folds=3, profile="smoke", fair=False)
    mixed = "\n".join(budget_lines([*results, smoke]))
    assert "**mixed**" in mixed
    assert "`study` (fair: every architecture the same budget): 2 studies" in mixed
    assert "`smoke` (not fair: budgets differ by architecture): 1 study" in mixed


# --- issue 15, section 1: Holm, effect sizes, Nemenyi CD in the report and metrics.json --------
def shifted(result: ModelResult, by: np.ndarray) -> ModelResult:
    """`result` with its per-subject primary metric moved by `by` (one value per subject): a
    paired difference chosen exactly, whatever the predictions."""
    from dataclasses import replace

    subjects = result.subjects.copy()
    subjects["rrmse_mean"] = subjects["rrmse_mean"] + by
    return replace(result, subjects=subjects)


def test_report_and_metrics_carry_holm_effect_sizes_and_the_cd(tmp_path: Path) -> None:
    """Raw p below alpha, Holm p above it: *no evidence*, with both p in the table; the CD of
    the Friedman ranks in metrics.json and the report, and the plot written."""
    from gaitgrf.pipeline.evaluate.stats import critical_difference, holm

    ranks = np.arange(1, 11) / 10.0  # |diff| ranks 1..10 over the ten subjects
    against6, against7 = -ranks.copy(), ranks.copy()
    against6[5] *= -1  # mostly better, one subject (rank 6) worse: exact p = 28/1024
    against7[6] *= -1  # mostly worse, one subject (rank 7) better: exact p = 38/1024
    results = []
    for arch, sd, diff in (
        ("gru", 0.01, -ranks),
        ("mlp", 0.02, against6),
        ("lstm", 0.03, against7),
    ):
        base = scored(arch, "base", noisy(sd, 1))
        results += [base, shifted(replace_study(base, "subject"), diff)]
    artifacts, report, metrics = report_of(tmp_path, results)

    effects = metrics["feature_effects"]
    raw = [effects[a]["p_value"] for a in ("gru", "mlp", "lstm")]
    assert raw == pytest.approx([2 / 1024, 28 / 1024, 38 / 1024])
    holm_p = [effects[a]["p_holm"] for a in ("gru", "mlp", "lstm")]
    assert holm_p == pytest.approx(holm(raw)) and holm_p == pytest.approx(
        [6 / 1024, 56 / 1024, 56 / 1024]
    )
    assert effects["gru"]["effect_size"] == pytest.approx(-1.0)
    assert effects["gru"]["cohens_dz"] == pytest.approx(-ranks.mean() / ranks.std(ddof=1))
    rows = {row[0]: row for row in table_rows(report, "## Do subject features help?")}
    assert rows["mlp"][4:6] == ["0.027", "0.055"]  # p, p Holm
    assert [rows[a][-1] for a in ("gru", "mlp", "lstm")] == ["helps", "no evidence", "no evidence"]
    assert (effects["lstm"]["hurts"], effects["mlp"]["helps"]) == (False, False)

    for condition in ("base", "subject"):
        test = metrics["friedman"][condition]
        assert test["cd"] == pytest.approx(critical_difference(3, 10, 0.05))
        assert set(test["mean_rank"]) == {"gru", "mlp", "lstm"}
    # base: gru < mlp < lstm on (nearly) every subject: ranks about 1, 2, 3, CD 1.05.
    line = next(x for x in report.splitlines() if x.startswith("- `base`: chi2"))
    assert f"CD = {metrics['friedman']['base']['cd']:.2f}" in line
    assert "critical_difference.png" in report
    png = artifacts.evaluation_dir() / "plots" / "critical_difference.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def replace_study(result: ModelResult, condition: str) -> ModelResult:
    """The same model under another condition (same predictions, so the paired difference is
    whatever `shifted` adds)."""
    from dataclasses import replace

    return replace(result, condition=condition, study=f"{result.architecture}__{condition}")


def test_every_file_the_stage_writes_under_plots_is_a_dvc_plot(tmp_path: Path) -> None:
    """dvc.yaml's evaluate `plots:` name each image and table under plots/, the CD plot and
    the per-cohort table included: a file left out is invisible to `dvc plots show`."""
    import yaml

    results = [
        scored(a, "base", noisy(sd, i))
        for i, (a, sd) in enumerate((("gru", 0.01), ("mlp", 0.02), ("lstm", 0.03)))
    ]
    artifacts, _, _ = report_of(tmp_path, results)
    written = {p.name for p in (artifacts.evaluation_dir() / "plots").iterdir()}
    assert {"critical_difference.png", "scores.csv", "cohorts.csv"} <= written
    stage = yaml.safe_load((Path(__file__).parents[2] / "dvc.yaml").read_text())["stages"]
    listed = {Path(next(iter(p))).name for p in stage["evaluate"]["plots"]}
    assert written <= listed, written - listed


def test_the_report_says_when_no_verdict_is_reachable() -> None:
    """8 subjects and 10 architectures: the smallest Holm p is 0.078, so the table's *no
    evidence* cannot be read as an absence of effect; the note says so. Not with 10 subjects."""
    from gaitgrf.pipeline.evaluate.report import effect_lines

    def effects(subjects: int) -> dict[str, dict[str, Any]]:
        tested = {"subjects": subjects, "mean_diff": -0.1, "p_value": 0.01, "p_holm": 0.1}
        keys = ("effect_size", "cohens_dz", "ci")
        return {f"a{i}": {**tested, **dict.fromkeys(keys)} for i in range(10)}

    note = "**No verdict is reachable here:**"
    assert any(
        line.startswith(note) and "0.0781" in line for line in effect_lines(effects(8), 0.05)
    )
    assert not any(line.startswith(note) for line in effect_lines(effects(10), 0.05))


# --- issue 17: the DVC metrics are headline numbers; every model's numbers are plots --------
DEFAULT_STUDIES = [(a, c) for a in Params().models.architectures for c in Params().fuse.conditions]


def dvc_columns(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A metrics file as `dvc metrics show` / `dvc exp show` read it: one column per leaf,
    nested keys joined with dots (tests/integration/test_exp_show_columns.py checks DVC)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(dvc_columns(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def test_evaluation_metrics_are_a_few_numbers_whatever_the_models(tmp_path: Path) -> None:
    """metrics.json: the best ranked model's numbers, counts, the best per condition and what
    the tests conclude, numbers only; the same size for 3 models as for the default 20. The
    names and every model's numbers are in summary.json and the plots' tables."""
    results = [
        scored(a, c, noisy(0.005 + 0.002 * i, i)) for i, (a, c) in enumerate(DEFAULT_STUDIES)
    ]
    artifacts, _, summary = report_of(tmp_path, results)
    metrics = json.loads(artifacts.evaluation_metrics().read_text())
    columns = dvc_columns(metrics)
    assert all(is_number(v) for v in columns.values()), columns
    assert len(columns) <= 20, sorted(columns)
    assert summary["best"]["study"] == "mlp__base"  # the least noisy
    assert metrics["best"]["rrmse_mean"] == pytest.approx(
        summary["models"]["mlp__base"]["rrmse_mean"]
    )
    assert metrics["models"] == {"ranked": 20, "diverged": 0}
    best_subject = min(r.pooled["rrmse_mean"] for r in results if r.condition == "subject")
    assert metrics["conditions"]["subject"]["best_rrmse_mean"] == pytest.approx(best_subject)
    assert 0 <= metrics["conditions"]["base"]["friedman_p"] <= 1
    assert metrics["feature_effects"]["hurts"] == sum(
        e["hurts"] for e in summary["feature_effects"].values()
    )
    assert "cohorts" not in metrics  # one cohort: its best is `best`
    on_disk = json.loads((artifacts.evaluation_dir() / SUMMARY_FILE).read_text())
    assert on_disk == json.loads(json.dumps(summary))
    scores = pd.read_csv(artifacts.evaluation_dir() / "plots" / "scores.csv")
    assert len(scores) == 20 and {"vertical_rrmse", "lateral_r"} <= set(scores.columns)
    fewer = report_of(tmp_path / "three", results[:3])[0].evaluation_metrics()
    assert set(dvc_columns(json.loads(fewer.read_text()))) <= set(columns)


def test_a_tune_parameter_change_fits_in_200_columns_of_dvc_exp_show(tmp_path: Path) -> None:
    """The worst case of `dvc exp show --only-changed` after one `tune` parameter changes in
    the default project: every metric of the stages it re-runs changes (20 tune files, the
    evaluation, the promotion; adaptation has no cohort by default), plus that parameter and
    DVC's Experiment, rev, typ and Created columns."""
    from gaitgrf.pipeline.promote import decision_metrics
    from gaitgrf.pipeline.tune.run import tuning_metrics

    results = [scored(a, c, noisy(0.01, i)) for i, (a, c) in enumerate(DEFAULT_STUDIES)]
    artifacts, _, _ = report_of(tmp_path, results)
    evaluation = dvc_columns(json.loads(artifacts.evaluation_metrics().read_text()))
    study = tuning_metrics({"cv_val_loss": 0.4, "trials": {"COMPLETE": 2, "PRUNED": 1}})
    test = {"rrmse_mean": 9.1, "vertical_rrmse": 7.0}
    promotion = decision_metrics(
        {
            "promoted": True,
            "challenger": {"version": "3", "cv_val_loss": 0.4, "test": test},
            "champion": {"version": "2", "test": test},
            "champion_after": "3",
        }
    )
    for metrics in (evaluation, study, promotion):
        assert all(is_number(v) for v in metrics.values()), metrics
    columns = len(DEFAULT_STUDIES) * len(study) + len(evaluation) + len(promotion) + 1 + 4
    assert columns <= 200
