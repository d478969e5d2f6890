"""The `resample` stage: validated cohorts to model-ready sample sets (docs/resampling.md).

For every walking trial: filter each channel at its native rate (`signal`), detect gait events
from the force plates (the reference, 1 kHz) and from the accelerometers alone (`events`),
then build the layouts of `ResampleConfig.layouts` (`segmentation`). Static trials are counted and
skipped. Writes

* `<out>/<layout>.npz` (+ `.json`): one `SampleSet` per layout, written as trials complete
  (`gaitgrf.pipeline.resample.sink`), so memory does not grow with the cohort;
* `<out>/subjects.csv`: every subject of every cohort, as read (the static features come later);
* `<out>/events.parquet`: one row per event (cohort, subject, trial, side, kind, source, time_s),
  written in row groups as trials complete (`gaitgrf.pipeline.resample.event_sink`);
* the report (JSON, DVC metrics): trials, samples per layout, and force plate vs wearable event
  agreement per cohort and overall (counts as running sums, timing errors spilled to disk).

The per-trial path is numpy only: no pandas, no loop over samples. The folder is built aside
(`core.fsutil.staged_dir`) and swapped in at the end: a failed run leaves the previous output,
never a partial one, and nothing from an earlier run (a layout no longer asked for) survives.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from gaitgrf.core import contract as c
from gaitgrf.core.artifacts import EVENTS_TABLE, SUBJECTS_TABLE, set_file
from gaitgrf.core.config import ResampleConfig
from gaitgrf.core.errors import GaitGrfError
from gaitgrf.core.fsutil import staged_dir
from gaitgrf.core.samples import LAYOUTS
from gaitgrf.core.signal import common_time_base, filter_trial, interp_columns, resample_filtered
from gaitgrf.io.cohort_store import sha256_file
from gaitgrf.io.loader import Cohort, TrialRef, load_cohorts, read_trial
from gaitgrf.io.trial_file import Trial
from gaitgrf.physics.stream import with_physics
from gaitgrf.pipeline.resample.event_sink import AgreementLog, EventTableWriter
from gaitgrf.pipeline.resample.events import (
    Events,
    contact_mask,
    force_plate_events,
    stance_limits,
    wearable_pairs,
)
from gaitgrf.pipeline.resample.segmentation import (
    InputPlan,
    SampleBlock,
    body_weight_n,
    input_plan,
    stance_samples,
    window_samples,
)
from gaitgrf.pipeline.resample.sink import LayoutSink, sinks
from gaitgrf.pipeline.resample.wearable import (
    DEFAULT_WEARABLE_MODEL,
    WearableModel,
    wearable_events_by_side,
)

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
#: Tolerance for pairing a wearable event with a force-plate event (s).
AGREEMENT_TOLERANCE_S: Final = 0.15


class ResampleError(GaitGrfError):
    """The resample stage cannot run on what it was given."""

    hint = "run the validate stage first, or check paths.validated in params.yaml"


@dataclass(frozen=True)
class TrialResult:
    """What one walking trial contributes: events of both feet and samples per layout."""

    plate: Mapping[str, Events]
    wearable: Mapping[str, Events]
    blocks: Mapping[str, SampleBlock]


def process_trial(
    trial: Trial,
    weight_n: float,
    cfg: ResampleConfig,
    plan: InputPlan,
    model: WearableModel = DEFAULT_WEARABLE_MODEL,
) -> TrialResult:
    """Events (plate and wearable) and sample blocks of one walking trial."""
    grf = trial.streams[c.STREAM_GRF]
    acc = trial.streams[c.STREAM_ACC]
    fz = {s: grf.channel(c.grf_channel(s, "z")) for s in c.SIDES}
    plate = {s: force_plate_events(grf.time, fz[s], cfg.events) for s in c.SIDES}
    wearable = wearable_events_by_side(acc, model)
    # Only what samples are made of: inputs of either foot and the GRF (COP is not used).
    needed = plan.recorded_channels() | {c.grf_channel(s, ax) for s in c.SIDES for ax in c.AXES}
    filtered = filter_trial(trial, cfg.filter, needed)
    if plan.physics:
        filtered = with_physics(filtered, wearable_pairs(wearable), stance_limits(cfg.events))
    blocks: dict[str, SampleBlock] = {}
    grid = common_time_base(trial, cfg.rate_hz)
    if "stance" in cfg.layouts:
        stances = {s: np.stack([e.heel_strikes, e.toe_offs], axis=1) for s, e in plate.items()}
        span = (float(grid[0]), float(grid[-1])) if grid.size else (0.0, -1.0)
        blocks["stance"] = stance_samples(
            filtered, stances, plan, weight_n, cfg.stance_points, span
        )
    if "window" in cfg.layouts:
        resampled = resample_filtered(trial, filtered, cfg.rate_hz)
        on = {
            s: interp_columns(grf.time, contact_mask(grf.time, fz[s], cfg.events), grid) >= 0.5
            for s in c.SIDES
        }
        blocks["window"] = window_samples(
            resampled, on, plan, weight_n, cfg.window.length_s, cfg.window.stride_s
        )
    return TrialResult(plate, wearable, blocks)


# --- the stage ---------------------------------------------------------------------------------
def _common_channels(refs: list[TrialRef]) -> set[str]:
    sets = [set(ref.channels) for ref in refs]
    return set.intersection(*sets) if sets else set()


def _masses(cohorts: list[Cohort]) -> dict[tuple[str, str], float]:
    out = {}
    for cohort in cohorts:
        ids = cohort.subjects["subject_id"].to_numpy()
        mass = cohort.subjects["mass_kg"].to_numpy(dtype=float)
        out.update({(cohort.cohort_id, str(s)): float(m) for s, m in zip(ids, mass, strict=True)})
    return out


class _Accumulator:
    """What the stage collects over trials, in trial order, none of it growing with the cohort
    in memory: counts per cohort, samples straight to their layout's sink, event rows to
    `events.parquet` and the agreement's errors to raw files (`event_sink`), all in `folder`.
    Owns what it opened: `close` closes it all (and removes the raw files) on any outcome."""

    def __init__(self, folder: Path, sinks: Mapping[str, LayoutSink]) -> None:
        self.layouts = list(sinks)
        self.sinks = sinks
        self.counts: dict[str, dict[str, Any]] = {}
        try:
            self.agreement = AgreementLog(folder)
            self.rows = EventTableWriter(folder / EVENTS_TABLE)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for part in (
            *self.sinks.values(),
            getattr(self, "rows", None),
            getattr(self, "agreement", None),
        ):
            if part is not None:
                part.close()

    def start_cohort(self, cohort: Cohort) -> None:
        self.agreement.start_cohort(cohort.cohort_id)
        self.counts[cohort.cohort_id] = {
            "subjects": len(cohort.subjects),
            "trials_in": len(cohort.trials),
            "walking_trials": 0,
            "static_trials_skipped": 0,
            "plate_stances": 0,
            "samples": dict.fromkeys(self.layouts, 0),
            "samples_dropped_nan": dict.fromkeys(self.layouts, 0),
        }

    def add_static(self, ref: TrialRef) -> None:
        self.counts[ref.cohort_id]["static_trials_skipped"] += 1
        log.info("resample: %s/%s static, skipped", ref.cohort_id, ref.trial_id)

    def add_walking(self, ref: TrialRef, result: TrialResult) -> None:
        info = self.counts[ref.cohort_id]
        info["walking_trials"] += 1
        for side in c.SIDES:
            self.agreement.add(
                ref.cohort_id, result.plate[side], result.wearable[side], AGREEMENT_TOLERANCE_S
            )
            info["plate_stances"] += int(result.plate[side].heel_strikes.size)
        ids = (ref.cohort_id, ref.subject_id, ref.trial_id)
        self.rows.add(ids, "plate", result.plate)
        self.rows.add(ids, "wearable", result.wearable)
        for layout, block in result.blocks.items():
            self.sinks[layout].add(ref.cohort_id, ref.subject_id, ref.trial_id, block)
            info["samples"][layout] += len(block)
            info["samples_dropped_nan"][layout] += block.dropped
        log.info(
            "resample: %s/%s %s",
            ref.cohort_id,
            ref.trial_id,
            ", ".join(f"{k} {len(b)}" for k, b in result.blocks.items()),
        )


def resample_cohorts(
    validated_dir: Path,
    out_dir: Path,
    report_path: Path,
    cfg: ResampleConfig,
    *,
    progress: Progress | None = None,
    model: WearableModel = DEFAULT_WEARABLE_MODEL,
    workers: int | None = None,
) -> dict[str, Any]:
    """Run the stage over every cohort in `validated_dir`; returns the report (also written).

    `progress(done, total)` is called after every trial (static ones included), in trial order.
    Trials are read and processed by `workers` threads (default: up to 4, one per CPU; the
    heavy parts, Parquet reading and filtering, release the GIL); results are gathered in
    trial order, so the output does not depend on `workers`, and at most two per worker wait
    to be written, so memory does not depend on the cohort size.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    cohorts, walking = _load_validated(validated_dir, out_dir)
    plan = input_plan(_common_channels(walking))
    layouts = [layout for layout in LAYOUTS if layout in cfg.layouts]
    with staged_dir(out_dir) as staging:  # <out>/../.staging-<out name>
        collected = _Accumulator(staging, sinks(staging, layouts, len(plan.names), _points(cfg)))
        try:
            _collect(cohorts, cfg, plan, model, collected, progress, workers)
            _write_outputs(staging, cfg, model, plan, cohorts, collected)
            report = _report(collected, layouts, plan)  # reads the agreement's raw files
        finally:
            collected.close()
    report_path = Path(report_path)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    log.info("resample: done in %.1f s", time.perf_counter() - started)
    return {**report, "elapsed_s": round(time.perf_counter() - started, 3)}


