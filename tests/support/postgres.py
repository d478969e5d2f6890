"""A real PostgreSQL server for the integration tests (the `postgres` fixture's engine).

`initdb` into a temporary folder, `pg_ctl start` on a free localhost port (no Unix socket
outside that folder), `pg_ctl stop` at the end. PostgreSQL refuses to run as root: as root, the
server runs as the `postgres` system user (or another non-root account) through `runuser`. CI
installs the server from the distribution's packages (`.ci/run`); the binaries are looked up on
PATH, then in /usr/lib/postgresql/<version>/bin.
"""

from __future__ import annotations

import getpass
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import free_port

SUPERUSER = "gaitgrf"


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _run_as() -> list[str]:
    """Command prefix running PostgreSQL's tools as a non-root user ([] when not root)."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser") or shutil.which("su")
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        if runuser and runuser.endswith("runuser"):
            return [runuser, "-u", user, "--"]
    pytest.fail("running as root with no `postgres` user and no runuser: cannot start PostgreSQL")


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    psql: str | None

    def url(self, database: str, driver: str = "postgresql+psycopg2") -> str:
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new, empty database; returns its SQLAlchemy URL."""
        import psycopg2

        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname="postgres")
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.url(name)


@contextmanager
def running_postgres() -> Iterator[Postgres]:
    """A fresh cluster on a free port for the duration of the block, then stopped and removed."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.fail("PostgreSQL (initdb, pg_ctl) not found; .ci/run installs it (apt-get)")
    prefix = _run_as()
    # Not under pytest's tmp_path: its parents are private to root, the server user needs access.
    root = Path(tempfile.mkdtemp(prefix="gaitgrf-pg-"))
    data, log = root / "data", root / "server.log"
    if prefix:
        user = prefix[2]
        shutil.chown(root, user=user)
    else:
        user = getpass.getuser()
    port = free_port()

    def pg(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, *args], capture_output=True, text=True, check=False, timeout=120, **kwargs
        )  # type: ignore[call-overload]

    done = pg(initdb, "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync")
    assert done.returncode == 0, f"initdb as {user} failed:\n{done.stdout}{done.stderr}"
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    started = pg(pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
    if started.returncode != 0:
        text = log.read_text() if log.exists() else ""
        pytest.fail(f"pg_ctl start failed:\n{started.stdout}{started.stderr}\n{text}")
    try:
        yield Postgres(host="127.0.0.1", port=port, user=SUPERUSER, psql=shutil.which("psql"))
    finally:
        pg(pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
