"""The environment every command runs in: no telemetry, however the CLI was started.

`make` exports these variables (Makefile), but a user who types `gaitgrf prepare` does not: they
got Prefect's usage notice, the analytics heartbeat of its temporary server (a 40-line "database
is locked" traceback on SQLite), and MLflow's and DVC's usage reports. The CLI's entry callback
(`gaitgrf.cli.main`) therefore sets them in its own environment at the start of every command, so
that the libraries it imports and every child process it starts (DVC, the flows, the servers of
`ui` and `serve`) inherit them. Not at import: importing `gaitgrf.cli` (tests, tools) leaves the
environment alone. Only the CLI does this; the library never reads or writes the environment.

A variable the user set to a non-empty value is kept as it is, opt-in included
(`MLFLOW_DISABLE_TELEMETRY=false gaitgrf ui`): telemetry is off by default, never against an
explicit choice. An empty value counts as unset, as the libraries themselves read it.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from types import MappingProxyType
from typing import Final

#: Telemetry switches and their "off" values, the same as the Makefile's (a test compares them).
TELEMETRY_OFF: Final[Mapping[str, str]] = MappingProxyType(
    {
        # The shared opt-out: Prefect's client analytics and usage notice, MLflow (which needs
        # the string "true"), and most other tools.
        "DO_NOT_TRACK": "true",
        "DVC_NO_ANALYTICS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        # Server side: the analytics heartbeat of a Prefect server, temporary or `serve`'s own.
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
)


def telemetry_off(environ: MutableMapping[str, str]) -> dict[str, str]:
    """Set every `TELEMETRY_OFF` variable that `environ` leaves unset or empty.

    Returns what was set, so that a caller (or a test) can tell the user's choices from ours.
    """
    applied = {key: value for key, value in TELEMETRY_OFF.items() if not environ.get(key)}
    environ.update(applied)
    return applied
