"""The validate stage on good data: plausible metrics, everything passes, the outputs are usable.

A small synthetic cohort is validated once per module (Great Expectations costs seconds); the
assertions share that run. Broken data are tested in tests/data/test_validation_bad_input.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cohort_factory import LAB_UNITS, make_trial

from gaitgrf.core import contract as c
from gaitgrf.core.config import ConfigError, ContractConfig, SynthConfig, ValidateConfig
from gaitgrf.io.cohort_store import sha256_file
from gaitgrf.io.loader import load_cohort, load_cohorts, read_trial
from gaitgrf.io.trial_file import Trial
from gaitgrf.pipeline.validate.checks import subject_checks, trial_checks
from gaitgrf.pipeline.validate.report import ValidationSummary
from gaitgrf.pipeline.validate.run import validate_cohorts
from gaitgrf.pipeline.validate.trial_metrics import METRIC_COLUMNS, trial_metrics
from gaitgrf.synth import generate_cohort

CONFIG = SynthConfig(
    cohort_id="t", subjects=4, walking_trials=1, static_trials=1, trial_duration_s=4.0
)
CONTRACT = ContractConfig()
RULES = ValidateConfig()


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = tmp_path_factory.mktemp("good") / "raw"
    generate_cohort(CONFIG, raw / CONFIG.cohort_id)
    return raw


@pytest.fixture(scope="module")
def trials(raw: Path) -> list[tuple[Trial, dict]]:
    cohort = load_cohort(raw / CONFIG.cohort_id, CONTRACT)
    return [(read_trial(ref), cohort.subject(ref.subject_id)) for ref in cohort.trials]


@pytest.fixture(scope="module")
def run(raw: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("out")
    calls: list[tuple[int, int]] = []
    summary = validate_cohorts(
        raw,
        out / "validated",
        out / "reports",
        CONTRACT,
        RULES,
        progress=lambda done, total: calls.append((done, total)),
    )
    return summary, out, calls


# --- trial_metrics ---------------------------------------------------------------------------
def test_walking_metrics_are_physiological(trials) -> None:
    walking = [trial_metrics(t, s, RULES) for t, s in trials if t.kind == "walking"]
    assert len(walking) == CONFIG.subjects
    for m in walking:
        assert 1.0 <= m["grf_peak_bw"] <= 1.3
        # Slow speed conditions (down to 0.5 m/s, synth.variation) stand up to ~1.3 s; fast
        # ones (2 m/s) ~0.5 s: both well inside validate.stance_s [0.35, 1.5].
        assert 0.45 <= m["stance_median_s"] <= 1.3
        assert m["stance_count_l"] >= 1 and m["stance_count_r"] >= 1
        assert 0.8 <= m["acc_median_g_min"] <= m["acc_median_g_max"] <= 1.3
        assert m["acc_std_min"] > 0.3  # every sensor moves while walking
        assert m["acc_abs_max_g"] < 8 and m["acc_clipped_fraction"] == 0.0
        assert 20 < m["angle_abs_max_deg"] < 90
        assert m["grf_z_min_n"] > -50
        assert m["time_monotonic"] and m["rate_error_max"] < 1e-6
        assert m["nan_fraction_max"] < 0.05
        assert m["static_weight_ratio"] is None
        assert m["duration_s"] == pytest.approx(CONFIG.trial_duration_s, abs=0.01)


def test_stance_duration_matches_the_generator_truth(trials) -> None:
    for trial, subject in trials:
        if trial.kind != "walking":
            continue
        events = trial.extra["synthetic"]
        truth = []
        for side in c.SIDES:
            hs = np.array(events[f"heel_strikes_{side}"])
            to = np.array(events[f"toe_offs_{side}"])
            truth += [to[to > h][0] - h for h in hs if np.any(to > h)]
        measured = trial_metrics(trial, subject, RULES)["stance_median_s"]
        assert measured == pytest.approx(np.median(truth), abs=0.03)


def test_static_metrics(trials) -> None:
    static = [trial_metrics(t, s, RULES) for t, s in trials if t.kind == "static"]
    assert len(static) == CONFIG.subjects
    for m in static:
        assert m["static_weight_ratio"] == pytest.approx(1.0, abs=0.02)
        assert m["grf_peak_bw"] is None and m["stance_count_min"] is None
        assert 0.9 <= m["acc_median_g_min"] <= m["acc_median_g_max"] <= 1.1


def test_metrics_row_is_flat_and_complete(trials) -> None:
    trial, subject = trials[0]
    row = trial_metrics(trial, subject, RULES)
    assert tuple(row) == METRIC_COLUMNS
    assert row["trial_key"] == f"{trial.cohort_id}/{trial.trial_id}"
    assert all(v is None or isinstance(v, str | float | int | bool) for v in row.values())


def test_units_do_not_change_the_metrics(tmp_path: Path) -> None:
    """A trial declared in g, rad, kN and mm measures like the same trial in canonical units."""
    from gaitgrf.io.trial_file import write_trial

    subject = {"mass_kg": 70.0}
    rows = []
    for name, units in (("canon", None), ("lab", LAB_UNITS)):
        trial = make_trial(f"S1_{name}", "S1", "x", mass_kg=70.0, seed=3, units=units)
        path = write_trial(trial, tmp_path / f"{trial.trial_id}.parquet")
        rows.append(trial_metrics(read_trial(path), subject, RULES))
    for col in METRIC_COLUMNS:
        a, b = rows[0][col], rows[1][col]
        if isinstance(a, float):
            assert a == pytest.approx(b, rel=1e-4, abs=1e-6), col
    assert rows[0]["grf_peak_bw"] == pytest.approx(1.1, abs=0.05)


def test_no_force_at_all_is_zero_not_missing() -> None:
    trial = make_trial("S1_walk", "S1", "x", mass_kg=70.0)
    grf = trial.streams["grf"]
    blank = grf.data.copy()
    blank[:, [grf.channels.index(ch) for ch in c.REQUIRED_GRF_CHANNELS]] = np.nan
    from cohort_factory import with_stream

    row = trial_metrics(with_stream(trial, "grf", data=blank), {"mass_kg": 70.0}, RULES)
    assert row["grf_peak_bw"] == 0.0 and row["stance_count_min"] == 0


def test_static_trial_without_any_force_is_skipped_with_its_reason() -> None:
    """Off the plates, a static trial has no weight to check: None, and the reason, not 0."""
    from cohort_factory import with_stream

    from gaitgrf.pipeline.validate.trial_metrics import STATIC_OFF_PLATES

    trial = make_trial("S1_static", "S1", "x", kind="static", mass_kg=70.0)
    grf = trial.streams["grf"]
    row = trial_metrics(trial, {"mass_kg": 70.0}, RULES)
    assert row["static_weight_ratio"] is not None and row["static_weight_skipped"] is None
    blank = np.full_like(grf.data, np.nan)
    row = trial_metrics(with_stream(trial, "grf", data=blank), {"mass_kg": 70.0}, RULES)
    assert row["static_weight_ratio"] is None
    assert row["static_weight_skipped"] == STATIC_OFF_PLATES
    by_id = {ch.id: ch for ch in trial_checks(CONTRACT, RULES)}
    skip = by_id["static_weight"].skipped(row)
    assert skip == {"check": "static_weight", "column": "static_weight_ratio",
                    "reason": STATIC_OFF_PLATES}  # fmt: skip
    assert by_id["grf_peak"].skipped(row) is None


def test_checks_take_their_thresholds_from_the_config() -> None:
    rules = ValidateConfig(grf_peak_bw=(0.5, 3.0), max_duration_s=30.0)
    rules_by_id = {
        ch.id: ch.rule() for ch in trial_checks(ContractConfig(rate_tolerance=0.02), rules)
    }
    assert rules_by_id["grf_peak"] == "in [0.5, 3] BW"
    assert rules_by_id["duration"] == "in [0, 30] s"
    assert rules_by_id["rate_error"] == "in [0, 0.02]"
    assert len({ch.id for ch in subject_checks()}) == len(subject_checks())


# --- validate_cohorts on good data -----------------------------------------------------------
def test_every_trial_passes(run) -> None:
    summary, _, calls = run
    assert isinstance(summary, ValidationSummary)
    n = CONFIG.subjects * (CONFIG.walking_trials + CONFIG.static_trials)
    assert (summary.trials, summary.passed, summary.quarantined) == (n, n, 0)
    assert summary.subjects_ok and summary.quarantined_trials == {}
    assert calls[-1] == (n, n) and len(calls) == n


def test_validated_cohort_follows_the_contract(run, raw: Path) -> None:
    _, out, _ = run
    (cohort,) = load_cohorts(out / "validated", CONTRACT, read_trials=True)
    raw_cohort = load_cohort(raw / CONFIG.cohort_id, CONTRACT, read_trials=False)
    assert {r.trial_id for r in cohort.trials} == {r.trial_id for r in raw_cohort.trials}
    pd.testing.assert_frame_equal(cohort.subjects, raw_cohort.subjects)
    source = cohort.manifest["source"]
    assert source["kind"] == "validated" and source["raw_cohort"] == CONFIG.cohort_id
    assert source["raw_manifest_sha256"] == sha256_file(raw / CONFIG.cohort_id / c.MANIFEST_FILE)
    assert source["quarantined"] == []
    tables = [ref.read_metadata()["channels"] for ref in cohort.trials]
    units = {ch["unit"] for table in tables for ch in table.values()}
    assert units <= {"m/s^2", "deg", "N", "m"}
    walk = next(r for r in cohort.trials if r.kind == "walking")
    assert "synthetic" in read_trial(walk).extra  # extras travel with the trial


def test_reports_are_written(run) -> None:
    summary, out, _ = run
    reports = out / "reports"
    report = json.loads((reports / "summary.json").read_text())
    assert report["success"] and report["subjects_suite"]["success"]
    assert report["cohorts"][CONFIG.cohort_id]["passed"] == summary.trials
    assert {t["trial_id"] for t in report["trials"]} == {
        t["trial_id"] for t in report["trials"] if t["passed"]
    }
    assert json.loads((reports / "metrics.json").read_text())["quarantined_fraction"] == 0.0
    table = pd.read_csv(reports / "trial_metrics.csv")
    assert len(table) == summary.trials and table["passed"].all()
    assert (reports / "data_docs" / "index.html").is_file()
    assert summary.data_docs == reports / "data_docs" / "index.html"
    assert list((reports / "data_docs" / "validations").iterdir())  # both suites rendered
    assert not (out / "validated" / "gx").exists()
    assert {p.name for p in out.iterdir()} == {"validated", "reports"}  # no staging left


def test_data_docs_load_nothing_from_the_network(run) -> None:
    """Offline (most clinics' machines) the site still shows: every script, stylesheet and image
    a page loads is a local file, and the index's tables are HTML, not bootstrap-table data."""
    _, out, _ = run
    docs = out / "reports" / "data_docs"
    for page in sorted(docs.rglob("*.html")):
        text = page.read_text()
        loaded = re.findall(r'<(?:script|link|img)\b[^>]*?\b(?:src|href)="([^"]+)"', text)
        assert loaded, page
        for ref in loaded:
            assert not ref.startswith(("http:", "https:", "//")), f"{page}: {ref}"
            assert (page.parent / ref.split("?")[0]).is_file(), f"{page}: {ref}"
        assert "great-expectations-web-assets" not in text
    index = (docs / "index.html").read_text()
    assert not re.search(r"\$\('#[\w-]+'\)\.bootstrapTable\(", index)  # no table filled by JS
    assert {"validations/subjects/", "validations/trials/"} <= set(
        re.findall(r'href="(validations/[a-z]+/)', index)
    )


def test_rerun_replaces_the_validated_folder(run, raw: Path) -> None:
    _, out, _ = run
    stale = out / "validated" / "stale-cohort"
    stale.mkdir()
    validate_cohorts(raw, out / "validated", out / "reports", CONTRACT, RULES)
    assert not stale.exists()
    assert [co.cohort_id for co in load_cohorts(out / "validated", CONTRACT)] == ["t"]
    assert {p.name for p in out.iterdir()} == {"validated", "reports"}


def test_output_inside_raw_is_refused(raw: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="overlaps the raw data"):
        validate_cohorts(raw, raw / "validated", tmp_path / "rep", CONTRACT, RULES)
    with pytest.raises(ConfigError, match="overlaps the raw data"):
        validate_cohorts(raw, raw.parent, tmp_path / "rep", CONTRACT, RULES)


def test_import_does_not_load_great_expectations() -> None:
    code = (
        "import sys, gaitgrf.pipeline.validate.run; "
        "sys.exit(1 if any(m.split('.')[0] == 'great_expectations' for m in sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_subjects_suite_catches_what_it_checks(tmp_path: Path) -> None:
    """The loader refuses such tables first; the suite is the second line (and the docs)."""
    from cohort_factory import subject_rows

    from gaitgrf.pipeline.validate.gx import run_suites

    rows = subject_rows("a") + subject_rows("b")
    rows[1] = {**rows[1], "subject_id": "S01", "mass_kg": 900.0, "sex": "x"}  # dup, lb?, typo
    subjects = pd.DataFrame(rows, columns=list(c.SUBJECT_COLUMNS))
    metrics = pd.DataFrame(columns=list(METRIC_COLUMNS))
    when = datetime(2025, 1, 1, tzinfo=UTC)
    result = run_suites(subjects, metrics, subject_checks(), [], tmp_path / "docs", when)
    assert not result.subjects_ok
    failed = {str(f["column"]) for f in result.subject_failures}
    assert failed == {"['cohort_id', 'subject_id']", "mass_kg", "sex"}
    assert (tmp_path / "docs" / "index.html").is_file()


def test_stage_entry_point(raw: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from stages.validate import main

    params = tmp_path / "params.yaml"
    paths = {"raw": raw, "validated": tmp_path / "val", "reports": tmp_path / "rep"}
    params.write_text("paths:\n" + "".join(f"  {k}: {v}\n" for k, v in paths.items()))
    assert main(["--params", str(params)]) == 0
    out = capsys.readouterr().out
    assert "quarantined" in out and "summary.json" in out
    assert (tmp_path / "rep" / "validation" / "summary.json").is_file()

    (tmp_path / "empty").mkdir()
    params.write_text(f"paths:\n  raw: {tmp_path / 'empty'}\n  validated: {tmp_path / 'v2'}\n")
    assert main(["--params", str(params)]) == 1
    assert "no cohort" in capsys.readouterr().err
