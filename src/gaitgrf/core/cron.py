"""Checking a five-field cron expression when params are loaded, without importing Prefect.

`retrain.cron` is only read by Prefect when `gaitgrf serve` builds its deployment; a typo used to
surface there, minutes later, as a pydantic traceback. Prefect's own check needs `import
prefect` (about 2 s), too heavy for every params load, so this module checks the same grammar
that Prefect's cron schedules accept (croniter's standard five fields, month and day names and
`@` aliases; Prefect refuses random `R` and hashed `H` fields too). It is a subset: croniter's
`L` and `#` extensions are refused here. A test holds it against Prefect's validator.
"""

from __future__ import annotations

import re
from typing import Final

#: (name, lowest, highest) of the five fields; day of week 7 is Sunday again, as in cron.
_FIELDS: Final = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
_NAMES: Final = {
    3: {
        m: i + 1
        for i, m in enumerate(
            ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        )
    },
    4: {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
}
_ALIASES: Final = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_ITEM: Final = re.compile(r"^(?P<range>\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/(?P<step>[0-9]+))?$")


class CronError(ValueError):
    """The expression is not a cron schedule; the message says which field and why."""


def _value(text: str, index: int) -> int:
    name, low, high = _FIELDS[index]
    names = _NAMES.get(index, {})
    if text in names:
        return names[text]
    if not text.isdigit():
        raise CronError(
            f"{name} field: {text!r} is not a number"
            + (f" or one of {', '.join(names)}" if names else "")
        )
    value = int(text)
    if not low <= value <= high:
        raise CronError(f"{name} field: {value} is outside {low}-{high}")
    return value


def _check_item(item: str, index: int) -> None:
    match = _ITEM.match(item)
    if match is None:
        raise CronError(f"{_FIELDS[index][0]} field: {item!r} is not N, N-M, * or one with /step")
    if match["step"] is not None and int(match["step"]) == 0:
        raise CronError(f"{_FIELDS[index][0]} field: step 0 in {item!r}")
    if match["range"] == "*":
        return
    bounds = [_value(part, index) for part in match["range"].split("-")]
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        raise CronError(f"{_FIELDS[index][0]} field: range {item!r} runs backwards")


def check_cron(expression: str) -> str:
    """Return `expression` when it is a valid cron schedule, else raise `CronError`."""
    text = expression.strip().lower()
    if text in _ALIASES:
        return expression
    fields = text.split()
    if len(fields) != len(_FIELDS):
        raise CronError(
            f"{expression!r} has {len(fields)} field(s); a cron schedule has 5 "
            "(minute hour day-of-month month day-of-week, e.g. '0 3 * * 1') or is an @alias"
        )
    for index, field in enumerate(fields):
        for item in field.split(","):
            _check_item(item, index)
    return expression
