"""One trial file read and checked: Parquet metadata always, the data when asked for.

`inspect_trial_file` never raises on bad data: it returns what it could read and every
violation, so that a cohort's report lists all broken files at once. The unit conversion to
canonical units happens here and nowhere else.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gaitgrf.core import contract as c
from gaitgrf.core.config import ContractConfig
from gaitgrf.core.errors import Violation
from gaitgrf.io.checks import (
    check_streams,
    dedupe,
    first_line,
    id_violations,
    str_or_none,
)
from gaitgrf.io.trial_file import Stream, Trial
from gaitgrf.io.trial_metadata import Planned, check_declared, parse_metadata

#: What reading a broken file may raise (pyarrow's ArrowInvalid is also a ValueError).
_READ_ERRORS = (OSError, ValueError, pa.ArrowException)


@dataclass
class Inspected:
    """What a file check found: metadata and trial when readable, and every violation."""

    metadata: dict[str, Any] | None
    trial: Trial | None
    violations: list[Violation]


def trial_paths(trials_dir: Path) -> list[Path]:
    """The trial files of a cohort, sorted; hidden files (interrupted writes) are skipped."""
    return sorted(
        p
        for p in trials_dir.iterdir()
        if p.suffix == c.TRIAL_SUFFIX and not p.name.startswith(".") and p.is_file()
    )


def inspect_trial_file(
    path: Path, rules: ContractConfig, *, read_data: bool, convert: bool
) -> Inspected:
    """Check one trial file: metadata always, the data too when `read_data`."""
    file = str(path)
    if not path.is_file():
        return Inspected(None, None, [Violation(file, "file_missing", "trial file not found")])
    try:
        parquet = pq.ParquetFile(path)
    except _READ_ERRORS as exc:
        return Inspected(
            None,
            None,
            [Violation(file, "file_unreadable", f"not a Parquet file: {first_line(exc)}")],
        )
    try:
        return _inspect_open(parquet, path, rules, read_data=read_data, convert=convert)
    finally:
        parquet.close()


def _inspect_open(
    parquet: pq.ParquetFile, path: Path, rules: ContractConfig, *, read_data: bool, convert: bool
) -> Inspected:
    """The checks of `inspect_trial_file` on an opened file; the caller closes it."""
    file = str(path)
    schema = parquet.schema_arrow
    meta, found = parse_metadata(schema, file)
    if meta is None:
        return Inspected(None, None, found)
    subject = str_or_none(meta.get("subject_id"))
    found += id_violations(meta, file)
    tid = meta.get("trial_id")
    if isinstance(tid, str) and tid != path.stem:
        found.append(
            Violation(
                file,
                "trial_id",
                f"file name {path.name!r} does not match the metadata trial_id {tid!r} "
                f"(expected {tid}{c.TRIAL_SUFFIX})",
                subject=subject,
            )
        )
    plan, problems = check_declared(meta, schema.names, file, subject)
    found += problems
    if not read_data or any(v.rule == "file_unreadable" for v in found):
        return Inspected(meta, None, dedupe(found))

    try:
        table = parquet.read()
    except _READ_ERRORS as exc:
        found.append(Violation(file, "file_unreadable", f"data cannot be read: {first_line(exc)}"))
        return Inspected(meta, None, dedupe(found))
    streams, problems = _assemble_streams(table, plan, file, subject)
    found += problems
    trial = Trial(
        trial_id=str_or_none(meta.get("trial_id")) or "",
        subject_id=subject or "",
        cohort_id=str_or_none(meta.get("cohort_id")) or "",
        kind=str_or_none(meta.get("kind")) or "",
        streams=streams,
        extra={k: v for k, v in meta.items() if k not in c.TRIAL_METADATA_REQUIRED},
    )
    # Missing channels were judged on the file's columns and metadata above: a required channel
    # whose entry is broken is reported as broken, not also as missing.
    found += check_streams(trial, file, rules, check_missing=False)
    found = dedupe(found)
    if found or not convert:
        return Inspected(meta, None, found)
    return Inspected(meta, _to_canonical(trial), found)


def _assemble_streams(
    table: pa.Table, plan: Mapping[str, Planned], file: str, subject: str | None
) -> tuple[dict[str, Stream], list[Violation]]:
    """Split the stream-tagged table into one Stream per stream, vectorised (no row loops)."""
    tags, found = _stream_tags(table, file, subject)
    if tags is None:
        return {}, found
    names, codes = tags
    time_col = table.column(c.TIME_COLUMN)
    if not (pa.types.is_floating(time_col.type) or pa.types.is_integer(time_col.type)):
        found.append(
            Violation(file, "file_unreadable", f"column {c.TIME_COLUMN!r} is not numeric", subject)
        )
        return {}, found
    time = np.asarray(time_col.to_numpy(), dtype=np.float64)  # nulls become NaN
    rows = {name: np.flatnonzero(codes == k) for k, name in enumerate(names)}
    values, problems = _channel_values(table, plan, rows, file, subject)
    found += problems
    streams, problems = _group_streams(plan, values, rows, time, file, subject)
    found += problems
    return streams, found


def _stream_tags(
    table: pa.Table, file: str, subject: str | None
) -> tuple[tuple[list[str], np.ndarray] | None, list[Violation]]:
    """The stream names and each row's code into them (-1: untagged); None if not text."""
    found: list[Violation] = []
    tags_col = table.column(c.STREAM_COLUMN)
    if pa.types.is_dictionary(tags_col.type):
        tags_col = tags_col.cast(pa.string())
    if not (pa.types.is_string(tags_col.type) or pa.types.is_large_string(tags_col.type)):
        found.append(
            Violation(file, "file_unreadable", f"column {c.STREAM_COLUMN!r} is not text", subject)
        )
        return None, found
    encoded = pc.dictionary_encode(tags_col.combine_chunks())
    names = [str(s) for s in encoded.dictionary.to_pylist()]
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    untagged = int(np.count_nonzero(codes < 0))
    if untagged:
        found.append(
            Violation(file, "stream", f"{untagged} row(s) have no {c.STREAM_COLUMN!r} tag", subject)
        )
    return (names, codes), found


