"""TimescaleDB only when it can be used: checked before creating it, plain path when it fails.

TimescaleDB cannot be installed on the test server, so the availability query is stood in for
(``timescale_available``); everything else is real: the preload check reads the server's
setting, and a failed creation is a real ``CREATE EXTENSION`` whose session an event trigger
ends with FATAL, as a timescaledb that is installed but not preloaded does.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from firegrid import db
from firegrid.db import latest_version, migrate, storage_is_timescale, timescale_preloaded
from ingest.config import StorageSettings
from tests.fix_db import create_database, drop_database

# Ends the session of whoever runs CREATE EXTENSION timescaledb, before the server even looks
# for the extension: the FATAL that "must be preloaded" gives, on a server without the package.
_FATAL_ON_CREATE = (
    "CREATE FUNCTION fg_fatal_on_create() RETURNS event_trigger LANGUAGE plpgsql AS $$"
    " BEGIN IF current_query() ILIKE '%timescaledb%' THEN"
    " PERFORM pg_terminate_backend(pg_backend_pid()); END IF; END $$",
    "CREATE EVENT TRIGGER fg_fatal_on_create ON ddl_command_start"
    " WHEN TAG IN ('CREATE EXTENSION') EXECUTE FUNCTION fg_fatal_on_create()",
)


@pytest.fixture
def fresh_db(pg_admin_url: str) -> Iterator[str]:
    """An empty database, so that migrate() decides the storage path."""
    name = f"fg_tsdb_{uuid.uuid4().hex[:8]}"
    url = create_database(pg_admin_url, name)
    yield url
    drop_database(pg_admin_url, name)


@pytest.fixture
def unprivileged_url(db_url: str) -> Iterator[str]:
    """A URL to the test database as a login role that is not a superuser."""
    role = f"fg_plain_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
    params = conninfo_to_dict(db_url)
    params["user"] = role
    yield make_conninfo(**params)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f'DROP ROLE "{role}"')


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_preload_check_reads_the_servers_setting(db_url: str, unprivileged_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute("SHOW shared_preload_libraries").fetchone()
        assert row is not None
        assert timescale_preloaded(conn) is ("timescaledb" in str(row[0]))
    # A role that may not read the setting gets "unknown", and its session goes on.
    with psycopg.connect(unprivileged_url, autocommit=True) as conn:
        assert timescale_preloaded(conn) is None
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_installed_but_not_preloaded_is_never_created_and_says_how_to_enable(
    fresh_db: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        for statement in _FATAL_ON_CREATE:
            conn.execute(statement)
        assert timescale_preloaded(conn) is False, "the test server must not preload timescaledb"
    monkeypatch.setattr(db, "timescale_available", lambda _conn: True)
    with caplog.at_level(logging.WARNING, logger="firegrid.db"):
        assert migrate(fresh_db, storage=StorageSettings()) == latest_version()
    [warning] = _warnings(caplog)
    assert "not preloaded" in warning  # decided by the check: no CREATE EXTENSION was tried
    assert "shared_preload_libraries" in warning
    assert "restart" in warning
    with psycopg.connect(fresh_db) as conn:
        assert storage_is_timescale(conn) is False


def test_a_creation_that_ends_the_session_continues_on_the_plain_path(
    fresh_db: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        for statement in _FATAL_ON_CREATE:
            conn.execute(statement)
    monkeypatch.setattr(db, "timescale_available", lambda _conn: True)
    # Preloaded as far as the check can tell (a role that may not read the setting says None):
    # the creation is tried, and ends its session with FATAL.
    monkeypatch.setattr(db, "timescale_preloaded", lambda _conn: None)
    with caplog.at_level(logging.WARNING, logger="firegrid.db"):
        assert migrate(fresh_db, storage=StorageSettings()) == latest_version()
    [warning] = _warnings(caplog)
    assert "CREATE EXTENSION timescaledb failed" in warning
    assert "terminating connection" in warning
    assert "shared_preload_libraries" in warning
    with psycopg.connect(fresh_db) as conn:
        assert storage_is_timescale(conn) is False
        row = conn.execute("SELECT count(*) FROM fg_schema_version").fetchone()
        assert row is not None
        assert row[0] == len(db.MIGRATIONS)
        conn.execute("SELECT count(*) FROM readings")  # the plain path's tables are there


def test_timescale_required_but_not_preloaded_refuses_with_the_fix(
    fresh_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "timescale_available", lambda _conn: True)
    with pytest.raises(RuntimeError, match="shared_preload_libraries"):
        migrate(fresh_db, storage=StorageSettings(use_timescaledb=True))
