"""The resample stage end to end on a small synthetic cohort (already in the contract format)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from gaitgrf.core import contract as c
from gaitgrf.core.artifacts import EVENTS_TABLE, SUBJECTS_TABLE
from gaitgrf.core.config import FilterConfig, ResampleConfig, SynthConfig, VariationConfig
from gaitgrf.core.samples import SampleSet
from gaitgrf.io.cohort_store import write_manifest
from gaitgrf.io.loader import load_cohort, read_trial
from gaitgrf.io.trial_file import write_trial
from gaitgrf.pipeline.resample.events import Events
from gaitgrf.pipeline.resample.run import ResampleError, resample_cohorts
from stages import resample as stage

# No stiff-knee walkers: the report's wearable-vs-plate agreement is asserted below, and the
# wearable detector still misses some of a stiff knee's heel strikes (docs/synthetic-cohort.md,
# section 10).
CONFIG = SynthConfig(
    cohort_id="t",
    subjects=4,
    walking_trials=1,
    static_trials=1,
    trial_duration_s=6.0,
    variation=VariationConfig(stiff_knee_fraction=0.0),
)


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("validated")
    from gaitgrf.synth import generate_cohort

    generate_cohort(CONFIG, root / CONFIG.cohort_id)
    return root


@pytest.fixture(scope="module")
def run(validated: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("resampled")
    calls: list[tuple[int, int]] = []
    report = resample_cohorts(
        validated,
        out,
        out / "reports" / "events.json",
        ResampleConfig(),
        progress=lambda done, total: calls.append((done, total)),
    )
    return out, report, calls


def test_files_are_written_and_load(run):
    out, report, calls = run
    for name in (
        "stance.npz",
        "stance.json",
        "window.npz",
        "window.json",
        SUBJECTS_TABLE,
        EVENTS_TABLE,
        "reports/events.json",
    ):
        assert (out / name).is_file(), name
    stance = SampleSet.load(out / "stance.npz")
    window = SampleSet.load(out / "window.npz")
    assert len(stance) == report["samples"]["stance"] > 0
    assert len(window) == report["samples"]["window"] > 0
    assert stance.inputs.shape[1:] == (45, 101) and stance.rate_hz == 101.0  # 39 + physics
    assert window.inputs.shape[1:] == (45, 100) and window.rate_hz == 100.0
    assert stance.static.shape == (len(stance), 0)
    assert stance.provenance["cohorts"] == ["t"] and stance.provenance["trials"] == {"t": 4}
    assert set(np.unique(stance.groups)) == {f"t/S00{i}" for i in range(1, 5)}
    assert calls[-1] == (8, 8) and len(calls) == 8


def test_report_has_event_agreement_and_counts(run):
    out, report, _ = run
    on_disk = json.loads((out / "reports" / "events.json").read_text())
    assert on_disk["samples"] == report["samples"]
    assert "elapsed_s" not in on_disk  # metrics stay reproducible
    assert report["trials_in"] == 8
    assert report["walking_trials"] == 4 and report["static_trials_skipped"] == 4
    for scope in (report, report["cohorts"]["t"]):
        agreement = scope["event_agreement"]
        for kind in ("heel_strike", "toe_off"):
            a = agreement[kind]
            assert a["matched"] > 0.9 * a["reference"] > 0
            assert a["mean_abs_ms"] is not None and a["p95_abs_ms"] is not None
        assert agreement["heel_strike"]["mean_abs_ms"] < 5
        assert agreement["toe_off"]["mean_abs_ms"] < 15
    assert report["plate_stances"] >= report["samples"]["stance"]


def test_events_and_subjects_tables(run, validated):
    out, report, _ = run
    events = pq.read_table(out / EVENTS_TABLE).to_pandas()
    assert list(events.columns) == [
        "cohort_id",
        "subject_id",
        "trial_id",
        "side",
        "kind",
        "source",
        "time_s",
    ]
    assert set(events["source"]) == {"plate", "wearable"}
    assert set(events["kind"]) == {"heel_strike", "toe_off"}
    plate_hs = events[(events["source"] == "plate") & (events["kind"] == "heel_strike")]
    assert len(plate_hs) == report["plate_stances"]
    subjects = pd.read_csv(out / SUBJECTS_TABLE)
    assert list(subjects.columns) == list(c.SUBJECT_COLUMNS)
    assert len(subjects) == 4 and set(subjects["cohort_id"]) == {"t"}


def break_trial(root: Path, trial_id: str, edit) -> None:
    path = root / c.TRIALS_DIR / f"{trial_id}{c.TRIAL_SUFFIX}"
    trial = read_trial(path)
    grf = trial.streams["grf"]
    data = grf.data.copy()
    edit(trial, grf, data)
    streams = dict(trial.streams)
    streams["grf"] = replace(grf, data=data)
    write_trial(replace(trial, streams=streams), path)


def test_a_missing_foot_contact_gives_fewer_samples_not_a_crash(run, validated, tmp_path):
    out, report, _ = run
    broken = tmp_path / "validated"
    shutil.copytree(validated, broken)
    root = broken / CONFIG.cohort_id

    def no_plate_for_one_stance(trial, grf, data):
        ev = trial.extra["synthetic"]
        stances = Events(np.array(ev["heel_strikes_l"]), np.array(ev["toe_offs_l"])).stances()
        hs, to = stances[1]
        gone = (grf.time > hs - 0.05) & (grf.time < to + 0.05)
        for ax in c.AXES:
            data[gone, grf.channels.index(c.grf_channel("l", ax))] = np.nan

    def no_plate_at_all(trial, grf, data):
        for ax in c.AXES:
            data[:, grf.channels.index(c.grf_channel("r", ax))] = np.nan

    break_trial(root, "S001_walk01", no_plate_for_one_stance)
    break_trial(root, "S002_walk01", no_plate_at_all)
    write_manifest(root, CONFIG.cohort_id, load_cohort(validated / "t").manifest["source"])

    out2 = tmp_path / "out"
    again = resample_cohorts(broken, out2, out2 / "events.json", ResampleConfig())
    before = SampleSet.load(out / "stance.npz")
    after = SampleSet.load(out2 / "stance.npz")

    def count(s: SampleSet, trial: str, side: str) -> int:
        return int(np.sum((s.trial_id == trial) & (s.side == side)))

    assert count(after, "S001_walk01", "l") == count(before, "S001_walk01", "l") - 1
    assert count(after, "S002_walk01", "r") == 0 < count(before, "S002_walk01", "r")
    assert count(after, "S003_walk01", "l") == count(before, "S003_walk01", "l")
    assert again["samples"]["window"] < report["samples"]["window"]
    assert again["samples_dropped_nan"]["window"] > 0
    assert np.isfinite(SampleSet.load(out2 / "window.npz").targets).all()
    # The wearables still see the steps the plates missed: extra events, nothing breaks.
    assert again["event_agreement"]["heel_strike"]["extra"] >= 1


def test_only_the_configured_layouts_are_written_and_threads_change_nothing(
    run, validated, tmp_path
):
    out = tmp_path / "out"
    (out).mkdir()
    (out / "window.npz").write_bytes(b"stale")
    report = resample_cohorts(
        validated, out, tmp_path / "r.json", ResampleConfig(layouts=("stance",)), workers=1
    )
    assert set(report["samples"]) == {"stance"}
    assert (out / "stance.npz").is_file() and not (out / "window.npz").exists()
    threaded = SampleSet.load(run[0] / "stance.npz")
    single = SampleSet.load(out / "stance.npz")
    np.testing.assert_array_equal(single.inputs, threaded.inputs)
    np.testing.assert_array_equal(single.trial_id, threaded.trial_id)


def test_bad_configuration_and_missing_data_fail_clearly(validated, tmp_path):
    # Unknown layouts and filter families are refused when the config is built (params load).
    with pytest.raises(ValidationError, match=r"unknown layout\(s\) \['strides'\]"):
        ResampleConfig(layouts=("stance", "strides"))
    with pytest.raises(ValidationError, match=r"unknown channel famil\(ies\) \['accelerometers'\]"):
        FilterConfig(cutoff_hz={"accelerometers": 20.0})
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResampleError):
        resample_cohorts(tmp_path / "empty", tmp_path, tmp_path / "r.json", ResampleConfig())


def test_stage_entry_point(validated, tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text(
        f"paths:\n  validated: {validated}\n  resampled: {tmp_path / 'res'}\n"
        f"  reports: {tmp_path / 'reports'}\nresample:\n  layouts: [stance]\n"
    )
    assert stage.main(["--params", str(params)]) == 0
    printed = capsys.readouterr().out
    assert "4 walking trials" in printed and "heel strike" in printed
    assert (tmp_path / "reports" / "events.json").is_file()
    params.write_text(f"paths:\n  validated: {tmp_path / 'nowhere'}\n")
    assert stage.main(["--params", str(params)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("resample: ") and "hint:" in err
