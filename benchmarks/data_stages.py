"""Throughput and peak memory of the data stages (validate, resample, fuse) against a
straightforward per-trial pandas implementation of the same stages, run in the same benchmark.

    python benchmarks/data_stages.py [--scale 10] [--baseline-trials 40]
                                     [--out reports/benchmarks/data_stages.json]

One synthetic cohort of `scale` x 40 subjects (5 trials each) is generated into a temporary
folder and reused for every measurement. Reported per stage, with the cohort's trial count as
the unit (static trials included, also for resample and fuse, which skip or never see them):

* trials/s of the library stage and of the baseline, and the speed-up (baseline time / library
  time, same trials, same machine);
* peak memory: each stage runs in a fresh Python process (`subprocess`) that reads its own peak
  RSS (VmHWM in /proc/self/status) after the stage. Not `getrusage` ru_maxrss, neither SELF in
  the child nor CHILDREN in the parent: Linux carries a parent's peak over fork + exec, so every
  child would report at least the parent's peak. Peak RSS rather than tracemalloc because
  Parquet reading and decompression allocate in Arrow's memory pool, which tracemalloc does not
  see. "+stage" is the peak minus the peak after imports: what the stage itself added;
* validate pays the Great Expectations import (~3 s) on every run: the stage time includes it,
  and it is reported on its own too;
* memory growth: the library stages run again on the first quarter of the subjects (a hard-linked
  sub-cohort, not a second generation); the ratio of "+stage" peaks is set against the ratio of
  raw data sizes (linear: equal ratios; better: smaller).

The baseline is what a competent analyst writes first, not a strawman; it produces the same
outputs and the benchmark checks that it does (sample counts, metric values, samples):

* validate: per trial `pd.read_parquet`, streams split by boolean indexing, the same metrics
  with pandas ops, then one Great Expectations validation per trial (context, suite and
  validation definition built once, the library's own expectations, run on the trial's one-row
  metrics frame), passing trials written with `DataFrame.to_parquet`. One GX run costs ~0.3-0.6
  s, so GX runs on the first `--baseline-trials` trials only and its mean cost per trial is
  extrapolated to the cohort (the later trials are written unchecked; the synthetic cohort has
  no quarantined trial, which the report states). It skips what the library does on top:
  manifest checksums, the contract's NaN-run checks, Data Docs; its time is a lower bound.
* resample: per walking trial pandas `interpolate` over dropouts, `scipy.signal.filtfilt` per
  column, force-plate events with pandas run-grouping, the library's wearable event detector
  (no simpler version exists; both sides pay it), per-stance and per-window loops with
  `np.interp` per channel building lists, then `np.stack`.
* fuse: a per-sample Python loop with `.loc` lookups into the subjects table for the static
  features, input channels selected by name, each condition written as one self-contained
  `.npz`. (The library writes the signals once per layout, `inputs.npy` / `targets.npy`, which
  the condition files' sidecars name; `compare_sets` reads them from there.)

The library's resample runs with its default thread pool (min(4, CPUs) workers) and again with
one worker; the baseline is single-threaded. Validate's library version writes on one
background thread.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SCRIPT = Path(__file__).resolve()
COHORT_ID = "bench"
SIDES = ("l", "r")
OTHER = {"l": "r", "r": "l"}
AXES = ("x", "y", "z")
GRAVITY = 9.80665
#: Static feature groups and names, in the order the fuse stage documents (docs/features.md).
STATIC_NAMES = {
    "knee_alignment": ("hka_ipsi_deg", "hka_contra_deg"),
    "affected_side": ("affected_none", "affected_left", "affected_right"),
    "stance_side": ("ipsi_is_affected", "contra_is_affected", "ipsi_is_left"),
    "anthropometrics": ("mass_kg", "height_m", "age_years", "sex_female"),
}


BASELINE_VALIDATE_KEYS = (
    "gx_trials",
    "gx_setup_s",
    "gx_per_trial_s",
    "measured_s",
    "extrapolated_s",
)


# --- helpers -----------------------------------------------------------------------------------
def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB: VmHWM of /proc/self/status.

    Not `getrusage(...).ru_maxrss`: Linux carries the parent's peak over fork + exec into it, so
    a child started by a large parent would report the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # not Linux


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def gx_context() -> Any:
    """An ephemeral GX context without Data Docs or progress bars (as the library builds)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False),
        analytics_enabled=False,
    )
    return gx.get_context(mode="ephemeral", project_config=config)


# --- the library stages (run in a child process) -----------------------------------------------
def real_validate(spec: dict[str, Any]) -> dict[str, Any]:
    from gaitgrf.core.config import Params
    from gaitgrf.pipeline.validate.run import validate_cohorts

    params = Params()
    summary = validate_cohorts(
        Path(spec["raw"]),
        Path(spec["out"]),
        Path(spec["report"]),
        params.contract,
        params.validate_,
    )
    return {
        "trials": summary.trials,
        "passed": summary.passed,
        "quarantined": summary.quarantined,
        "phases_s": dict(summary.timings_s),
    }


def real_resample(spec: dict[str, Any]) -> dict[str, Any]:
    from gaitgrf.core.config import Params
    from gaitgrf.pipeline.resample.run import resample_cohorts

    report = resample_cohorts(
        Path(spec["validated"]),
        Path(spec["out"]),
        Path(spec["report"]),
        Params().resample,
        workers=spec.get("workers"),
    )
    return {
        "trials": report["trials_in"],
        "walking_trials": report["walking_trials"],
        "samples": report["samples"],
    }


def real_fuse(spec: dict[str, Any]) -> dict[str, Any]:
    from gaitgrf.core.config import Params
    from gaitgrf.pipeline.fuse.run import fuse

    summary = fuse(Path(spec["resampled"]), Path(spec["out"]), Params().fuse)
    return {"samples": {k: v["samples"] for k, v in summary["layouts"].items()}}


# --- baseline: validate ------------------------------------------------------------------------
def naive_split(
    df: pd.DataFrame, meta: dict[str, Any]
) -> dict[str, tuple[pd.Series, pd.DataFrame, float]]:
    """stream -> (time, channels as float64, rate) by boolean indexing on the stream column."""
    out = {}
    for stream in ("acc", "kin", "grf"):
        cols = [ch for ch, info in meta["channels"].items() if info["stream"] == stream]
        part = df[df["stream"] == stream]
        rate = float(meta["channels"][cols[0]]["rate_hz"])
        out[stream] = (part["time"].astype("float64"), part[cols].astype("float64"), rate)
    return out


