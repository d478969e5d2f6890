"""The contract's rules for trial content, shared by every reader of raw data.

A rule is checked here once and reported as a `Violation` carrying the rule id that
docs/data-contract.md ("Rules") explains: ids and kind (`metadata`, `trial_id`, `cohort_id`),
channel names, streams and units (`unknown_channel`, `stream`, `unknown_unit`,
`missing_channel`), and each stream's time base, rate and gaps (`empty_stream`, `time_nan`,
`time_order`, `sampling_rate`, `nan_run`). The loader applies them to files, `check_trial` to
trials an importer is about to write, so both refuse the same data with the same words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from gaitgrf.core import contract as c
from gaitgrf.core.config import ContractConfig
from gaitgrf.core.errors import Violation
from gaitgrf.io.trial_file import Stream, Trial

#: The metadata keys that name a trial, in the order they are unpacked.
ID_KEYS = ("trial_id", "subject_id", "cohort_id", "kind")
_REQUIRED_CHANNELS = c.REQUIRED_ACC_CHANNELS + c.REQUIRED_ANGLE_CHANNELS + c.REQUIRED_GRF_CHANNELS
_VERSION = re.compile(r"^\d+(\.\d+)*$")
_CHANNEL_NAMING = (
    "acc_<location>_<axis>, angle_<joint>_<side>_<plane>, grf_<side>_<axis> or cop_<side>_<axis>"
)


def id_violations(meta: Mapping[str, Any], file: str) -> list[Violation]:
    """Kind and id patterns of a trial's metadata; absent or non-text ids are judged elsewhere."""
    tid, sid, cid, kind = (str_or_none(meta.get(k)) for k in ID_KEYS)
    found: list[Violation] = []
    if "kind" in meta and kind is not None and kind not in c.TRIAL_KINDS:
        found.append(
            Violation(
                file, "metadata", f"kind {kind!r} is not one of {', '.join(c.TRIAL_KINDS)}", sid
            )
        )
    if "trial_id" in meta and tid is not None and not c.TRIAL_ID_PATTERN.match(tid):
        found.append(
            Violation(
                file,
                "trial_id",
                f"trial_id {tid!r} does not match {c.TRIAL_ID_PATTERN.pattern}",
                sid,
            )
        )
    if "cohort_id" in meta and cid is not None and not c.COHORT_ID_PATTERN.match(cid):
        found.append(
            Violation(
                file,
                "cohort_id",
                f"cohort_id {cid!r} does not match {c.COHORT_ID_PATTERN.pattern}",
                sid,
            )
        )
    return found


def version_violations(version: Any, file: str, subject: str | None) -> list[Violation]:
    """A contract_version this loader cannot read: not like '1.0', or another major version."""
    if not isinstance(version, str) or not _VERSION.match(version):
        return [
            Violation(file, "metadata", f"contract_version {version!r} is not like '1.0'", subject)
        ]
    major, ours = version.split(".")[0], c.CONTRACT_VERSION.split(".")[0]
    if int(major) != int(ours):
        return [
            Violation(
                file,
                "metadata",
                f"contract_version {version} is incompatible with this loader's "
                f"{c.CONTRACT_VERSION} (major version differs)",
                subject,
            )
        ]
    return []


def channel_violations(
    name: str, unit: str | None, stream: str | None, file: str, subject: str | None
) -> list[Violation]:
    """Name, stream and unit of one channel; an unknown name is the only problem reported."""
    family = c.family_of(name)
    if family is None:
        return [
            Violation(
                file,
                "unknown_channel",
                f"{name!r} is not a channel of the contract (names: {_CHANNEL_NAMING})",
                subject,
                name,
            )
        ]
    found = []
    if stream is not None and stream != family.stream:
        found.append(
            Violation(
                file,
                "stream",
                f"stored in stream {stream!r}, but {family.name} channels belong to stream "
                f"{family.stream!r}",
                subject,
                name,
            )
        )
    accepted = c.UNIT_FACTORS[family.unit]
    if unit is not None and unit not in accepted:
        found.append(
            Violation(
                file,
                "unknown_unit",
                f"unit {unit!r} is not accepted for {family.name} channels; accepted: "
                f"{', '.join(accepted)} (canonical {family.unit})",
                subject,
                name,
            )
        )
    return found


def missing_channels(present: set[str], file: str, subject: str | None) -> list[Violation]:
    """One violation per required channel that is not among `present`."""
    return [
        Violation(
            file,
            "missing_channel",
            f"required channel {name!r} is absent",
            subject,
            name,
        )
        for name in _REQUIRED_CHANNELS
        if name not in present
    ]


