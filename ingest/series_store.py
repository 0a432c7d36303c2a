"""COPY of a batch's time-series rows (readings, device events, fixes) inside its transaction.

The fast path is one binary COPY per table; when the identity constraint fires (a redelivered
or re-sent sample) the rows go through a staging table that skips duplicates and records
conflicting resends in ``ingest_conflicts``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Generic, TypeVar

import psycopg
from psycopg.types.json import Jsonb

from devices.models import DeviceEvent, Fix, Reading
from infra.database import Conn

R = TypeVar("R", Reading, DeviceEvent, Fix)

NO_SEQ = -1  # stored for "the device sent no seq"; see m0001 on why not NULL

_READING_COLUMNS = "ts, device_id, metric, value, seq, received_at, batch_id"
_READING_TYPES = ["timestamptz", "text", "text", "float8", "int8", "timestamptz", "int8"]
_EVENT_COLUMNS = "ts, device_id, type, seq, detail, received_at, batch_id"
_EVENT_TYPES = ["timestamptz", "text", "text", "int8", "jsonb", "timestamptz", "int8"]
_FIX_COLUMNS = (
    "ts, terminal_id, lat, lon, quality, satellites, hdop, altitude_m, speed_mps,"
    " received_at, batch_id"
)
_FIX_TYPES = [
    "timestamptz",
    "text",
    "float8",
    "float8",
    "int2",
    "int2",
    "float8",
    "float8",
    "float8",
    "timestamptz",
    "int8",
]


@dataclass(frozen=True, slots=True)
class Stored:
    """What one table's COPY kept: counts, and the rows kept when not all of them were."""

    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    # None: every row offered was stored. Otherwise the rows stored, in ``columns`` order
    # (for readings: ts, device_id, metric, value, seq, received_at, batch_id).
    rows: list[tuple[Any, ...]] | None = None

    @property
    def counts(self) -> tuple[int, int, int]:
        """Return (stored, duplicates, conflicts)."""
        return self.stored, self.duplicates, self.conflicts


def _reading_rows(
    items: list[tuple[Reading, datetime]], batch_id: int
) -> Iterable[tuple[Any, ...]]:
    for r, received_at in items:
        yield (
            r.ts,
            r.device_id,
            r.metric,
            r.value,
            NO_SEQ if r.seq is None else r.seq,
            received_at,
            batch_id,
        )


def _event_rows(
    items: list[tuple[DeviceEvent, datetime]], batch_id: int
) -> Iterable[tuple[Any, ...]]:
    for e, received_at in items:
        yield (
            e.ts,
            e.device_id,
            e.type,
            NO_SEQ if e.seq is None else e.seq,
            Jsonb(e.detail),
            received_at,
            batch_id,
        )


def _fix_rows(items: list[tuple[Fix, datetime]], batch_id: int) -> Iterable[tuple[Any, ...]]:
    for f, received_at in items:
        yield (
            f.ts,
            f.terminal_id,
            f.lat,
            f.lon,
            f.quality,
            f.satellites,
            f.hdop,
            f.altitude_m,
            f.speed_mps,
            received_at,
            batch_id,
        )


def _copy(
    conn: Conn, table: str, columns: str, types: list[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


_READING_CONFLICTS = """
INSERT INTO ingest_conflicts (received_at, kind, device_id, ts, seq, key, stored, incoming)
SELECT s.received_at, 'reading', s.device_id, s.ts, s.seq, s.metric,
       jsonb_build_object('value', r.value), jsonb_build_object('value', s.value)
FROM staging_readings s
JOIN readings r USING (device_id, metric, ts, seq)
WHERE r.value IS DISTINCT FROM s.value
"""

_EVENT_CONFLICTS = """
INSERT INTO ingest_conflicts (received_at, kind, device_id, ts, seq, key, stored, incoming)
SELECT s.received_at, 'event', s.device_id, s.ts, s.seq, s.type,
       jsonb_build_object('detail', r.detail), jsonb_build_object('detail', s.detail)
FROM staging_device_events s
JOIN device_events r USING (device_id, type, ts, seq)
WHERE r.detail IS DISTINCT FROM s.detail
"""


_FIX_CONFLICTS = """
INSERT INTO ingest_conflicts (received_at, kind, device_id, ts, seq, key, stored, incoming)
SELECT s.received_at, 'fix', s.terminal_id, s.ts, -1, 'position',
       jsonb_build_object('lat', r.lat, 'lon', r.lon),
       jsonb_build_object('lat', s.lat, 'lon', s.lon)
FROM staging_fixes s
JOIN fixes r USING (terminal_id, ts)
WHERE (r.lat, r.lon) IS DISTINCT FROM (s.lat, s.lon)
"""


@dataclass(frozen=True, slots=True)
class SeriesTable(Generic[R]):
    """One time-series table: its COPY columns and types, its conflict query, its row builder."""

    name: str
    columns: str
    types: list[str]
    conflict_sql: str
    rows: Callable[[list[tuple[R, datetime]], int], Iterable[tuple[Any, ...]]]


READINGS: Final[SeriesTable[Reading]] = SeriesTable(
    "readings", _READING_COLUMNS, _READING_TYPES, _READING_CONFLICTS, _reading_rows
)
EVENTS: Final[SeriesTable[DeviceEvent]] = SeriesTable(
    "device_events", _EVENT_COLUMNS, _EVENT_TYPES, _EVENT_CONFLICTS, _event_rows
)
FIXES: Final[SeriesTable[Fix]] = SeriesTable(
    "fixes", _FIX_COLUMNS, _FIX_TYPES, _FIX_CONFLICTS, _fix_rows
)


def store_series(
    conn: Conn, table: SeriesTable[R], *, items: list[tuple[R, datetime]], batch_id: int
) -> Stored:
    """COPY a batch's rows of ``table``; skip duplicates and record conflicting resends."""
    return _store(
        conn,
        table=table.name,
        rows=table.rows(items, batch_id),
        count=len(items),
        columns=table.columns,
        types=table.types,
        conflict_sql=table.conflict_sql,
    )


def _store(
    conn: Conn,
    *,
    table: str,
    rows: Iterable[tuple[Any, ...]],
    count: int,
    columns: str,
    types: list[str],
    conflict_sql: str,
) -> Stored:
    """COPY rows into ``table``; say how many were stored, duplicates and conflicts."""
    if count == 0:
        return Stored()
    materialised = list(rows)
    try:
        with conn.transaction():  # a savepoint: the fast path may fail on the identity
            _copy(conn, table, columns, types, materialised)
    except psycopg.errors.UniqueViolation:
        return _store_deduplicated(
            conn,
            table=table,
            rows=materialised,
            columns=columns,
            types=types,
            conflict_sql=conflict_sql,
        )
    return Stored(count)


def _store_deduplicated(
    conn: Conn,
    *,
    table: str,
    rows: list[tuple[Any, ...]],
    columns: str,
    types: list[str],
    conflict_sql: str,
) -> Stored:
    staging = f"staging_{table}"
    conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {staging} "
        f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    conn.execute(f"TRUNCATE {staging}")
    _copy(conn, staging, columns, types, rows)
    # RETURNING names the rows that went in, so what is derived from them (a device's latest
    # values) never takes a conflicting resend the table itself refused.
    kept = conn.execute(
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging} "
        f"ON CONFLICT DO NOTHING RETURNING {columns}"
    ).fetchall()
    stored = len(kept)
    conflicts = conn.execute(conflict_sql).rowcount
    return Stored(stored, len(rows) - stored - conflicts, conflicts, kept)