def naive_metrics(
    df: pd.DataFrame, meta: dict[str, Any], mass: float, acc_min_std: float
) -> dict[str, Any]:
    """The validate stage's metrics of one trial, with pandas (NaN where one does not apply)."""
    from gaitgrf.core import contract as c

    streams = naive_split(df, meta)
    kind = meta["kind"]
    row: dict[str, Any] = {
        "trial_key": f"{meta['cohort_id']}/{meta['trial_id']}",
        "cohort_id": meta["cohort_id"],
        "subject_id": meta["subject_id"],
        "trial_id": meta["trial_id"],
        "kind": kind,
        "mass_kg": mass,
    }
    row["duration_s"] = max(t.iloc[-1] - t.iloc[0] for t, _, _ in streams.values())
    monotonic, worst = True, 0.0
    for t, _, rate in streams.values():
        dt = t.diff().iloc[1:]
        monotonic = monotonic and len(t) >= 2 and bool(t.notna().all()) and bool((dt > 0).all())
        worst = max(worst, abs(1.0 / dt.median() - rate) / rate)
    row["time_monotonic"] = monotonic
    row["rate_error_max"] = worst
    strict = [
        frame[ch]
        for _, frame, _ in streams.values()
        for ch in frame.columns
        if ch.startswith(("acc_", "angle_"))
    ]
    row["nan_fraction_max"] = max(col.isna().mean() for col in strict)

    _, acc, _ = streams["acc"]
    medians, stds, clipped, abs_max = {}, {}, {}, 0.0
    for loc in c.REQUIRED_ACC_LOCATIONS + c.OPTIONAL_ACC_LOCATIONS:
        cols = [f"acc_{loc}_{ax}" for ax in AXES]
        if not all(col in acc.columns for col in cols):
            continue
        xyz = acc[cols] / GRAVITY
        magnitude = np.sqrt((xyz**2).sum(axis=1, skipna=False))
        medians[loc] = magnitude.median()
        stds[loc] = (magnitude * GRAVITY).std(ddof=0)
        clipped[loc] = (xyz.abs() >= 15.5).any(axis=1).mean()
        abs_max = max(abs_max, xyz.abs().max().max())
    banded = [m for loc, m in medians.items() if loc in c.REQUIRED_ACC_LOCATIONS]
    row["acc_abs_max_g"] = abs_max
    row["acc_clipped_fraction"] = max(clipped.values())
    row["acc_median_g_min"] = min(banded)
    row["acc_median_g_max"] = max(banded)
    row["acc_std_min"] = min(stds.values())
    row["dead_sensors"] = ",".join(loc for loc, s in stds.items() if not s >= acc_min_std)

    _, kin, _ = streams["kin"]
    row["angle_abs_max_deg"] = (
        kin[[ch for ch in kin.columns if ch.startswith("angle_")]].abs().max().max()
    )

    t, grf, _ = streams["grf"]
    fz = grf[[f"grf_{side}_z" for side in SIDES]]
    weight = mass * GRAVITY
    row["grf_z_min_n"] = fz.min().min()
    for col in ("grf_peak_bw", "stance_median_s", "stance_count_l", "stance_count_r"):
        row[col] = math.nan
    row["stance_count_min"] = math.nan
    row["static_weight_ratio"] = math.nan
    # the library's rule: a static trial whose force is unknown at every sample skips the
    # static weight checks, with the reason in this column (the checks' row condition reads it,
    # so every row needs it: without it GX fails each check that names it)
    row["static_weight_skipped"] = None
    if kind == "walking":
        row["grf_peak_bw"] = max(fz.fillna(0.0).max().max(), 0.0) / weight
        durations: list[float] = []
        time_s = t.to_numpy()
        for side in SIDES:
            value, start, stop = naive_runs((fz[f"grf_{side}_z"] > 20.0).to_numpy())
            complete = value & (start > 0) & (stop < len(time_s))
            found = time_s[stop[complete]] - time_s[start[complete]]
            row[f"stance_count_{side}"] = len(found)
            durations += found.tolist()
        row["stance_median_s"] = float(np.median(durations)) if durations else math.nan
        row["stance_count_min"] = min(row["stance_count_l"], row["stance_count_r"])
    elif kind == "static":
        loaded = fz.notna().any(axis=1)
        if not loaded.any():
            row["static_weight_ratio"] = None
            row["static_weight_skipped"] = "GRF unknown at every sample"
            return row
        total = fz.fillna(0.0).sum(axis=1)[loaded]
        row["static_weight_ratio"] = total.mean() / weight
    return row


