"""Database connections and forward-only migrations."""

from __future__ import annotations

import logging

import psycopg

from firegrid.migrations import MIGRATIONS
from infra.database import Conn
from ingest.config import StorageSettings
from ingest.partitions import timescale_available, timescale_installed

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every FireGrid process on one database.
_MIGRATION_LOCK = 0x46495245  # "FIRE"


class SchemaTooNew(RuntimeError):  # noqa: N818 - public name the CLI already catches
    """The database was migrated by a newer FireGrid than this one."""


def latest_version() -> int:
    """Return the newest schema version this code knows."""
    return MIGRATIONS[-1].version


def migrate(conninfo: str, *, storage: StorageSettings) -> int:
    """Bring the schema forward to the latest version and return it.

    Serialised with an advisory lock so several roles starting together migrate once. Each
    migration runs in its own transaction with its version row, so a failed step leaves the
    schema at the previous version.
    """
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            return _migrate_locked(conn, conninfo=conninfo, storage=storage)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))


def _migrate_locked(conn: Conn, *, conninfo: str, storage: StorageSettings) -> int:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS fg_schema_version ("
        " version integer PRIMARY KEY, name text NOT NULL,"
        " timescale boolean NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    row = conn.execute("SELECT max(version) FROM fg_schema_version").fetchone()
    current = int(row[0]) if row and row[0] is not None else 0
    if current > latest_version():
        raise SchemaTooNew(
            f"database schema is version {current}, this FireGrid knows up to "
            f"{latest_version()}: upgrade FireGrid or point it at another database"
        )
    timescale = _use_timescale(conn, conninfo=conninfo, storage=storage, fresh=current == 0)
    for step in MIGRATIONS:
        if step.version <= current:
            continue
        log.info("applying migration %04d %s (timescaledb=%s)", step.version, step.name, timescale)
        with conn.transaction():
            step.apply(conn, timescale=timescale, storage=storage)
            conn.execute(
                "INSERT INTO fg_schema_version (version, name, timescale) VALUES (%s, %s, %s)",
                (step.version, step.name, timescale),
            )
        current = step.version
    return current


_HOW_TO_ENABLE = (
    "to use TimescaleDB, add timescaledb to shared_preload_libraries in postgresql.conf and"
    " restart PostgreSQL"
)


def _use_timescale(conn: Conn, *, conninfo: str, storage: StorageSettings, fresh: bool) -> bool:
    """Decide the storage path once, when the schema is created, and keep it after."""
    if not fresh:
        return storage_is_timescale(conn)
    wanted = storage.use_timescaledb
    if wanted is False:
        return False
    if timescale_installed(conn):
        return True
    if not timescale_available(conn):
        if wanted:
            raise RuntimeError(
                "use_timescaledb is set but the timescaledb extension is not available"
            )
        return False  # plain PostgreSQL, as intended: nothing to warn about
    # Installed on the server but not preloaded is a common misconfiguration: creating the
    # extension then ends the session with FATAL. Check first; when this role may not read the
    # setting (None), try anyway, on a connection of its own.
    if timescale_preloaded(conn) is False:
        problem = "the timescaledb extension is installed but not preloaded"
    elif (error := _create_timescale(conninfo)) is not None:
        problem = f"CREATE EXTENSION timescaledb failed ({error})"
    else:
        return True
    if wanted:
        raise RuntimeError(f"use_timescaledb is set but {problem}: {_HOW_TO_ENABLE}")
    log.warning("%s; using plain PostgreSQL partitions: %s", problem, _HOW_TO_ENABLE)
    return False


def timescale_preloaded(conn: Conn) -> bool | None:
    """Tell whether the server preloads timescaledb; None when this role may not read it."""
    try:
        row = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
    except psycopg.errors.InsufficientPrivilege:
        # Superusers and pg_read_all_settings only; on autocommit the error ends nothing.
        return None
    return preloads_timescale(str(row[0]) if row else "")


def preloads_timescale(setting: str) -> bool:
    """Tell whether a ``shared_preload_libraries`` value names timescaledb."""
    # A comma-separated list; entries may be double-quoted or paths ('$libdir/timescaledb').
    names = (part.strip().strip('"').rsplit("/", 1)[-1] for part in setting.split(","))
    return any(name.removesuffix(".so") == "timescaledb" for name in names)


def _create_timescale(conninfo: str) -> str | None:
    """Create the extension on a connection of its own; return why it failed, or None.

    Its own connection: a failed creation can end the session with FATAL, and the migration
    must go on, on the plain path, on a connection that still holds the migration lock.
    """
    try:
        with psycopg.connect(conninfo, autocommit=True) as side:
            side.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def storage_is_timescale(conn: Conn) -> bool:
    """Tell which storage path the schema was created on."""
    row = conn.execute(
        "SELECT timescale FROM fg_schema_version ORDER BY version LIMIT 1"
    ).fetchone()
    return bool(row and row[0])
