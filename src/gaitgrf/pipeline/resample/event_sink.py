"""Gait events and their agreement written as trials complete, so the stage never holds a cohort.

Two things used to grow with the cohort in the `resample` stage after its samples went to disk
(`sink.LayoutSink`): the rows of `events.parquet` (a tuple and arrays per trial, source, side
and kind) and the `EventMatch` of every trial and foot kept for the report. Here:

* `EventTableWriter` appends the rows to `events.parquet` as Parquet row groups of up to
  `ROWS_PER_GROUP` rows through `pyarrow.parquet.ParquetWriter`; only the rows of the group
  being filled are in memory. Why Parquet row groups and not part files: the output already is
  a Parquet file, a writer appends row groups natively (no second pass to join parts), and a
  reader sees the same columns, types and values (`pq.read_table`, pandas); a cohort that
  fits one group (the default one: ~10,000 rows) gives the file `pq.write_table` wrote, byte
  for byte.
* `AgreementLog` keeps the counts of the agreement (reference, missed, extra per cohort and
  kind) as running sums and appends every matched timing error (float64) to a raw file per
  kind. The report's mean and 95th percentile of the absolute errors are exact: a percentile
  cannot be computed from running sums, and a streaming sketch would change the number. The
  errors are read back once, when the report is made: 8 bytes per matched event (about 4 MB
  at 100x the default cohort), in the order `AgreementTally` concatenated them, so every
  number of the report is the one it gave (`tests/data/test_resample_streamed.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gaitgrf.pipeline.resample.events import KINDS, Events, match_times, summarize_errors

#: Rows buffered before they are written as one row group (a few MB of memory at most).
ROWS_PER_GROUP: Final = 1 << 17
_ID_COLUMNS: Final = ("cohort_id", "subject_id", "trial_id", "side", "kind", "source")
#: events.parquet's columns: ids dictionary-encoded (a few distinct values each), times float64.
EVENTS_SCHEMA: Final = pa.schema(
    [(name, pa.dictionary(pa.int32(), pa.string())) for name in _ID_COLUMNS]
    + [("time_s", pa.float64())]
)


class EventTableWriter:
    """`events.parquet`: one row per event, appended per trial, written per row group.

    Rows come in the order `add` is called (the stage calls it in trial order, plate events
    before wearable ones, sides and kinds in their order), the order the stage always wrote.
    """

    def __init__(self, path: Path, rows_per_group: int | None = None) -> None:
        self.rows_per_group = max(1, rows_per_group or ROWS_PER_GROUP)
        self._parts: list[tuple[str, str, str, str, str, str, np.ndarray]] = []
        self._buffered = 0
        self.rows = 0
        self._writer: pq.ParquetWriter | None = pq.ParquetWriter(path, EVENTS_SCHEMA)

    def add(self, ids: tuple[str, str, str], source: str, events: Mapping[str, Events]) -> None:
        """The events of one trial from one `source`; `ids` is (cohort, subject, trial)."""
        for side, ev in events.items():
            for kind in KINDS:
                times = np.asarray(ev.of_kind(kind), dtype=np.float64)
                if times.size:
                    self._parts.append((*ids, side, kind, source, times))
                    self._buffered += times.size
        if self._buffered >= self.rows_per_group:
            self._flush()

    def close(self) -> None:
        """Write what is buffered and the file's footer (idempotent)."""
        if self._writer is None:
            return
        try:
            self._flush()
        finally:
            self._writer.close()
            self._writer = None

    def _flush(self) -> None:
        if not self._parts or self._writer is None:
            return
        sizes = [p[6].size for p in self._parts]
        columns: dict[str, pa.Array] = {}
        for k, name in enumerate(_ID_COLUMNS):
            values = np.repeat(np.array([p[k] for p in self._parts], dtype=object), sizes)
            columns[name] = pa.array(values, type=pa.string()).dictionary_encode()
        columns["time_s"] = pa.array(np.concatenate([p[6] for p in self._parts]), pa.float64())
        table = pa.table(columns, schema=EVENTS_SCHEMA)
        # one row group per flush, however pyarrow's default group size is set
        self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self.rows += table.num_rows
        self._parts, self._buffered = [], 0


@dataclass
class _Counts:
    """Running sums of one cohort and kind, and where its errors lie in the kind's file."""

    reference: int = 0
    missed: int = 0
    extra: int = 0
    first: int = 0  # index of its first error in the file
    matched: int = 0


@dataclass
class AgreementLog:
    """Force plate vs wearable agreement of many trials, per cohort and overall, in bounded
    memory: what `AgreementTally` gives for the same matches, without keeping them.

    Cohorts come one after the other (`start_cohort`, then its trials): each cohort's errors
    are then one contiguous run of its kind's file, and the whole file is the overall list.
    """

    folder: Path
    counts: dict[str, dict[str, _Counts]] = field(default_factory=dict)
    _files: dict[str, BinaryIO] = field(default_factory=dict)
    _written: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    _current: str | None = None

    def __post_init__(self) -> None:
        for kind in KINDS:
            self._files[kind] = self._path(kind).open("wb")

    def _path(self, kind: str) -> Path:
        return self.folder / f".agreement.{kind}.part"

    def start_cohort(self, cohort_id: str) -> None:
        if cohort_id in self.counts:
            raise ValueError(f"cohort {cohort_id} started twice")
        self.counts[cohort_id] = {k: _Counts(first=self._written[k]) for k in KINDS}
        self._current = cohort_id

    def add(self, cohort_id: str, reference: Events, detected: Events, tolerance_s: float) -> None:
        """Match one foot's events of one trial of the cohort started last."""
        if cohort_id != self._current:
            raise ValueError(f"cohort {cohort_id}: trials must follow their start_cohort")
        for kind in KINDS:
            match = match_times(reference.of_kind(kind), detected.of_kind(kind), tolerance_s)
            tally = self.counts[cohort_id][kind]
            tally.reference += match.reference
            tally.missed += match.missed
            tally.extra += match.extra
            errors = np.ascontiguousarray(match.errors_s, dtype=np.float64)
            self._files[kind].write(errors.tobytes())
            tally.matched += errors.size
            self._written[kind] += errors.size

    def summaries(self) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """(overall, per cohort) summaries, as `AgreementTally.summary()` gives them."""
        overall: dict[str, Any] = {}
        cohorts: dict[str, dict[str, Any]] = {cid: {} for cid in self.counts}
        for kind in KINDS:
            self._files[kind].flush()
            errors = np.fromfile(self._path(kind), dtype=np.float64)
            for cid, by_kind in self.counts.items():
                t = by_kind[kind]
                own = errors[t.first : t.first + t.matched]
                cohorts[cid][kind] = summarize_errors(
                    own, reference=t.reference, missed=t.missed, extra=t.extra
                )
            totals = [by_kind[kind] for by_kind in self.counts.values()]
            overall[kind] = summarize_errors(
                errors,
                reference=sum(t.reference for t in totals),
                missed=sum(t.missed for t in totals),
                extra=sum(t.extra for t in totals),
            )
        return overall, cohorts

    def close(self) -> None:
        """Close and remove the error files (idempotent)."""
        for kind, fh in self._files.items():
            fh.close()
            self._path(kind).unlink(missing_ok=True)