def naive_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of equal values: (value, start, stop (exclusive)) arrays, with pandas grouping."""
    s = pd.Series(mask)
    run_id = s.ne(s.shift()).cumsum()
    grouped = pd.DataFrame({"value": s, "pos": np.arange(len(s))}).groupby(run_id)
    return (
        grouped["value"].first().to_numpy(dtype=bool),
        grouped["pos"].first().to_numpy(dtype=np.intp),
        grouped["pos"].last().to_numpy(dtype=np.intp) + 1,
    )


def naive_passes(row: dict[str, Any], checks: list[Any]) -> bool:
    """The trial checks on one metrics row in plain Python: the decision GX makes, for the
    trials past the GX sample (their GX cost is extrapolated, not paid; without a decision
    they would all be written, quarantined ones too, and the resample check would differ).
    As GX does: rows of another kind or with a skip reason are not checked, and range and set
    checks pass a missing value (the `not_null` checks are there for those)."""

    def missing(value: Any) -> bool:
        return value is None or (isinstance(value, float) and math.isnan(value))

    for check in checks:
        if check.kind is not None and row["kind"] != check.kind:
            continue
        if check.skip_when is not None and not missing(row.get(check.skip_when)):
            continue
        value = row.get(check.column)
        if check.test == "not_null" or missing(value):
            if check.test == "not_null" and missing(value):
                return False
            continue
        if check.test == "in_set" and value not in check.values:
            return False
        if check.test == "between" and not (
            (check.min_value is None or value >= check.min_value)
            and (check.max_value is None or value <= check.max_value)
        ):
            return False
    return True


def naive_validate(spec: dict[str, Any]) -> dict[str, Any]:
    import great_expectations as gx
    import pyarrow.parquet as pq

    from gaitgrf.core import contract as c
    from gaitgrf.core.config import Params
    from gaitgrf.pipeline.validate.checks import trial_checks

    params = Params()
    setup_start = time.perf_counter()
    context = gx_context()
    batch = (
        context.data_sources.add_pandas("naive")
        .add_dataframe_asset("trial")
        .add_batch_definition_whole_dataframe("trial")
    )
    suite = context.suites.add(gx.ExpectationSuite(name="trial"))
    checks = trial_checks(params.contract, params.validate_)
    for check in checks:
        suite.add_expectation(check.expectation())
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="trial", data=batch, suite=suite)
    )
    setup_s = time.perf_counter() - setup_start

    loop_start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    gx_seconds: list[float] = []
    plain_s = 0.0  # deciding the trials past the GX sample: not part of the extrapolated cost
    decisions: dict[str, bool] = {}
    written = 0
    out_root = Path(spec["out"])
    for cohort in sorted(p for p in Path(spec["raw"]).iterdir() if p.is_dir()):
        subjects = pd.read_csv(cohort / c.SUBJECTS_FILE).set_index("subject_id")
        out = out_root / cohort.name / c.TRIALS_DIR
        out.mkdir(parents=True)
        shutil.copy(cohort / c.SUBJECTS_FILE, out.parent / c.SUBJECTS_FILE)
        for path in sorted((cohort / c.TRIALS_DIR).glob(f"*{c.TRIAL_SUFFIX}")):
            df = pd.read_parquet(path)
            meta = json.loads(pq.read_schema(path).metadata[c.TRIAL_METADATA_KEY])
            for ch, info in meta["channels"].items():  # canonical units
                family = c.family_of(ch)
                if family is not None and info["unit"] != family.unit:
                    df[ch] = df[ch] * c.UNIT_FACTORS[family.unit][info["unit"]]
                    info["unit"] = family.unit
            mass = float(subjects.loc[meta["subject_id"], "mass_kg"])
            row = naive_metrics(df, meta, mass, params.validate_.acc_min_std)
            rows.append(row)
            if len(gx_seconds) < spec["gx_trials"]:
                start = time.perf_counter()
                result = definition.run(batch_parameters={"dataframe": pd.DataFrame([row])})
                gx_seconds.append(time.perf_counter() - start)
                passed = bool(result.success)
                decisions[row["trial_key"]] = passed
            else:
                start = time.perf_counter()
                passed = naive_passes(row, checks)
                plain_s += time.perf_counter() - start
            if passed:
                df.attrs["gaitgrf"] = meta
                df.to_parquet(out / path.name)
                written += 1
    loop_s = time.perf_counter() - loop_start
    pd.DataFrame(rows).to_csv(spec["metrics"], index=False)
    n = len(rows)
    gx_mean = float(np.mean(gx_seconds)) if gx_seconds else 0.0
    return {
        "trials": n,
        "written": written,
        "gx_trials": len(gx_seconds),
        "gx_setup_s": setup_s,
        "gx_per_trial_s": gx_mean,
        "measured_s": setup_s + loop_s,
        # Every trial run through GX: the GX-free part of the loop plus the mean GX cost per trial.
        "extrapolated_s": setup_s + loop_s - plain_s - sum(gx_seconds) + gx_mean * n,
        "decisions": decisions,
    }


# --- baseline: resample ------------------------------------------------------------------------
def naive_plan(channels: set[str]) -> list[tuple[str, dict[str, str], dict[str, float]]]:
    """(output name, source channel per foot, sign per foot) of every input channel."""
    from gaitgrf.physics import stream as physics

    plan = []
    for loc, bilateral in (
        ("pelvis", False),
        ("trunk", False),
        ("thigh", True),
        ("shank", True),
        ("foot", True),
    ):
        places = [f"{loc}_{s}" for s in SIDES] if bilateral else [loc]
        if not all(f"acc_{p}_{ax}" in channels for p in places for ax in AXES):
            continue
        for rel in ("ipsi", "contra") if bilateral else ("",):
            for ax in AXES:
                name = f"acc_{loc}_{rel}_{ax}" if bilateral else f"acc_{loc}_{ax}"
                source = {
                    side: f"acc_{loc}_{side if rel == 'ipsi' else OTHER[side]}_{ax}"
                    if bilateral
                    else f"acc_{loc}_{ax}"
                    for side in SIDES
                }
                sign = {side: -1.0 if side == "r" and ax == "y" else 1.0 for side in SIDES}
                plan.append((name, source, sign))
    for joint in ("hip", "knee", "ankle"):
        for rel in ("ipsi", "contra"):
            for plane in ("flex", "add", "rot"):
                source = {
                    side: f"angle_{joint}_{side if rel == 'ipsi' else OTHER[side]}_{plane}"
                    for side in SIDES
                }
                plan.append((f"angle_{joint}_{rel}_{plane}", source, dict.fromkeys(SIDES, 1.0)))
    if physics.available(channels):  # the Newton estimate, cut like any other channel
        per_side = {side: physics.sample_sources(side) for side in SIDES}
        for j, name in enumerate(physics.sample_channel_names()):
            source = {side: per_side[side][0][j] for side in SIDES}
            sign = {side: float(per_side[side][1][j]) for side in SIDES}
            plan.append((name, source, sign))
    return plan


def naive_physics(
    filtered: dict[str, tuple[np.ndarray, np.ndarray]],
    streams: dict[str, tuple[pd.Series, pd.DataFrame, float]],
    wearable: dict[str, Any],
    cfg: Any,
) -> None:
    """Add the physics stream's channels to `filtered`, computed by the library
    (`physics.with_physics`) from the baseline's filtered accelerometers and joint angles: the
    science is the library's, as the wearable events are; the baseline differs in how it gets
    there (pandas filtering, per-stance loops)."""
    from gaitgrf.io.trial_file import Stream
    from gaitgrf.physics import stream as physics

    built = {}
    for name in ("acc", "kin"):
        t, frame, rate = streams[name]
        cols = [ch for ch in frame.columns if ch in filtered]
        data = np.stack([filtered[ch][1] for ch in cols], axis=1)
        built[name] = Stream(name, rate, t.to_numpy(), tuple(cols), data, ("",) * len(cols))
    events = {s: (wearable[s].heel_strikes, wearable[s].toe_offs) for s in SIDES}
    limits = (cfg.events.min_stance_s, cfg.events.max_stance_s)
    stream = physics.with_physics(built, events, limits)[physics.STREAM_PHYSICS]
    for j, ch in enumerate(stream.channels):
        filtered[ch] = (stream.time, stream.data[:, j])


def naive_targets(side: str) -> list[tuple[str, float]]:
    """GRF channels of (vertical, anterior, lateral) of foot `side`, lateral mirrored for r."""
    return [
        (f"grf_{side}_z", 1.0),
        (f"grf_{side}_x", 1.0),
        (f"grf_{side}_y", 1.0 if side == "l" else -1.0),
    ]


def naive_contact(time_s: np.ndarray, fz: np.ndarray, threshold: float) -> np.ndarray:
    """Foot on the plate: fz above threshold, dips shorter than 30 ms without NaN closed."""
    on = fz > threshold
    dt = float(np.median(np.diff(time_s)))
    for value, start, stop in zip(*(a.tolist() for a in naive_runs(on)), strict=True):
        if (
            not value
            and start > 0
            and stop < len(on)
            and (stop - start) * dt < 0.03
            and not np.isnan(fz[start:stop]).any()
        ):
            on[start:stop] = True
    return on


def naive_plate_events(
    time_s: np.ndarray, fz: np.ndarray, cfg: Any
) -> tuple[list[float], list[float]]:
    """Heel strikes and toe offs of complete stances, one stance at a time."""
    thr = cfg.force_threshold_n
    on = naive_contact(time_s, fz, thr)
    hs, to = [], []

    def crossing(i0: int, i1: int) -> float:
        f0, f1 = fz[i0], fz[i1]
        w = min(max((thr - f0) / (f1 - f0 if f1 != f0 else 1.0), 0.0), 1.0)
        return float(time_s[i0] + w * (time_s[i1] - time_s[i0]))

    for value, first, end in zip(*(a.tolist() for a in naive_runs(on)), strict=True):
        if not value or first == 0 or end >= len(fz):
            continue
        if np.isnan(fz[first - 1]) or np.isnan(fz[end]):
            continue
        start, stop = crossing(first - 1, first), crossing(end - 1, end)
        if cfg.min_stance_s <= stop - start <= cfg.max_stance_s:
            hs.append(start)
            to.append(stop)
    return hs, to


def naive_filter(x: pd.Series, rate: float, cutoff: float | None, order: int) -> np.ndarray:
    """Bridge dropouts (pandas interpolate), zero-lag Butterworth (filtfilt), long gaps back NaN."""
    from scipy.signal import butter, filtfilt

    x = x.astype("float64").reset_index(drop=True)
    gaps = x.isna()
    y = x.interpolate(limit_direction="both").to_numpy()
    if cutoff is not None and cutoff < rate / 2 and len(y) > 1 and np.isfinite(y).all():
        b, a = butter(order, cutoff, fs=rate)
        y = filtfilt(b, a, y)
    if gaps.any():
        length = gaps.groupby(gaps.ne(gaps.shift()).cumsum()).transform("sum")
        y = np.where(gaps & (length > 0.1 * rate + 1e-9), np.nan, y)
    return y


class NaiveSamples:
    """Samples of one layout as lists, stacked at the end."""

    def __init__(self) -> None:
        self.inputs: list[np.ndarray] = []
        self.targets: list[np.ndarray] = []
        self.ids: dict[str, list[Any]] = {
            k: [] for k in ("subject_id", "cohort_id", "trial_id", "side", "start_s", "duration_s")
        }
        self.dropped = 0

    def add(
        self,
        x: np.ndarray,
        y: np.ndarray,
        meta: dict[str, Any],
        side: str,
        start: float,
        duration: float,
    ) -> None:
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            self.dropped += 1
            return
        self.inputs.append(x)
        self.targets.append(y)
        for key, value in (
            ("subject_id", meta["subject_id"]),
            ("cohort_id", meta["cohort_id"]),
            ("trial_id", meta["trial_id"]),
            ("side", side),
            ("start_s", start),
            ("duration_s", duration),
        ):
            self.ids[key].append(value)

    def save(self, path: Path, layout: str, channels: list[str], points: int) -> int:
        n = len(self.inputs)
        inputs = np.stack(self.inputs) if n else np.empty((0, len(channels), points))
        targets = np.stack(self.targets) if n else np.empty((0, 3, points))
        arrays: dict[str, Any] = {
            k: np.array(v, dtype=float if k.endswith("_s") else str) for k, v in self.ids.items()
        }
        arrays["inputs"] = inputs.astype(np.float32)
        arrays["targets"] = targets.astype(np.float32)
        arrays["static"] = np.zeros((n, 0), np.float32)
        np.savez(path, **arrays)
        meta = {"layout": layout, "channels": channels, "samples": n, "dropped": self.dropped}
        path.with_suffix(".json").write_text(json.dumps(meta))
        return n


def naive_resample(spec: dict[str, Any]) -> dict[str, Any]:
    from gaitgrf.core import contract as c
    from gaitgrf.core.config import Params
    from gaitgrf.io.trial_file import Stream
    from gaitgrf.physics import stream as physics
    from gaitgrf.pipeline.resample.events import AgreementTally, Events
    from gaitgrf.pipeline.resample.wearable import wearable_events_by_side

    cfg = Params().resample
    root, out = Path(spec["validated"]), Path(spec["out"])
    cohorts = sorted(p for p in root.iterdir() if p.is_dir())
    subjects = pd.concat([pd.read_csv(p / c.SUBJECTS_FILE) for p in cohorts], ignore_index=True)
    mass = subjects.set_index(["cohort_id", "subject_id"])["mass_kg"]
    paths = [p for co in cohorts for p in sorted((co / c.TRIALS_DIR).glob("*.parquet"))]
    stance, window = NaiveSamples(), NaiveSamples()
    events: list[dict[str, Any]] = []
    tally = AgreementTally()
    plan: list[tuple[str, dict[str, str], dict[str, float]]] | None = None
    u = np.linspace(0.0, 1.0, cfg.stance_points)
    length = round(cfg.window.length_s * cfg.rate_hz)
    step = max(1, round(cfg.window.stride_s * cfg.rate_hz))
    walking = 0
    for path in paths:
        df = pd.read_parquet(path)
        meta = df.attrs["gaitgrf"]
        if meta["kind"] != "walking":
            continue
        walking += 1
        if plan is None:  # input channels from the first walking trial
            plan = naive_plan(set(meta["channels"]))
        weight = float(mass[(meta["cohort_id"], meta["subject_id"])]) * GRAVITY
        streams = naive_split(df, meta)
        t_grf = streams["grf"][0].to_numpy()

        # events: force plates (reference) and the accelerometers
        plate = {}
        for side in SIDES:
            fz = streams["grf"][1][f"grf_{side}_z"].to_numpy()
            plate[side] = naive_plate_events(t_grf, fz, cfg.events)
        t_acc, acc, acc_rate = streams["acc"]
        acc_stream = Stream(
            "acc",
            acc_rate,
            t_acc.to_numpy(),
            tuple(acc.columns),
            acc.to_numpy(),
            tuple("m/s^2" for _ in acc.columns),
        )
        wearable = wearable_events_by_side(acc_stream)
        for side in SIDES:
            tally.add(Events(np.array(plate[side][0]), np.array(plate[side][1])), wearable[side])
            for source, (hs, to) in (
                ("plate", plate[side]),
                ("wearable", (wearable[side].heel_strikes, wearable[side].toe_offs)),
            ):
                for kind, times in (("heel_strike", hs), ("toe_off", to)):
                    events += [
                        {
                            "cohort_id": meta["cohort_id"],
                            "subject_id": meta["subject_id"],
                            "trial_id": meta["trial_id"],
                            "side": side,
                            "kind": kind,
                            "source": source,
                            "time_s": float(when),
                        }
                        for when in times
                    ]

        # filter the channels the samples use, each at its stream's rate
        needed = {src for _, source, _ in plan for src in source.values()}
        if any(name.startswith("physics_") for name, _, _ in plan):
            needed = {ch for ch in needed if not ch.startswith("physics_")}
            needed |= set(physics.REQUIRED_CHANNELS)
        needed |= {f"grf_{side}_{ax}" for side in SIDES for ax in AXES}
        filtered: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for t, frame, rate in streams.values():
            for ch in frame.columns:
                if ch not in needed:
                    continue
                family = c.family_of(ch)
                cutoff = cfg.filter.cutoff_hz.get(family.name) if family else None
                filtered[ch] = (
                    t.to_numpy(),
                    naive_filter(frame[ch], rate, cutoff, cfg.filter.order),
                )

        if any(name.startswith("physics_") for name, _, _ in plan):
            naive_physics(filtered, streams, wearable, cfg)

        # the trial's common time base
        start = max(t.iloc[0] for t, _, _ in streams.values())
        stop = min(t.iloc[-1] for t, _, _ in streams.values())
        n_grid = int(np.floor((stop - start) * cfg.rate_hz + 1e-6)) + 1 if stop >= start else 0
        grid = start + np.arange(n_grid) / cfg.rate_hz

        # stance layout: one sample per complete stance inside the common time base
        for side in SIDES:
            for heel, toe in zip(*plate[side], strict=True):
                if n_grid == 0 or heel < grid[0] or toe > grid[-1]:
                    continue
                times = heel + u * (toe - heel)
                x = np.stack(
                    [sign[side] * np.interp(times, *filtered[src[side]]) for _, src, sign in plan]
                )
                y = np.stack(
                    [s * np.interp(times, *filtered[ch]) / weight for ch, s in naive_targets(side)]
                )
                stance.add(x, y, meta, side, heel, toe - heel)

        # window layout: every channel on the grid, then one sample per window and foot
        on_grid = pd.DataFrame(
            {ch: np.interp(grid, t, values) for ch, (t, values) in filtered.items()}, index=grid
        )
        for side in SIDES:
            fz = streams["grf"][1][f"grf_{side}_z"].to_numpy()
            contact = naive_contact(t_grf, fz, cfg.events.force_threshold_n).astype(float)
            on = np.interp(grid, t_grf, contact) >= 0.5
            for a in range(0, n_grid - length + 1, step):
                win = on_grid.iloc[a : a + length]
                x = np.stack([sign[side] * win[src[side]].to_numpy() for _, src, sign in plan])
                y = np.stack(
                    [
                        s * win[ch].to_numpy() / weight * on[a : a + length]
                        for ch, s in naive_targets(side)
                    ]
                )
                window.add(x, y, meta, side, grid[a], length / cfg.rate_hz)

    out.mkdir(parents=True, exist_ok=True)
    channels = [name for name, _, _ in plan or []]
    samples = {
        "stance": stance.save(out / "stance.npz", "stance", channels, cfg.stance_points),
        "window": window.save(out / "window.npz", "window", channels, length),
    }
    subjects.to_csv(out / c.SUBJECTS_FILE, index=False)
    pd.DataFrame(events).to_parquet(out / "events.parquet")
    Path(spec["report"]).write_text(json.dumps({"event_agreement": tally.summary()}))
    return {"trials": len(paths), "walking_trials": walking, "samples": samples}


# --- baseline: fuse ----------------------------------------------------------------------------
def naive_fuse(spec: dict[str, Any]) -> dict[str, Any]:
    from gaitgrf.core.config import Params

    cfg = Params().fuse
    root, out = Path(spec["resampled"]), Path(spec["out"])
    subjects = (
        pd.read_csv(root / "subjects.csv").set_index(["cohort_id", "subject_id"]).sort_index()
    )
    wanted = []
    for loc in ("pelvis", "trunk", "thigh", "shank", "foot"):
        if loc in cfg.sensors:
            places = [loc] if loc in ("pelvis", "trunk") else [f"{loc}_ipsi", f"{loc}_contra"]
            wanted += [f"acc_{p}_{ax}" for p in places for ax in AXES]
    for joint in ("hip", "knee", "ankle"):
        for rel in ("ipsi", "contra"):
            wanted += [
                f"angle_{joint}_{rel}_{plane}"
                for plane in ("flex", "add", "rot")
                if f"{joint}_{plane}" in cfg.kinematics
            ]
    samples = {}
    for path in sorted(root.glob("*.npz")):
        layout = path.stem
        channels = json.loads(path.with_suffix(".json").read_text())["channels"]
        index = [channels.index(name) for name in wanted]
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        inputs: list[np.ndarray] = []
        static: dict[str, list[list[float]]] = {name: [] for name in cfg.conditions}
        for i in range(len(arrays["inputs"])):
            inputs.append(arrays["inputs"][i, index])
            subject = subjects.loc[(arrays["cohort_id"][i], arrays["subject_id"][i])]
            left = arrays["side"][i] == "l"
            ipsi, contra = ("left", "right") if left else ("right", "left")
            affected = subject["affected_side"]
            features = {
                "hka_ipsi_deg": subject[f"knee_alignment_{ipsi}_deg"],
                "hka_contra_deg": subject[f"knee_alignment_{contra}_deg"],
                "affected_none": float(affected == "none"),
                "affected_left": float(affected == "left"),
                "affected_right": float(affected == "right"),
                "ipsi_is_affected": float(affected == ipsi),
                "contra_is_affected": float(affected == contra),
                "ipsi_is_left": float(left),
                "mass_kg": subject["mass_kg"],
                "height_m": subject["height_m"],
                "age_years": subject["age_years"],
                "sex_female": {"female": 1.0, "male": 0.0}.get(subject["sex"], math.nan),
            }
            for name, groups in cfg.conditions.items():
                static[name].append(
                    [features[f] for g, names in STATIC_NAMES.items() if g in groups for f in names]
                )
        x = np.stack(inputs) if inputs else np.empty((0, len(wanted), arrays["inputs"].shape[2]))
        (out / layout).mkdir(parents=True, exist_ok=True)
        for name, rows in static.items():
            width = sum(len(v) for g, v in STATIC_NAMES.items() if g in cfg.conditions[name])
            s = np.array(rows, dtype=np.float32).reshape(len(rows), width)
            np.savez(out / layout / f"{name}.npz", **{**arrays, "inputs": x, "static": s})
        samples[layout] = len(x)
    return {"samples": samples}


# --- child processes ---------------------------------------------------------------------------
STAGES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "validate": real_validate,
    "resample": real_resample,
    "fuse": real_fuse,
    "naive_validate": naive_validate,
    "naive_resample": naive_resample,
    "naive_fuse": naive_fuse,
}


def child(stage: str, spec: dict[str, Any]) -> None:
    """Run one stage in this (fresh) process and write its timings and peak RSS."""
    import warnings

    warnings.simplefilter("ignore")
    import gaitgrf.pipeline.fuse.run
    import gaitgrf.pipeline.resample.run
    import gaitgrf.pipeline.validate.run  # noqa: F401  (imports are not the stage's cost)

    gx_import_s = 0.0
    if stage.endswith("validate"):
        start = time.perf_counter()
        import great_expectations  # noqa: F401

        gx_import_s = time.perf_counter() - start
    ready_mb = peak_rss_mb()
    start = time.perf_counter()
    info = STAGES[stage](spec)
    seconds = time.perf_counter() - start
    result = {
        "stage_s": seconds,
        "gx_import_s": gx_import_s,
        "rss_after_imports_mb": ready_mb,
        "peak_rss_mb": peak_rss_mb(),
        **info,
    }
    Path(spec["result"]).write_text(json.dumps(result))


def run_child(stage: str, spec: dict[str, Any], tmp: Path) -> dict[str, Any]:
    result = tmp / f"result-{stage}-{time.monotonic_ns()}.json"
    started = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--child",
            stage,
            json.dumps({**spec, "result": str(result)}),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
        raise SystemExit(f"{stage} failed (exit {proc.returncode})")
    out: dict[str, Any] = json.loads(result.read_text())
    result.unlink()
    out["process_s"] = time.perf_counter() - started
    out["working_mb"] = out["peak_rss_mb"] - out["rss_after_imports_mb"]
    print(
        f"  {stage:<16} {out['stage_s'] + out['gx_import_s']:7.1f} s, "
        f"peak RSS {out['peak_rss_mb']:5.0f} MB (+{out['working_mb']:.0f} over imports)",
        flush=True,
    )
    return out


# --- cohort ------------------------------------------------------------------------------------
def make_cohort(raw: Path, subjects: int) -> float:
    from gaitgrf.core.config import SynthConfig
    from gaitgrf.synth import generate_cohort

    start = time.perf_counter()
    generate_cohort(
        SynthConfig(cohort_id=COHORT_ID, subjects=subjects),
        raw / COHORT_ID,
        workers=os.cpu_count() or 1,
    )
    return time.perf_counter() - start


def sub_cohort(raw: Path, small: Path, subjects: int) -> None:
    """The first `subjects` subjects of the cohort under `raw`, trial files hard-linked."""
    from gaitgrf.core import contract as c
    from gaitgrf.io.cohort_store import write_manifest

    src, dst = raw / COHORT_ID, small / COHORT_ID
    (dst / c.TRIALS_DIR).mkdir(parents=True)
    table = pd.read_csv(src / c.SUBJECTS_FILE, dtype=str, keep_default_na=False)
    keep = table.iloc[:subjects]
    keep.to_csv(dst / c.SUBJECTS_FILE, index=False)
    ids = set(keep["subject_id"])
    for path in (src / c.TRIALS_DIR).iterdir():
        if path.name.split("_")[0] in ids:
            os.link(path, dst / c.TRIALS_DIR / path.name)
    manifest = json.loads((src / c.MANIFEST_FILE).read_text())
    write_manifest(dst, COHORT_ID, {**manifest["source"], "subset_of_subjects": subjects})


# --- equivalence checks ------------------------------------------------------------------------
def check_validate(real_csv: Path, naive_csv: Path, decisions: dict[str, bool]) -> dict[str, Any]:
    real = pd.read_csv(real_csv).set_index("trial_key")
    naive = pd.read_csv(naive_csv).set_index("trial_key").loc[real.index]
    columns = [
        col
        for col in naive.columns
        if col in real.columns and pd.api.types.is_numeric_dtype(real[col])
    ]
    worst, worst_col = 0.0, ""
    for col in columns:
        a, b = real[col].astype(float).to_numpy(), naive[col].astype(float).to_numpy()
        both_nan = np.isnan(a) & np.isnan(b)
        rel = np.abs(a - b) / (np.abs(a) + 1e-6)
        rel = np.where(both_nan, 0.0, rel)  # a NaN on one side only stays NaN: a mismatch
        err = float(np.nanmax(rel)) if not np.isnan(rel).any() else math.inf
        if err > worst:
            worst, worst_col = err, col
    agree = sum(bool(real.loc[k, "passed"]) == v for k, v in decisions.items())
    return {
        "trials": len(real),
        "metric_columns": len(columns),
        "max_rel_diff": worst,
        "max_rel_diff_column": worst_col,
        "gx_decisions_agree": f"{agree}/{len(decisions)}",
        "real_quarantined": int((~real["passed"].astype(bool)).sum()),
        # the real CSV has 6 significant digits
        "ok": worst <= 1e-5 and agree == len(decisions),
    }


def max_abs_diff(a: np.ndarray, b: np.ndarray, chunk: int = 4096) -> float:
    """Largest |a - b| (float64, in chunks of samples); inf when NaN sits in different places."""
    worst = 0.0
    for i in range(0, len(a), chunk):
        x, y = a[i : i + chunk].astype(np.float64), b[i : i + chunk].astype(np.float64)
        if not np.array_equal(np.isnan(x), np.isnan(y)):
            return math.inf
        if x.size:
            worst = max(worst, float(np.nanmax(np.abs(x - y), initial=0.0)))
    return worst


def shared_arrays(path: Path) -> dict[str, np.ndarray]:
    """Arrays a sample-set file keeps outside its `.npz`, memory-mapped (read as compared).

    The library's fuse writes `inputs` and `targets` once per layout, as `.npy` files its
    condition sidecars name (docs/features.md); the baseline writes them into every file.
    """
    from gaitgrf.core.samples import SHARED_KEY

    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return {}
    files = json.loads(sidecar.read_text()).get(SHARED_KEY, {})
    return {k: np.load(path.parent / f, mmap_mode="r") for k, f in files.items()}


def compare_sets(real: Path, naive: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    """Same samples (count, trial, foot, in order) and the largest difference of `keys`."""
    with np.load(real) as npz, np.load(naive) as b:
        a = shared_arrays(real)
        for k in ("trial_id", "side", *keys):
            if k not in a:
                a[k] = npz[k]
        out: dict[str, Any] = {
            "samples_real": len(a["inputs"]),
            "samples_baseline": len(b["inputs"]),
        }
        same = out["samples_real"] == out["samples_baseline"] and all(
            np.array_equal(a[k], b[k]) for k in ("trial_id", "side")
        )
        if same:
            out.update({f"{k}_max_abs_diff": max_abs_diff(a[k], b[k]) for k in keys})
    out["same_samples"] = bool(same)
    # float32 storage; inputs in m/s^2 and deg (up to ~100), targets in body weights
    out["ok"] = out["same_samples"] and all(
        v <= 1e-3 for k, v in out.items() if k.endswith("_max_abs_diff")
    )
    return out


# --- report ------------------------------------------------------------------------------------
def stage_row(
    name: str,
    trials: int,
    real_s: float,
    real: dict[str, Any],
    base_s: float | None,
    base: dict[str, Any] | None,
) -> dict[str, Any]:
    """A table row; the baseline's cells are None when it did not run (`--no-baseline`)."""
    return {
        "stage": name,
        "trials": trials,
        "real_s": real_s,
        "real_trials_per_s": trials / real_s,
        "baseline_s": base_s,
        "baseline_trials_per_s": trials / base_s if base_s else None,
        "speedup": base_s / real_s if base_s else None,
        "real_peak_rss_mb": real["peak_rss_mb"],
        "real_stage_mb": real["working_mb"],
        "baseline_peak_rss_mb": base["peak_rss_mb"] if base else None,
        "baseline_stage_mb": base["working_mb"] if base else None,
    }


