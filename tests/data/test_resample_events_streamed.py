"""The resample stage writes its event rows and agreement as trials complete (issue 16):
events.parquet and every number of the report are what the in-memory path gave."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaitgrf.core import contract as c
from gaitgrf.core.artifacts import EVENTS_TABLE
from gaitgrf.core.config import ResampleConfig, SynthConfig
from gaitgrf.io.loader import load_cohorts, read_trial
from gaitgrf.pipeline.resample import event_sink
from gaitgrf.pipeline.resample import run as resample_run
from gaitgrf.pipeline.resample.event_sink import AgreementLog
from gaitgrf.pipeline.resample.events import KINDS, AgreementTally, Events
from gaitgrf.pipeline.resample.run import resample_cohorts
from gaitgrf.pipeline.resample.segmentation import body_weight_n, input_plan

COHORTS = ("a", "b")  # two, so that each cohort's share of the spilled errors is checked


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gaitgrf.synth import generate_cohort

    root = tmp_path_factory.mktemp("validated")
    for seed, cid in enumerate(COHORTS):
        cfg = SynthConfig(
            cohort_id=cid, subjects=2, walking_trials=2, static_trials=1, trial_duration_s=4.0
        )
        generate_cohort(cfg.model_copy(update={"seed": cfg.seed + seed}), root / cid)
    return root


def _in_memory(validated: Path, cfg: ResampleConfig) -> tuple[pa.Table, dict, dict]:
    """What the stage gave before it streamed its events: every trial's rows gathered in
    memory and joined into one table, an `AgreementTally` per cohort, extended into one."""
    cohorts = load_cohorts(validated, read_trials=False)
    walking = [r for co in cohorts for r in co.trials if r.kind == "walking"]
    plan = input_plan(resample_run._common_channels(walking))
    masses = resample_run._masses(cohorts)
    parts: list[tuple[str, ...]] = []
    times: list[np.ndarray] = []
    tallies: dict[str, AgreementTally] = {}
    for co in cohorts:
        tallies[co.cohort_id] = tally = AgreementTally()
        for ref in sorted(co.trials, key=lambda r: r.trial_id):
            if ref.kind != "walking":
                continue
            weight = body_weight_n(masses[(ref.cohort_id, ref.subject_id)])
            result = resample_run.process_trial(read_trial(ref), weight, cfg, plan)
            for side in c.SIDES:
                tally.add(result.plate[side], result.wearable[side], 0.15)
            for source, events in (("plate", result.plate), ("wearable", result.wearable)):
                for side, ev in events.items():
                    for kind in KINDS:
                        if ev.of_kind(kind).size:
                            parts.append(
                                (ref.cohort_id, ref.subject_id, ref.trial_id, side, kind, source)
                            )
                            times.append(ev.of_kind(kind))
    sizes = [t.size for t in times]
    columns: dict[str, pa.Array] = {}
    for k, name in enumerate(("cohort_id", "subject_id", "trial_id", "side", "kind", "source")):
        values = np.repeat(np.array([p[k] for p in parts], dtype=object), sizes)
        columns[name] = pa.array(values, type=pa.string()).dictionary_encode()
    columns["time_s"] = pa.array(np.concatenate(times), type=pa.float64())
    overall = AgreementTally()
    for tally in tallies.values():
        overall.extend(tally)
    return pa.table(columns), overall.summary(), {k: t.summary() for k, t in tallies.items()}


@pytest.fixture(scope="module")
def expected(validated: Path) -> tuple[pa.Table, dict, dict]:
    return _in_memory(validated, ResampleConfig())


def _check_report(report: dict, overall: dict, per_cohort: dict) -> None:
    assert report["event_agreement"] == overall
    assert {k: report["cohorts"][k]["event_agreement"] for k in COHORTS} == per_cohort
    assert per_cohort["a"] != per_cohort["b"]  # the cohorts' errors are not mixed up
    assert overall["heel_strike"]["matched"] > 0 and overall["toe_off"]["matched"] > 0


def test_one_row_group_gives_the_in_memory_file_byte_for_byte(
    validated: Path, expected: tuple[pa.Table, dict, dict], tmp_path: Path
) -> None:
    table, overall, per_cohort = expected
    out = tmp_path / "resampled"
    report = resample_cohorts(validated, out, tmp_path / "events.json", ResampleConfig())
    pq.write_table(table, tmp_path / "in_memory.parquet")
    assert (out / EVENTS_TABLE).read_bytes() == (tmp_path / "in_memory.parquet").read_bytes()
    _check_report(report, overall, per_cohort)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no raw error file left


def test_many_row_groups_give_the_same_rows(
    validated: Path,
    expected: tuple[pa.Table, dict, dict],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table, overall, per_cohort = expected
    monkeypatch.setattr(event_sink, "ROWS_PER_GROUP", 7)
    out = tmp_path / "resampled"
    report = resample_cohorts(validated, out, tmp_path / "events.json", ResampleConfig(), workers=2)
    got = pq.ParquetFile(out / EVENTS_TABLE)
    assert got.metadata.num_row_groups > 5 and got.metadata.num_rows == table.num_rows
    read = got.read()
    assert read.schema == table.schema
    for name in table.column_names:
        assert read.column(name).to_pylist() == table.column(name).to_pylist(), name
    pd.testing.assert_frame_equal(read.to_pandas(), table.to_pandas())
    _check_report(report, overall, per_cohort)


def test_a_cohort_without_events_writes_an_empty_table(tmp_path: Path) -> None:
    writer = event_sink.EventTableWriter(tmp_path / "e.parquet")
    writer.add(("c", "s", "t"), "plate", {"L": Events(), "R": Events()})
    writer.close()
    read = pq.read_table(tmp_path / "e.parquet")
    assert read.num_rows == 0 and read.schema == event_sink.EVENTS_SCHEMA


_times = st.lists(st.floats(0.0, 10.0, allow_nan=False), max_size=6).map(
    lambda v: np.sort(np.array(v, dtype=np.float64))
)
_events = st.builds(Events, _times, _times)
# cohorts of trials of (reference, detected) feet
_cohorts = st.lists(st.lists(st.tuples(_events, _events), max_size=4), min_size=1, max_size=3)


@settings(max_examples=60, deadline=None)
@given(cohorts=_cohorts)
def test_agreement_log_summarises_as_the_tally(
    tmp_path_factory: pytest.TempPathFactory, cohorts: list[list[tuple[Events, Events]]]
) -> None:
    folder = tmp_path_factory.mktemp("log")
    log = AgreementLog(folder)
    tallies: dict[str, AgreementTally] = {}
    try:
        for k, feet in enumerate(cohorts):
            cid = f"c{k}"
            log.start_cohort(cid)
            tallies[cid] = AgreementTally()
            for reference, detected in feet:
                log.add(cid, reference, detected, 0.15)
                tallies[cid].add(reference, detected, 0.15)
        overall, per_cohort = log.summaries()
    finally:
        log.close()
    everything = AgreementTally()
    for tally in tallies.values():
        everything.extend(tally)
    assert overall == everything.summary()
    assert per_cohort == {cid: t.summary() for cid, t in tallies.items()}
    assert list(folder.iterdir()) == []


def test_agreement_log_refuses_trials_out_of_their_cohort(tmp_path: Path) -> None:
    log = AgreementLog(tmp_path)
    try:
        log.start_cohort("a")
        log.start_cohort("b")
        with pytest.raises(ValueError, match="follow their start_cohort"):
            log.add("a", Events(), Events(), 0.15)
        with pytest.raises(ValueError, match="started twice"):
            log.start_cohort("a")
    finally:
        log.close()