def _points(cfg: ResampleConfig) -> dict[str, int]:
    """Time points per sample of each layout."""
    return {"stance": cfg.stance_points, "window": round(cfg.window.length_s * cfg.rate_hz)}


def _load_validated(validated_dir: Path, out_dir: Path) -> tuple[list[Cohort], list[TrialRef]]:
    """The validated cohorts (trials not read yet) and their walking trials; raises if none,
    or if the output folder, which the stage replaces whole, holds the input."""
    if not Path(validated_dir).is_dir():
        raise ResampleError(f"{validated_dir}: folder of validated cohorts not found")
    inside = Path(validated_dir).resolve()
    if out_dir.resolve() in (inside, *inside.parents):
        raise ResampleError(
            f"{out_dir}: the output folder holds the validated cohorts ({validated_dir}); "
            "it is replaced whole, give another one"
        )
    cohorts = load_cohorts(Path(validated_dir), read_trials=False)
    if not cohorts:
        raise ResampleError(f"{validated_dir}: no cohort to resample")
    walking = [r for co in cohorts for r in co.trials if r.kind == "walking"]
    if not walking:
        raise ResampleError(f"{validated_dir}: no walking trial in any cohort")
    return cohorts, walking


def _collect(
    cohorts: list[Cohort],
    cfg: ResampleConfig,
    plan: InputPlan,
    model: WearableModel,
    collected: _Accumulator,
    progress: Progress | None,
    workers: int | None,
) -> None:
    """Process every walking trial on `workers` threads; gather results in trial order."""
    masses = _masses(cohorts)
    total = sum(len(co.trials) for co in cohorts)
    done = 0

    ordered = [(co, sorted(co.trials, key=lambda r: r.trial_id)) for co in cohorts]
    todo = [r for _, refs in ordered for r in refs if r.kind == "walking"]

    def work(ref: TrialRef) -> TrialResult:
        weight = body_weight_n(masses[(ref.cohort_id, ref.subject_id)])
        return process_trial(read_trial(ref), weight, cfg, plan, model)

    n_workers = max(1, workers if workers is not None else min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        results = _in_order(pool, work, todo, 2 * n_workers) if n_workers > 1 else map(work, todo)
        try:
            for cohort, refs in ordered:
                collected.start_cohort(cohort)
                for ref in refs:
                    done += 1
                    if ref.kind == "walking":
                        collected.add_walking(ref, next(results))
                    else:
                        collected.add_static(ref)
                    if progress is not None:
                        progress(done, total)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # do not finish the other trials
            raise


def _in_order(
    pool: ThreadPoolExecutor,
    work: Callable[[TrialRef], TrialResult],
    todo: Iterable[TrialRef],
    ahead: int,
) -> Iterator[TrialResult]:
    """`work` over `todo` on `pool`, results in order, at most `ahead` submitted and not taken.

    `pool.map` would submit every trial at once: a slow trial at the head would let the
    finished ones behind it pile up in memory without bound.
    """
    pending: deque[Future[TrialResult]] = deque()
    refs = iter(todo)
    try:
        for ref in refs:
            pending.append(pool.submit(work, ref))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def _write_outputs(
    out_dir: Path,
    cfg: ResampleConfig,
    model: WearableModel,
    plan: InputPlan,
    cohorts: list[Cohort],
    collected: _Accumulator,
) -> None:
    """One sample set per layout asked for, subjects.csv, events.parquet's footer, into
    `out_dir`."""
    counts = collected.counts
    provenance = {
        "stage": "resample",
        # the input by content, not by path: an absolute path would differ between checkouts
        "source_manifests": {
            co.cohort_id: f"sha256:{sha256_file(co.root / c.MANIFEST_FILE)}" for co in cohorts
        },
        "cohorts": sorted(counts),
        "trials": {cid: info["walking_trials"] for cid, info in counts.items()},
        "params": cfg.model_dump(mode="json"),
        "events": f"force plate, vertical GRF > {cfg.events.force_threshold_n:g} N",
        "wearable_model": _jsonable(asdict(model)),
    }
    rates = {"stance": float(cfg.stance_points), "window": float(cfg.rate_hz)}
    for layout, sink in collected.sinks.items():
        sink.write(set_file(out_dir, layout), rates[layout], plan.names, provenance)
    subjects = pd.concat([co.subjects for co in cohorts], ignore_index=True)
    subjects.to_csv(out_dir / SUBJECTS_TABLE, index=False)
    collected.rows.close()


def _report(collected: _Accumulator, layouts: list[str], plan: InputPlan) -> dict[str, Any]:
    """The stage's report: totals over cohorts, event agreement overall and per cohort."""
    counts = collected.counts
    overall, per_cohort = collected.agreement.summaries()
    for cid, info in counts.items():
        info["event_agreement"] = per_cohort[cid]
    return {
        "trials_in": sum(i["trials_in"] for i in counts.values()),
        "walking_trials": sum(i["walking_trials"] for i in counts.values()),
        "static_trials_skipped": sum(i["static_trials_skipped"] for i in counts.values()),
        "plate_stances": sum(i["plate_stances"] for i in counts.values()),
        "samples": {k: sum(i["samples"][k] for i in counts.values()) for k in layouts},
        "samples_dropped_nan": {
            k: sum(i["samples_dropped_nan"][k] for i in counts.values()) for k in layouts
        },
        "channels": len(plan.names),
        "event_agreement": overall,
        "agreement_tolerance_ms": AGREEMENT_TOLERANCE_S * 1e3,
        "cohorts": counts,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value
