"""The database: one connection type, one way to open a connection or a pool, typed rows.

Every domain's ``service.py`` takes a ``Conn`` (keyword-only functions, one connection lent by
the caller); roles open theirs with ``connect`` and the API lends one per request from
``open_pool``. Every session speaks UTC, so times read back as aware UTC datetimes whatever the
server's ``TimeZone`` is (CONTRACT §4 prints UTC).
"""

from __future__ import annotations

from typing import Any, TypeAlias

import psycopg
from psycopg.rows import class_row, dict_row
from psycopg_pool import ConnectionPool

__all__ = ["Conn", "Pool", "class_row", "configure_session", "connect", "dict_row", "open_pool"]

Conn: TypeAlias = psycopg.Connection[Any]
Pool: TypeAlias = ConnectionPool[Conn]


def configure_session(conn: Conn) -> None:
    """Set what every FireGrid session assumes: UTC times."""
    conn.execute("SET TIME ZONE 'UTC'")
    if not conn.autocommit:
        conn.commit()


def connect(url: str, *, autocommit: bool = True, application_name: str = "firegrid") -> Conn:
    """Open one configured connection (autocommit: each unit of work opens its transaction)."""
    conn = psycopg.connect(url, autocommit=autocommit, application_name=application_name)
    configure_session(conn)
    return conn


def open_pool(
    url: str, *, name: str, min_size: int = 1, max_size: int = 8, timeout_s: float = 10.0
) -> Pool:
    """Build a pool of configured connections (not opened: the owner opens and closes it)."""
    return ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        configure=configure_session,
        timeout=timeout_s,
        name=name,
        kwargs={"application_name": f"firegrid-{name}"},
    )