def report_rows(trials: int, r: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per library stage, with its baseline where one ran (`b` is empty otherwise)."""
    rv, nv = r["validate"], b.get("validate")
    rows = [
        stage_row(
            "validate (incl. GX import)",
            trials,
            rv["stage_s"] + rv["gx_import_s"],
            rv,
            nv["extrapolated_s"] + nv["gx_import_s"] if nv else None,
            nv,
        ),
        stage_row(
            "validate (GX imported)",
            trials,
            rv["stage_s"],
            rv,
            nv["extrapolated_s"] if nv else None,
            nv,
        ),
    ]
    for name, key, base_key in (
        ("resample", "resample", "resample"),
        ("resample (1 worker)", "resample_w1", "resample"),
        ("fuse", "fuse", "fuse"),
    ):
        if key in r:
            base = b.get(base_key)
            base_s = base["stage_s"] if base else None
            rows.append(stage_row(name, trials, r[key]["stage_s"], r[key], base_s, base))
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    columns = (  # header, key, format
        ("stage", "stage", "<28"),
        ("real s", "real_s", ">8.1f"),
        ("trials/s", "real_trials_per_s", ">9.1f"),
        ("base s", "baseline_s", ">9.1f"),
        ("trials/s", "baseline_trials_per_s", ">9.1f"),
        ("speed-up", "speedup", ">9.1f"),
        ("real peak MB", "real_peak_rss_mb", ">13.0f"),
        ("+stage", "real_stage_mb", ">7.0f"),
        ("base peak MB", "baseline_peak_rss_mb", ">13.0f"),
        ("+stage", "baseline_stage_mb", ">7.0f"),
    )
    widths = [int(fmt[1:].split(".")[0]) for _, _, fmt in columns]
    print(
        " ".join(
            f"{h:{'<' if i == 0 else '>'}{w}}"
            for i, ((h, _, _), w) in enumerate(zip(columns, widths, strict=True))
        )
    )
    print("-" * (sum(widths) + len(widths) - 1))
    for row in rows:
        cells = [
            format(row[key], fmt) if row[key] is not None else "-".rjust(w)
            for (_, key, fmt), w in zip(columns, widths, strict=True)
        ]
        if row["speedup"] is not None:
            cells[5] = cells[5].strip().rjust(widths[5] - 1) + "x"
        print(" ".join(cells))


def library_and_baseline(
    args: argparse.Namespace,
    tmp: Path,
    real: dict[str, str],
    naive: dict[str, str],
    r: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The baseline's validate, the library's resample (default workers and one) and fuse, and
    the baseline's resample and fuse, each checked against the library's output.

    Fills `r` with the library's children and returns the baseline's children and the checks;
    the library's validate (already in `r`) is the first step of both modes, in `main`.
    """
    b: dict[str, Any] = {}
    b["validate"] = run_child(
        "naive_validate",
        {
            "raw": str(tmp / "raw"),
            "out": naive["val"],
            "metrics": str(Path(naive["report"]) / "metrics.csv"),
            "gx_trials": args.baseline_trials,
        },
        tmp,
    )
    checks = {
        "validate": check_validate(
            Path(real["report"]) / "trial_metrics.csv",
            Path(naive["report"]) / "metrics.csv",
            b["validate"]["decisions"],
        )
    }
    r["resample"] = run_child(
        "resample",
        {"validated": real["val"], "out": real["res"], "report": real["report"] + "/ev.json"},
        tmp,
    )
    r["resample_w1"] = run_child(
        "resample",
        {
            "validated": real["val"],
            "out": str(tmp / "res-w1"),
            "report": real["report"] + "/ev1.json",
            "workers": 1,
        },
        tmp,
    )
    shutil.rmtree(tmp / "res-w1")
    b["resample"] = run_child(
        "naive_resample",
        {
            "validated": naive["val"],
            "out": naive["res"],
            "report": naive["report"] + "/ev.json",
        },
        tmp,
    )
    shutil.rmtree(naive["val"])
    r["resample"]["output_mb"] = folder_mb(Path(real["res"]))
    checks["resample"] = {
        layout: compare_sets(
            Path(real["res"]) / f"{layout}.npz",
            Path(naive["res"]) / f"{layout}.npz",
            ("inputs", "targets", "start_s"),
        )
        for layout in ("stance", "window")
    }
    r["fuse"] = run_child("fuse", {"resampled": real["res"], "out": real["fused"]}, tmp)
    r["fuse"]["output_mb"] = folder_mb(Path(real["fused"]))
    b["fuse"] = run_child("naive_fuse", {"resampled": naive["res"], "out": naive["fused"]}, tmp)
    checks["fuse"] = {
        f"{layout}/{cond}": compare_sets(
            Path(real["fused"]) / layout / f"{cond}.npz",
            Path(naive["fused"]) / layout / f"{cond}.npz",
            ("inputs", "static"),
        )
        for layout in ("stance", "window")
        for cond in ("base", "subject")
    }
    for tag in (real, naive):
        for key in ("val", "res", "fused"):
            shutil.rmtree(tag[key], ignore_errors=True)
    return b, checks


def print_equivalence(checks: dict[str, Any]) -> None:
    print("equivalence (baseline vs library):")
    v = checks["validate"]
    print(
        f"  validate: {v['metric_columns']} metric columns x {v['trials']} trials, max relative "
        f"difference {v['max_rel_diff']:.1e} ({v['max_rel_diff_column']}); GX decisions agree "
        f"{v['gx_decisions_agree']}; library quarantined {v['real_quarantined']} -> "
        f"{'OK' if v['ok'] else 'MISMATCH'}"
    )
    for stage in ("resample", "fuse"):
        for key, c in checks[stage].items():
            diffs = ", ".join(
                f"{k.removesuffix('_max_abs_diff')} {val:.1e}"
                for k, val in c.items()
                if k.endswith("_max_abs_diff")
            )
            print(
                f"  {stage} {key}: {c['samples_real']} vs {c['samples_baseline']} samples, "
                f"max |diff| {diffs or 'n/a'} -> {'OK' if c['ok'] else 'MISMATCH'}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description="Data stage throughput and memory benchmark")
    parser.add_argument("--scale", type=float, default=10.0, help="cohort size in default cohorts")
    parser.add_argument(
        "--baseline-trials",
        type=int,
        default=40,
        help="trials the baseline validates with GX (cost extrapolated)",
    )
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks/data_stages.json"))
    parser.add_argument("--tmp", type=Path, default=None, help="parent of the temporary folder")
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="library stages only, no baseline, equivalence check or 1-worker resample (for "
        "large --scale: the baseline's resample takes 5-25x the library's); each stage's "
        "input is deleted once the next stage has read it, to bound the disk",
    )
    parser.add_argument("--child", nargs=2, metavar=("STAGE", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_trials < 1 or args.scale <= 0:
        parser.error("--baseline-trials must be at least 1 and --scale positive")
    if args.child:
        child(args.child[0], json.loads(args.child[1]))
        return

    from gaitgrf.core.config import SynthConfig

    wall = time.perf_counter()
    per_cohort = SynthConfig().subjects
    subjects = max(1, round(args.scale * per_cohort))
    small_subjects = max(1, round(subjects / 4))
    small_trials = small_subjects * (SynthConfig().walking_trials + SynthConfig().static_trials)
    trials = subjects * (SynthConfig().walking_trials + SynthConfig().static_trials)
    with tempfile.TemporaryDirectory(prefix="gaitgrf-bench-", dir=args.tmp) as tmp_name:
        tmp = Path(tmp_name)
        free_gb = shutil.disk_usage(tmp).free / 1e9
        print(f"cohort: {subjects} subjects, {trials} trials in {tmp} ({free_gb:.0f} GB free)")
        gen_s = make_cohort(tmp / "raw", subjects)
        sub_cohort(tmp / "raw", tmp / "raw-small", small_subjects)
        raw_mb, small_mb = folder_mb(tmp / "raw"), folder_mb(tmp / "raw-small")
        print(
            f"  generated {raw_mb:.0f} MB in {gen_s:.1f} s; sub-cohort {small_subjects} "
            f"subjects, {small_mb:.0f} MB"
        )

        def paths(tag: str) -> dict[str, str]:
            return {k: str(tmp / f"{tag}-{k}") for k in ("val", "res", "fused", "report")}

        # warm the file cache with the imports, so the first measured child is not penalised
        subprocess.run(
            [sys.executable, "-c", "import great_expectations, gaitgrf.pipeline.validate.run"],
            check=True,
            capture_output=True,
        )
        real, naive = paths("real"), paths("naive")
        os.makedirs(real["report"])
        os.makedirs(naive["report"])
        r: dict[str, Any] = {}
        b: dict[str, Any] = {}
        checks: dict[str, Any] = {}
        disk_mb = {"raw": raw_mb}
        r["validate"] = run_child(
            "validate",
            {"raw": str(tmp / "raw"), "out": real["val"], "report": real["report"]},
            tmp,
        )
        disk_mb["validated"] = folder_mb(Path(real["val"]))
        if args.no_baseline:
            r["resample"] = run_child(
                "resample",
                {"validated": real["val"], "out": real["res"], "report": real["report"] + "/e"},
                tmp,
            )
            disk_mb["resampled"] = folder_mb(Path(real["res"]))
            shutil.rmtree(real["val"])
            r["fuse"] = run_child("fuse", {"resampled": real["res"], "out": real["fused"]}, tmp)
            disk_mb["fused"] = folder_mb(Path(real["fused"]))
            shutil.rmtree(real["res"])
            shutil.rmtree(real["fused"])
        else:
            b, checks = library_and_baseline(args, tmp, real, naive, r)
            disk_mb["resampled"] = r["resample"]["output_mb"]
            disk_mb["fused"] = r["fuse"]["output_mb"]
        disk_mb["peak_estimate"] = raw_mb + max(
            disk_mb["validated"] + disk_mb["resampled"],
            disk_mb["resampled"] + disk_mb["fused"],
        )

        print(f"memory growth: library stages on the {small_subjects}-subject sub-cohort")
        small = paths("small")
        os.makedirs(small["report"])
        s = {
            "validate": run_child(
                "validate",
                {"raw": str(tmp / "raw-small"), "out": small["val"], "report": small["report"]},
                tmp,
            ),
            "resample": run_child(
                "resample",
                {"validated": small["val"], "out": small["res"], "report": small["report"] + "/e"},
                tmp,
            ),
            "fuse": run_child("fuse", {"resampled": small["res"], "out": small["fused"]}, tmp),
        }

    rows = report_rows(trials, r, b)
    nv = b.get("validate")
    growth = {}
    for stage in ("validate", "resample", "fuse"):
        big, little = r[stage], s[stage]
        growth[stage] = {
            "peak_rss_mb": [little["peak_rss_mb"], big["peak_rss_mb"]],
            "stage_mb": [little["working_mb"], big["working_mb"]],
            "peak_ratio": big["peak_rss_mb"] / little["peak_rss_mb"],
            "stage_ratio": big["working_mb"] / max(little["working_mb"], 1e-9),
            "kb_per_added_trial": (big["working_mb"] - little["working_mb"])
            * 1e3
            / max(trials - small_trials, 1),
        }
    data_ratio = raw_mb / small_mb
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
        },
        "scale": args.scale,
        "subjects": subjects,
        "trials": trials,
        "walking_trials": r["resample"]["walking_trials"],
        "raw_mb": raw_mb,
        "generation_s": gen_s,
        "memory_measure": "peak RSS (VmHWM) of a fresh process per stage; "
        "stage_mb = peak minus peak after imports",
        "stages": rows,
        "gx_import_s": r["validate"]["gx_import_s"],
        "real_validate_phases_s": r["validate"]["phases_s"],
        "baseline_validate": (
            {k: nv[k] for k in BASELINE_VALIDATE_KEYS if k in nv} if nv else None
        ),
        "disk_mb": disk_mb,
        "samples": r["resample"]["samples"],
        "equivalence": checks,
        "memory_growth": {
            "subjects": [small_subjects, subjects],
            "raw_mb": [small_mb, raw_mb],
            "data_ratio": data_ratio,
            "stages": growth,
        },
        "raw_children": {"real": r, "baseline": {k: v for k, v in b.items()}, "small": s},
        "wall_s": time.perf_counter() - wall,
    }
    if nv:
        result["raw_children"]["baseline"]["validate"] = {
            k: v for k, v in nv.items() if k != "decisions"
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=float) + "\n")

    print()
    print(
        f"data stages, scale {args.scale:g}: {subjects} subjects, {trials} trials "
        f"({result['walking_trials']} walking), {raw_mb:.0f} MB raw; {os.cpu_count()} CPUs"
    )
    print_table(rows)
    if nv:
        print(
            f"GX import {r['validate']['gx_import_s']:.1f} s (in validate's time above); "
            f"baseline GX: {nv['gx_per_trial_s'] * 1e3:.0f} ms/trial measured on "
            f"{nv['gx_trials']} trials, extrapolated to {trials} "
            f"(measured loop {nv['measured_s']:.1f} s)"
        )
    phases = ", ".join(f"{k} {v:.1f}" for k, v in r["validate"]["phases_s"].items())
    print(f"library validate phases (s): {phases}")
    print(f"samples: {r['resample']['samples']}")
    print()
    if checks:
        print_equivalence(checks)
    disk = ", ".join(f"{k} {v:,.0f}" for k, v in disk_mb.items())
    print(f"disk (MB): {disk}")
    print()
    print(
        f"memory growth, {small_subjects} -> {subjects} subjects "
        f"(data x{data_ratio:.2f}, {small_mb:.0f} -> {raw_mb:.0f} MB raw):"
    )
    for stage, g in growth.items():
        lo, hi = g["stage_mb"]
        verdict = "linear or better" if g["stage_ratio"] <= data_ratio * 1.1 else "SUPERLINEAR"
        print(
            f"  {stage:<9} peak RSS {g['peak_rss_mb'][0]:5.0f} -> {g['peak_rss_mb'][1]:5.0f} MB "
            f"(x{g['peak_ratio']:.2f}); above imports {lo:5.0f} -> {hi:5.0f} MB "
            f"(x{g['stage_ratio']:.2f}, {g['kb_per_added_trial']:+.1f} KB per added trial) "
            f"{verdict}"
        )
    print(f"wall time {result['wall_s']:.0f} s; written {args.out}")


if __name__ == "__main__":
    main()
