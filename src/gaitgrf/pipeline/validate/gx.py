"""The Great Expectations adapter: run both suites once, build Data Docs, name what failed.

GX runs in an ephemeral context (nothing written but the Data Docs site, in a fixed folder). The
site is a DVC output, so it must not change when the same data are validated again: the runs are
named and timed after the input (`run_time`, not now), and the random element ids and
cache-busting timestamps GX puts in its HTML are rewritten to stable ones; the libraries its
pages load from CDNs are copied beside them (offline_docs.py), so the site opens offline. Its
results come back as the checks each trial failed and JSON-ready subject failures; an
expectation that raised is a bug or a broken table and is raised, never turned into a quarantine.
GX is imported inside `run_suites` (it takes ~3 s to import).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from gaitgrf.pipeline.validate.checks import Check, jsonable
from gaitgrf.pipeline.validate.offline_docs import make_offline


@dataclass(frozen=True)
class SuiteResults:
    """What the two suites found, in the terms the report needs (check objects, JSON values)."""

    subjects_ok: bool
    #: failed subject expectations, JSON-ready
    subject_failures: list[dict[str, Any]]
    #: trial_key -> the checks it failed
    trial_failures: dict[str, list[Check]]
    evaluated: dict[str, int]


def run_suites(
    subjects: pd.DataFrame,
    metrics: pd.DataFrame,
    subject_specs: list[Check],
    trial_specs: list[Check],
    docs_dir: Path,
    run_time: datetime,
) -> SuiteResults:
    """Run both suites once each (ephemeral GX context) and build the Data Docs site.

    `run_time` names the runs in the site (a time the input carries, so a re-run writes the
    same files).
    """
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    context = _ephemeral_context(docs_dir)
    source = context.data_sources.add_pandas("gaitgrf")
    results = {}
    for name, frame, specs, index_cols in (
        ("subjects", subjects, subject_specs, ["cohort_id", "subject_id"]),
        ("trials", metrics, trial_specs, ["trial_key"]),
    ):
        batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
        suite = context.suites.add(gx.ExpectationSuite(name=name))
        for spec in specs:
            suite.add_expectation(spec.expectation())
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch, suite=suite)
        )
        results[name] = definition.run(
            batch_parameters={"dataframe": frame},
            run_id=RunIdentifier(run_name="validate", run_time=run_time),
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": index_cols,
            },
        )
    context.build_data_docs()
    _stabilise_docs(docs_dir, run_time)
    make_offline(docs_dir)  # local copies of the CDN libraries: offline machines show the site

    trial_failures = _trial_failures(results["trials"], trial_specs)
    subject_failures = _subject_failures(results["subjects"])
    return SuiteResults(
        subjects_ok=bool(results["subjects"].success),
        subject_failures=subject_failures,
        trial_failures=trial_failures,
        evaluated={name: len(r.results) for name, r in results.items()},
    )


def _ephemeral_context(docs_dir: Path) -> Any:
    """A GX context kept in memory whose only Data Docs site is `docs_dir` (emptied first)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    if docs_dir.exists():
        shutil.rmtree(docs_dir)
    docs_site = {  # the only Data Docs site: a fixed folder instead of GX's temporary one
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(docs_dir.resolve()),
        },
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites={"validation": docs_site},
        progress_bars=ProgressBarsConfig(globally=False),
        analytics_enabled=False,
    )
    return gx.get_context(mode="ephemeral", project_config=config)


#: GX's per-render randomness: uuid4 element ids, and clock times (`?d=<now>` on asset URLs,
#: the batch's `ge_load_time`) in its compact format.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_STAMP = re.compile(r"\d{8}T\d{6}\.\d{6}Z")


def _stabilise_docs(docs_dir: Path, run_time: datetime) -> None:
    """Make the HTML pages a function of the input: clock times become `run_time`, random ids
    numbers in order of appearance.

    One id mapping over all pages (sorted) keeps an id that two pages share the same in both,
    and every anchor still points at its element.
    """
    stamp = run_time.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    ids: dict[str, str] = {}

    def stable(match: re.Match[str]) -> str:
        return ids.setdefault(match.group(0), f"00000000-0000-4000-8000-{len(ids):012d}")

    for page in sorted(docs_dir.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        fixed = _UUID.sub(stable, _STAMP.sub(stamp, text))
        if fixed != text:
            page.write_text(fixed, encoding="utf-8")


def _trial_failures(result: Any, trial_specs: list[Check]) -> dict[str, list[Check]]:
    """trial_key -> the checks it failed, from the `trials` suite's unexpected rows."""
    by_id = {spec.id: spec for spec in trial_specs}
    trial_failures: dict[str, list[Check]] = {}
    for res in result.results:
        _raise_if_errored(res)
        if res.success:
            continue
        spec = by_id[_config(res).meta["check"]]
        hits = res.result.get("unexpected_index_list") or []
        if not hits:  # a failure that names no trial would let every trial through
            raise RuntimeError(f"expectation {spec.id!r} failed without naming a trial")
        for hit in hits:
            trial_failures.setdefault(str(hit["trial_key"]), []).append(spec)
    return trial_failures


def _subject_failures(result: Any) -> list[dict[str, Any]]:
    """The failed expectations of the `subjects` suite, JSON-ready (at most 20 rows each)."""
    subject_failures = []
    for res in result.results:
        _raise_if_errored(res)
        if not res.success:
            cfg = _config(res)
            subject_failures.append(
                {
                    "expectation": cfg.type,
                    "column": cfg.kwargs.get("column") or cfg.kwargs.get("column_list"),
                    "rule": cfg.meta.get("rule"),
                    "observed": jsonable(res.result.get("observed_value")),
                    "unexpected": jsonable((res.result.get("unexpected_index_list") or [])[:20]),
                }
            )
    return subject_failures


def _config(res: Any) -> Any:
    """The expectation a result belongs to; GX may leave it out, which would hide the check."""
    if res.expectation_config is None:
        raise RuntimeError("Great Expectations returned a result without its expectation")
    return res.expectation_config


def _raise_if_errored(res: Any) -> None:
    """An expectation that raised is a bug or a broken table, never a quarantine reason."""
    info = res.exception_info or {}
    if info.get("raised_exception"):
        cfg = _config(res)
        raise RuntimeError(
            f"Great Expectations could not evaluate {cfg.type} "
            f"{cfg.kwargs.get('column')!r}: {info.get('exception_message')}"
        )
