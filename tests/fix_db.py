"""PostgreSQL for tests: a fresh, migrated database per test session.

``FIREGRID_TEST_DB_URL`` names a server to use (an admin URL such as
``postgresql://postgres@127.0.0.1:5432/test``); the session creates its own database there and
drops it afterwards. Without it, an embedded PostgreSQL is started in a temporary directory.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from firegrid.db import migrate
from ingest.config import StorageSettings


def _server_admin_url(tmp_root: Path) -> Iterator[str]:
    url = os.environ.get("FIREGRID_TEST_DB_URL")
    if url:
        try:
            psycopg.connect(url, connect_timeout=5).close()
        except psycopg.OperationalError as exc:
            pytest.fail(f"FIREGRID_TEST_DB_URL={url} is not reachable: {exc}", pytrace=False)
        yield url
        return
    from firegrid.embedded import start_postgres

    server = start_postgres(tmp_root / "pg")
    try:
        yield server.admin_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An admin URL to the PostgreSQL server the tests use."""
    yield from _server_admin_url(tmp_path_factory.mktemp("services"))


def create_database(admin_url: str, name: str) -> str:
    """Create database ``name`` on the admin URL's server and return its URL."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    params: dict[str, Any] = conninfo_to_dict(admin_url)
    params["dbname"] = name
    return make_conninfo(**params)


def drop_database(admin_url: str, name: str) -> None:
    """Drop database ``name`` if it exists, disconnecting its sessions."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def private_database(admin_url: str, prefix: str = "fg_test") -> Iterator[str]:
    """Create and migrate a database of its own, yield its URL, drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = create_database(admin_url, name)
    migrate(url, storage=StorageSettings())
    yield url
    drop_database(admin_url, name)


@pytest.fixture(scope="session")
def db_url(pg_admin_url: str) -> Iterator[str]:
    """A migrated database private to this test session."""
    yield from private_database(pg_admin_url)


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection whose work is rolled back after the test."""
    with psycopg.connect(db_url) as connection:
        yield connection
        connection.rollback()
