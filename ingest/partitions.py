"""Time-series table storage: TimescaleDB hypertables when present, native partitions otherwise.

Both paths create the same columns, indexes and names, so every query runs on either. The
TimescaleDB path hands chunking, compression and retention to TimescaleDB's own policies; the
plain path creates one partition per chunk interval on demand and drops old ones itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from infra.database import Conn

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timescale_available(conn: Conn) -> bool:
    """Tell whether the server can load the timescaledb extension."""
    row = conn.execute(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    return bool(row and row[0])


def timescale_installed(conn: Conn) -> bool:
    """Tell whether the timescaledb extension is created in this database."""
    row = conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return bool(row and row[0])


def create_timeseries_table(
    conn: Conn,
    *,
    table: str,
    columns: str,
    unique: str,
    segment_by: str,
    order_by: str,
    chunk: timedelta,
    compress_after: timedelta,
    retention: timedelta,
    timescale: bool,
) -> None:
    """Create ``table`` (time column ``ts``) as a hypertable or a range-partitioned table.

    ``columns`` is the column list of a CREATE TABLE, ``unique`` the identity columns (they
    include ``ts``, as both TimescaleDB and native partitioning require).
    """
    ident = sql.Identifier(table)
    if timescale:
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(ident, sql.SQL(columns)))
        conn.execute(
            "SELECT create_hypertable(%s::regclass, 'ts', chunk_time_interval => %s)",
            (table, chunk),
        )
    else:
        conn.execute(
            sql.SQL("CREATE TABLE {} ({}) PARTITION BY RANGE (ts)").format(ident, sql.SQL(columns))
        )
    conn.execute(
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} UNIQUE ({})").format(
            ident, sql.Identifier(f"{table}_identity"), sql.SQL(unique)
        )
    )
    if timescale:
        # Segmenting by the device keeps one device's history in one compressed batch, and the
        # identity columns all appear in segment_by/order_by so uniqueness survives compression.
        conn.execute(
            sql.SQL(
                "ALTER TABLE {} SET (timescaledb.compress, "
                "timescaledb.compress_segmentby = {}, timescaledb.compress_orderby = {})"
            ).format(ident, sql.Literal(segment_by), sql.Literal(order_by))
        )
        conn.execute(
            "SELECT add_compression_policy(%s::regclass, compress_after => %s)",
            (table, compress_after),
        )
        conn.execute(
            "SELECT add_retention_policy(%s::regclass, drop_after => %s)", (table, retention)
        )
    else:
        conn.execute(
            "INSERT INTO fg_partitioned_tables (table_name, chunk, retention) VALUES (%s, %s, %s)",
            (table, chunk, retention),
        )


def chunk_starts(times: Iterable[datetime], chunk: timedelta) -> set[datetime]:
    """Return the start of every chunk that ``times`` fall into (chunks aligned to the epoch)."""
    # timedelta // timedelta is exact integer arithmetic on microseconds: a sample one
    # microsecond before midnight stays in its day, which float seconds cannot promise.
    indexes = {(ts - _EPOCH) // chunk for ts in times}
    return {_EPOCH + i * chunk for i in indexes}


def partition_name(table: str, start: datetime) -> str:
    """Name the partition of ``table`` that starts at ``start``."""
    return f"{table}_p{start:%Y%m%d%H%M}"


def ensure_partitions(
    conn: Conn, *, table: str, starts: Iterable[datetime], chunk: timedelta
) -> list[str]:
    """Create the partitions of ``table`` starting at ``starts`` that do not exist yet.

    Run on an autocommit connection, outside the batch transaction: creating a partition locks
    the parent briefly, and two ingest workers racing to create the same one is harmless.
    """
    created = []
    for start in sorted(starts):
        name = partition_name(table, start)
        try:
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})"
                ).format(
                    sql.Identifier(name),
                    sql.Identifier(table),
                    sql.Literal(start),
                    sql.Literal(start + chunk),
                )
            )
        except (psycopg.errors.DuplicateTable, psycopg.errors.UniqueViolation):
            continue  # another worker created it between our check and our CREATE
        created.append(name)
    return created


def existing_partitions(conn: Conn, *, table: str) -> set[str]:
    """List the partitions ``table`` has now."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass",
        (table,),
    ).fetchall()
    return {str(r[0]) for r in rows}


def drop_expired_partitions(conn: Conn, *, now: datetime) -> list[str]:
    """Drop plain-path partitions wholly older than their table's retention; name them."""
    dropped: list[str] = []
    tables = conn.execute(
        "SELECT table_name, chunk, retention FROM fg_partitioned_tables"
    ).fetchall()
    for table, chunk, retention in tables:
        for name in sorted(existing_partitions(conn, table=str(table))):
            stamp = name.rsplit("_p", 1)[-1]
            try:
                start = datetime.strptime(stamp, "%Y%m%d%H%M").replace(tzinfo=UTC)
            except ValueError:
                continue  # not one of ours
            if start + chunk <= now - retention:
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
                dropped.append(name)
    return dropped
