"""A trial file's metadata checked against the contract, before (or instead of) its data.

This is what a footer read can judge: required keys, contract version, ids, and each channel's
declaration (unit, rate, stream). The result is the plan for reading the data: the channels that
are declared well enough to be read, and where each one lives.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from gaitgrf.core import contract as c
from gaitgrf.core.errors import Violation
from gaitgrf.io.checks import (
    ID_KEYS,
    channel_violations,
    first_line,
    missing_channels,
    positive_number,
    version_violations,
)


@dataclass(frozen=True)
class Planned:
    """A channel as its metadata declares it."""

    stream: str
    unit: str
    rate_hz: float


def parse_metadata(schema: pa.Schema, file: str) -> tuple[dict[str, Any] | None, list[Violation]]:
    """The trial's JSON metadata document from the Parquet schema, if it is a JSON object."""
    raw = (schema.metadata or {}).get(c.TRIAL_METADATA_KEY)
    key = c.TRIAL_METADATA_KEY.decode()
    if raw is None:
        return None, [Violation(file, "metadata", f"no {key!r} entry in the Parquet metadata")]
    try:
        meta = json.loads(raw)
    except ValueError as exc:
        return None, [
            Violation(file, "metadata", f"{key!r} metadata is not JSON: {first_line(exc)}")
        ]
    if not isinstance(meta, dict):
        return None, [Violation(file, "metadata", f"{key!r} metadata is not a JSON object")]
    return meta, []


def check_declared(
    meta: Mapping[str, Any], columns: list[str], file: str, subject: str | None
) -> tuple[dict[str, Planned], list[Violation]]:
    """Metadata-level checks; returns the channels that are declared well enough to be read."""
    found: list[Violation] = []
    missing = [k for k in c.TRIAL_METADATA_REQUIRED if k not in meta]
    if missing:
        found.append(
            Violation(file, "metadata", f"missing key(s): {', '.join(missing)}", subject=subject)
        )
    if "contract_version" in meta:
        found += version_violations(meta["contract_version"], file, subject)
    for key in ID_KEYS:
        if key in meta and not isinstance(meta[key], str):
            found.append(
                Violation(file, "metadata", f"{key} {meta[key]!r} is not a string", subject)
            )
    for col in (c.STREAM_COLUMN, c.TIME_COLUMN):
        if col not in columns:
            found.append(
                Violation(file, "file_unreadable", f"not a trial table: no {col!r} column", subject)
            )

    channels = meta.get("channels", {})
    if not isinstance(channels, dict):
        found.append(
            Violation(file, "metadata", "channels must map channel names to {unit, rate_hz}")
        )
        channels = {}
    data_columns = [n for n in columns if n not in (c.STREAM_COLUMN, c.TIME_COLUMN)]
    plan: dict[str, Planned] = {}
    for name in data_columns + [n for n in channels if n not in data_columns]:
        planned, problems = _declared_channel(
            name, channels.get(name), name in columns, file, subject
        )
        found += problems
        if planned is not None:
            plan[name] = planned

    rates: dict[str, dict[float, list[str]]] = defaultdict(lambda: defaultdict(list))
    for name, planned in plan.items():
        rates[planned.stream][planned.rate_hz].append(name)
    for stream, by_rate in rates.items():
        if len(by_rate) > 1:
            parts = [f"{r:g} Hz ({_some(names)})" for r, names in by_rate.items()]
            found.append(
                Violation(
                    file,
                    "sampling_rate",
                    f"channels of stream {stream!r} declare different rates: {'; '.join(parts)}",
                    subject,
                )
            )
    found += missing_channels({*data_columns, *channels}, file, subject)
    return plan, found


def _declared_channel(
    name: str, entry: Any, has_column: bool, file: str, subject: str | None
) -> tuple[Planned | None, list[Violation]]:
    """Check one channel's metadata entry; the plan for reading it, or None if it cannot be."""
    family = c.family_of(name)

    def problem(detail: str) -> tuple[None, list[Violation]]:
        unknown = channel_violations(name, None, None, file, subject)
        return None, [*unknown, Violation(file, "metadata", detail, subject, name)]

    if entry is None:
        return problem("the table has this column but the metadata 'channels' has no entry")
    if not has_column:
        return problem("declared in the metadata 'channels' but the table has no such column")
    if not isinstance(entry, dict):
        return problem(f"entry {entry!r} is not an object with unit and rate_hz")
    lacking = [k for k in c.CHANNEL_METADATA_REQUIRED if k not in entry]
    if lacking:
        return problem(f"channel entry lacks {', '.join(lacking)}")
    unit, rate, stream = entry["unit"], entry["rate_hz"], entry.get("stream")
    if not isinstance(unit, str):
        return problem(f"unit {unit!r} is not a string")
    if not positive_number(rate):
        return problem(f"rate_hz {rate!r} is not a positive number")
    if stream is None and family is not None:
        stream = family.stream
    if stream is not None and not isinstance(stream, str):
        return problem(f"stream {stream!r} is not a string")
    found = channel_violations(name, unit, stream, file, subject)
    if stream is None:  # an unknown channel that does not say where it is stored
        return None, found
    return Planned(stream, unit, float(rate)), found


def _some(names: list[str], limit: int = 3) -> str:
    """The first few names and how many more, to keep a message about many channels short."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