def _channel_values(
    table: pa.Table,
    plan: Mapping[str, Planned],
    rows: Mapping[str, np.ndarray],
    file: str,
    subject: str | None,
) -> tuple[dict[str, np.ndarray], list[Violation]]:
    """Each planned channel's samples from its own stream's rows, float64 with NaN for gaps."""
    found: list[Violation] = []
    n_rows = table.num_rows
    no_rows = np.empty(0, dtype=np.intp)
    values: dict[str, np.ndarray] = {}
    for name, planned in plan.items():
        col = table.column(name)
        if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
            found.append(
                Violation(
                    file, "file_unreadable", f"column type {col.type} is not numeric", subject, name
                )
            )
            continue
        own = _take(col, rows.get(planned.stream, no_rows))
        elsewhere = (n_rows - col.null_count) - (len(own) - own.null_count)
        if elsewhere:
            found.append(
                Violation(
                    file,
                    "stream",
                    f"declared in stream {planned.stream!r} but has values in {elsewhere} "
                    "row(s) tagged with another stream",
                    subject,
                    name,
                )
            )
        # A null in the channel's own rows is a missing sample: NaN, like a stored NaN.
        values[name] = np.asarray(own.to_numpy(), dtype=np.float64)
    return values, found


def _group_streams(
    plan: Mapping[str, Planned],
    values: Mapping[str, np.ndarray],
    rows: Mapping[str, np.ndarray],
    time: np.ndarray,
    file: str,
    subject: str | None,
) -> tuple[dict[str, Stream], list[Violation]]:
    """One Stream per stream with channels, in contract order; rows of unknown streams reported."""
    found: list[Violation] = []
    no_rows = np.empty(0, dtype=np.intp)
    ordered = [s for s in c.STREAMS if s in rows or any(p.stream == s for p in plan.values())]
    ordered += sorted({*rows, *(p.stream for p in plan.values())} - set(ordered))
    streams: dict[str, Stream] = {}
    for stream in ordered:
        idx = rows.get(stream, no_rows)
        chans = [ch for ch in values if plan[ch].stream == stream]
        if not chans:
            if stream not in c.STREAMS:
                found.append(
                    Violation(
                        file,
                        "stream",
                        f"{idx.size} row(s) are tagged with unknown stream {stream!r} "
                        f"(streams: {', '.join(c.STREAMS)})",
                        subject,
                    )
                )
            continue
        data = np.empty((idx.size, len(chans)), dtype=np.float64)
        for j, ch in enumerate(chans):
            data[:, j] = values[ch]
        rate = Counter(plan[ch].rate_hz for ch in chans).most_common(1)[0][0]
        streams[stream] = Stream(
            stream, rate, time[idx], tuple(chans), data, tuple(plan[ch].unit for ch in chans)
        )
    return streams, found


def _take(col: pa.ChunkedArray, idx: np.ndarray) -> pa.ChunkedArray:
    """Rows `idx` of a column: a zero-copy slice when they are contiguous (as written)."""
    if idx.size and int(idx[-1]) - int(idx[0]) + 1 == idx.size:
        return col.slice(int(idx[0]), idx.size)
    return col.take(pa.array(idx))


def _to_canonical(trial: Trial) -> Trial:
    """The trial with every channel scaled to its family's canonical unit (m/s^2, deg, N, m)."""
    streams = {}
    for name, s in trial.streams.items():
        families = [c.family_of(ch) for ch in s.channels]
        canonical = tuple(f.unit for f in families if f is not None)
        factors = np.array(
            [c.UNIT_FACTORS[f.unit][u] for f, u in zip(families, s.units, strict=True) if f]
        )
        data = np.asarray(s.data, dtype=np.float64)
        data *= factors
        streams[name] = Stream(name, s.rate_hz, s.time, s.channels, data, canonical)
    return Trial(
        trial.trial_id, trial.subject_id, trial.cohort_id, trial.kind, streams, trial.extra
    )