def check_streams(
    trial: Trial, file: str, rules: ContractConfig, *, check_missing: bool = True
) -> list[Violation]:
    """Every stream of `trial`: its name, its channels, its data, and (if asked) required channels.

    A file reader passes `check_missing=False`: it judged missing channels on the file's columns.
    """
    subject = trial.subject_id or None
    found: list[Violation] = []
    present: set[str] = set()
    for name, stream in trial.streams.items():
        if name not in c.STREAMS:
            found.append(
                Violation(
                    file,
                    "stream",
                    f"unknown stream {name!r} (streams: {', '.join(c.STREAMS)})",
                    subject,
                )
            )
        for ch, unit in zip(stream.channels, stream.units, strict=True):
            found += channel_violations(ch, unit, name, file, subject)
        present.update(stream.channels)
        found += _check_stream(stream, file, subject, rules)
    if check_missing:
        found += missing_channels(present, file, subject)
    return found


def _check_stream(
    stream: Stream, file: str, subject: str | None, rules: ContractConfig
) -> list[Violation]:
    """Time base, sampling rate and NaN runs of one stream; all vectorised."""
    name = stream.name
    found: list[Violation] = []
    rate: float | None = float(stream.rate_hz)
    if not positive_number(rate):
        found.append(
            Violation(file, "metadata", f"stream {name!r} rate {rate!r} is not positive", subject)
        )
        rate = None
    t = np.asarray(stream.time, dtype=np.float64)
    n = t.shape[0]
    if n < 2:
        found.append(
            Violation(
                file,
                "empty_stream",
                f"stream {name!r} has {n} sample(s), at least 2 needed",
                subject,
            )
        )
        return found

    bad_time = ~np.isfinite(t)
    if bad_time.any():
        first = int(np.argmax(bad_time))
        found.append(
            Violation(
                file,
                "time_nan",
                f"time of stream {name!r} has {int(bad_time.sum())} NaN/infinite value(s), "
                f"first at sample {first}",
                subject,
            )
        )
    else:
        dt = np.diff(t)
        for kind, where in (("duplicated", dt == 0), ("decreasing", dt < 0)):
            hits = np.flatnonzero(where)
            if hits.size:
                i = int(hits[0]) + 1
                found.append(
                    Violation(
                        file,
                        "time_order",
                        f"time of stream {name!r} is not strictly increasing: {kind} at sample "
                        f"{i} (t={t[i]:.6g} s after {t[i - 1]:.6g} s); {hits.size} such sample(s)",
                        subject,
                    )
                )
        median = float(np.median(dt))
        if rate is not None and median > 0:
            measured = 1.0 / median
            if abs(measured - rate) / rate > rules.rate_tolerance:
                found.append(
                    Violation(
                        file,
                        "sampling_rate",
                        f"stream {name!r} declares {rate:g} Hz but its median sample interval "
                        f"{median * 1e3:.4g} ms means {measured:.4g} Hz "
                        f"(tolerance {rules.rate_tolerance:.1%})",
                        subject,
                    )
                )
        if rate is None and median > 0:
            rate = 1.0 / median

    if rate is not None:
        found += _nan_runs(stream, t, rate, file, subject, rules.max_nan_run_s)
    return found


def _nan_runs(
    stream: Stream, t: np.ndarray, rate: float, file: str, subject: str | None, max_s: float
) -> list[Violation]:
    """Gaps longer than `max_s` in channels that may not have any; the worst run per channel."""
    strict = [
        j
        for j, ch in enumerate(stream.channels)
        if (fam := c.family_of(ch)) is not None and not fam.nan_allowed
    ]
    if not strict:
        return []
    mask = np.isnan(stream.data[:, strict]).T  # channels x samples
    if not mask.any():
        return []
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    start_ch, start_i = np.nonzero(edges == 1)  # both sorted by channel, then sample
    _, stop_i = np.nonzero(edges == -1)
    length = stop_i - start_i
    too_long = length > max_s * rate + 1e-9
    found: list[Violation] = []
    for k in np.unique(start_ch[too_long]):
        runs = np.flatnonzero(too_long & (start_ch == k))
        worst = runs[np.argmax(length[runs])]
        i0, count = int(start_i[worst]), int(length[worst])
        channel = stream.channels[strict[int(k)]]
        more = f"; {runs.size} runs that long" if runs.size > 1 else ""
        found.append(
            Violation(
                file,
                "nan_run",
                f"{count} missing samples in a row ({count / rate:.3f} s) from sample {i0} "
                f"(t={t[i0]:.4g} s to {t[i0 + count - 1]:.4g} s); at most {max_s:g} s allowed"
                + more,
                subject,
                channel,
            )
        )
    return found


# --- small helpers ---------------------------------------------------------------------------
def dedupe(found: list[Violation]) -> list[Violation]:
    """Drop repeats (two checks can word the same problem alike), keeping the first order."""
    return list(dict.fromkeys(found))


def str_or_none(value: Any) -> str | None:
    """`value` if it is text: a non-text id is reported once, then treated as absent."""
    return value if isinstance(value, str) else None


def positive_number(value: Any) -> bool:
    """A finite number above zero; bools are not numbers here (JSON `true` is no rate)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def first_line(exc: BaseException) -> str:
    """The first line of an error, so a parser's multi-line message fits one violation."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
