"""Fixtures of the integration tests: a real PostgreSQL server and an MLflow server on it.

The engines live in tests/support (postgres.py, servers.py); this file only scopes them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.postgres import Postgres, running_postgres
from tests.support.servers import mlflow_server as start_mlflow_server


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One PostgreSQL server for the session (tests/support/postgres.py)."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def pg_database(postgres: Postgres, request: pytest.FixtureRequest) -> Callable[[str], str]:
    """`pg_database(tag)` -> URL of a fresh database named after the test and the tag."""
    base = "".join(ch if ch.isalnum() else "_" for ch in request.node.name.lower())[:40]

    def make(tag: str) -> str:
        return postgres.create_database(f"{base}_{tag}_{time.monotonic_ns() % 10**6}")

    return make


@pytest.fixture
def mlflow_server(tmp_path: Path, pg_database: Callable[[str], str]) -> Iterator[str]:
    """URL of a real `mlflow server` whose backend store is a fresh PostgreSQL database."""
    with start_mlflow_server(pg_database("mlflow"), tmp_path) as url:
        yield url
