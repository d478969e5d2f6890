"""One trial on disk: a single Parquet file whose rows are tagged by stream.

Each stream (accelerometers, motion capture, force plates) keeps its own time base and rate, so
the file is the union of three tables. A row's `stream` says which channels it fills; the other
channels are null there. Units and sampling rates live in the schema metadata, under the key
`gaitgrf`, as JSON. Validation of what is read lives in `gaitgrf.io.loader`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gaitgrf.core import contract as c


@dataclass(frozen=True)
class Stream:
    """Samples of one device at one rate: `data[i, j]` is channel j at `time[i]` (seconds)."""

    name: str
    rate_hz: float
    time: np.ndarray
    channels: tuple[str, ...]
    data: np.ndarray
    units: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.data.shape != (self.time.shape[0], len(self.channels)):
            raise ValueError(
                f"stream {self.name}: data shape {self.data.shape} does not match "
                f"{self.time.shape[0]} samples x {len(self.channels)} channels"
            )
        if len(self.units) != len(self.channels):
            raise ValueError(f"stream {self.name}: one unit per channel expected")

    def channel(self, name: str) -> np.ndarray:
        return self.data[:, self.channels.index(name)]

    def select(self, names: tuple[str, ...] | list[str]) -> np.ndarray:
        """Columns in the order asked for (n x len(names))."""
        idx = [self.channels.index(n) for n in names]
        return self.data[:, idx]


@dataclass(frozen=True)
class Trial:
    trial_id: str
    subject_id: str
    cohort_id: str
    kind: str
    streams: Mapping[str, Stream]
    #: Free-form extras (walking speed, source file, generator truth...), stored verbatim.
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return max(float(s.time[-1] - s.time[0]) for s in self.streams.values() if s.time.size)


def trial_metadata(trial: Trial) -> dict[str, Any]:
    channels = {
        name: {"unit": unit, "rate_hz": stream.rate_hz, "stream": stream.name}
        for stream in trial.streams.values()
        for name, unit in zip(stream.channels, stream.units, strict=True)
    }
    return {
        "contract_version": c.CONTRACT_VERSION,
        "trial_id": trial.trial_id,
        "subject_id": trial.subject_id,
        "cohort_id": trial.cohort_id,
        "kind": trial.kind,
        "channels": channels,
        **dict(trial.extra),
    }


def trial_table(trial: Trial) -> pa.Table:
    """The stream-tagged table for a trial (float32 channels, nulls where not sampled)."""
    streams = list(trial.streams.values())
    all_channels = [ch for s in streams for ch in s.channels]
    if len(set(all_channels)) != len(all_channels):
        raise ValueError(f"trial {trial.trial_id}: a channel appears in two streams")
    names = pa.array([s.name for s in streams])
    parts = []
    for i, s in enumerate(streams):
        n = s.time.shape[0]
        codes = pa.array(np.full(n, i, dtype=np.int8))
        columns = {
            c.STREAM_COLUMN: pa.DictionaryArray.from_arrays(codes, names),
            c.TIME_COLUMN: pa.array(np.asarray(s.time, dtype=np.float64)),
        }
        data = np.asarray(s.data, dtype=np.float32)
        columns.update({ch: pa.array(data[:, j]) for j, ch in enumerate(s.channels)})
        parts.append(pa.table(columns))
    # Channels missing from a stream's part become nulls: "not sampled here".
    table = pa.concat_tables(parts, promote_options="default").select(
        [c.STREAM_COLUMN, c.TIME_COLUMN, *all_channels]
    )
    meta = {c.TRIAL_METADATA_KEY: json.dumps(trial_metadata(trial)).encode()}
    return table.replace_schema_metadata(meta)


def write_trial(trial: Trial, path: Path) -> Path:
    """Write atomically: a crash never leaves a half-written trial under its final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    table = trial_table(trial)
    floats = [n for n in table.column_names if n != c.STREAM_COLUMN]
    # Byte-stream split + zstd shrinks noisy sensor floats ~40 % versus dictionary encoding.
    pq.write_table(
        table,
        tmp,
        compression="zstd",
        use_dictionary=[c.STREAM_COLUMN],
        use_byte_stream_split=floats,
    )
    os.replace(tmp, path)
    return path
