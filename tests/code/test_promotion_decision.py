"""Promotion rules (gaitgrf.pipeline.promote.decide): the champion moves only when it should."""

from __future__ import annotations

from gaitgrf.pipeline.promote import decide, decision_metrics


def metrics(primary: float, v: float, a: float, lat: float) -> dict[str, float]:
    return {"rrmse_mean": primary, "vertical_rrmse": v, "anterior_rrmse": a, "lateral_rrmse": lat}


CHAMP = metrics(10.0, 8.0, 9.0, 13.0)


def test_first_challenger_becomes_champion() -> None:
    d = decide(CHAMP, None, margin=0.02, tolerance=0.05)
    assert d.promoted and "first champion" in d.reason


def test_clearly_better_challenger_is_promoted() -> None:
    d = decide(metrics(9.0, 7.5, 8.0, 11.5), CHAMP, margin=0.02, tolerance=0.05)
    assert d.promoted and all(d.checks.values())


def test_worse_challenger_never_replaces_champion() -> None:
    d = decide(metrics(12.0, 9.0, 10.0, 17.0), CHAMP, margin=0.02, tolerance=0.05)
    assert not d.promoted
    assert "primary" in d.reason


def test_improvement_below_margin_is_not_enough() -> None:
    d = decide(metrics(9.9, 7.9, 8.9, 12.9), CHAMP, margin=0.02, tolerance=0.05)
    assert not d.promoted and d.checks["primary"] is False


def test_better_overall_but_one_component_much_worse_is_refused() -> None:
    # Mean improves by 10 %, but the lateral component is 15 % worse (tolerance 5 %).
    d = decide(metrics(9.0, 5.0, 7.05, 14.95), CHAMP, margin=0.02, tolerance=0.05)
    assert not d.promoted
    assert d.checks["primary"] and not d.checks["lateral_rrmse"]


def test_equal_challenger_is_not_promoted() -> None:
    assert not decide(CHAMP, CHAMP, margin=0.0 + 1e-9, tolerance=0.05).promoted


def test_nan_metrics_are_never_promoted() -> None:
    d = decide(metrics(float("nan"), 1.0, 1.0, 1.0), CHAMP, margin=0.02, tolerance=0.05)
    assert not d.promoted


def test_decision_metrics_are_numbers_and_leave_the_words_to_the_record() -> None:
    """reports/promotion/metrics.json (DVC metrics): the decision in numbers; the reason, the
    model URI and the timestamp stay in reports/promotion.json (issue 17)."""
    record = {
        "decided_at": "2026-11-24T21:59:43+0000",
        "model_name": "gaitgrf",
        "promoted": False,
        "reason": "champion kept: ...",
        "checks": {"primary": False},
        "challenger": {
            "version": "4",
            "study": "lstm__base",
            "cv_val_loss": 0.0882638850,
            "model_uri": "models:/m-c5f5",
            "test": CHAMP,
        },
        "champion": {"version": "2", "test": metrics(9.0, 7.0, 8.0, 12.0)},
        "champion_before": "2",
        "champion_after": "2",
        "margin": 0.02,
        "tolerance": 0.05,
    }
    assert decision_metrics(record) == {
        "promoted": 0,
        "challenger_version": 4,
        "challenger_cv_val_loss": 0.08826,
        "challenger_rrmse_mean": 10.0,
        "champion_version": 2,
        "champion_before_rrmse_mean": 9.0,
    }
    first = {**record, "promoted": True, "champion": {"version": None, "test": None}}
    assert decision_metrics({**first, "champion_after": "4"})["champion_version"] == 4
    assert "champion_before_rrmse_mean" not in decision_metrics(first)
