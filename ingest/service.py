"""SQL of the ingest path: one transaction per batch, COPY for the rows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from devices.models import DeviceEvent, Fix, Reading
from ingest.models import PreparedBatch, Rejection
from ingest.terminals import TerminalRows, store_photo_rows, store_reports

Conn = psycopg.Connection[Any]

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
class WriteResult:
    """What one committed batch stored."""

    batch_id: int
    readings: int
    events: int
    rejected: int
    duplicates: int
    conflicts: int
    fixes: int = 0
    reports: int = 0
    photos: int = 0
    # Rejections decided inside the transaction (a report with no position), already stored.
    late_rejections: tuple[str, ...] = ()


def write_batch(
    conn: Conn, *, batch: PreparedBatch, fix_window: timedelta = timedelta(seconds=60)
) -> WriteResult:
    """Store a prepared batch in one transaction and return what it stored.

    ``conn`` must be in autocommit mode: the transaction is opened here. Readings and events go
    in with one COPY each; only when the identity constraint fires (a redelivered or re-sent
    sample) does the batch take the slower path that skips duplicates and records conflicts.
    Reports are resolved after fixes, so a report without a position may take a fix from its
    own batch (``fix_window`` either side of its time).
    """
    with conn.transaction():
        row = conn.execute("SELECT nextval('ingest_batches_batch_id_seq')").fetchone()
        assert row is not None
        batch_id = int(row[0])
        stored_readings = _store(
            conn,
            table="readings",
            rows=_reading_rows(batch.readings, batch_id),
            count=len(batch.readings),
            columns=_READING_COLUMNS,
            types=_READING_TYPES,
            conflict_sql=_READING_CONFLICTS,
        )
        readings, r_dups, r_conflicts = stored_readings.counts
        events, e_dups, e_conflicts = _store(
            conn,
            table="device_events",
            rows=_event_rows(batch.events, batch_id),
            count=len(batch.events),
            columns=_EVENT_COLUMNS,
            types=_EVENT_TYPES,
            conflict_sql=_EVENT_CONFLICTS,
        ).counts
        fixes, f_dups, f_conflicts = _store(
            conn,
            table="fixes",
            rows=_fix_rows(batch.fixes, batch_id),
            count=len(batch.fixes),
            columns=_FIX_COLUMNS,
            types=_FIX_TYPES,
            conflict_sql=_FIX_CONFLICTS,
        ).counts
        terminal = TerminalRows()
        store_reports(
            conn, reports=batch.reports, batch_id=batch_id, fix_window=fix_window, result=terminal
        )
        store_photo_rows(conn, photos=batch.photos, result=terminal)
        rejections = batch.rejections + terminal.rejections
        _store_rejections(conn, rejections)
        _update_status(conn, batch, stored_rows=stored_readings.rows)
        conn.execute(
            "INSERT INTO ingest_batches (batch_id, messages, readings, events, rejected, fixes,"
            " reports, photos) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                batch_id,
                batch.messages,
                readings,
                events,
                len(rejections),
                fixes,
                terminal.reports,
                terminal.photos,
            ),
        )
        conn.execute("SELECT pg_notify('firegrid_batches', %s)", (str(batch_id),))
    return WriteResult(
        batch_id,
        readings,
        events,
        len(rejections),
        r_dups + e_dups + f_dups + terminal.report_duplicates + terminal.photo_duplicates,
        r_conflicts + e_conflicts + f_conflicts + terminal.report_conflicts,
        fixes=fixes,
        reports=terminal.reports,
        photos=terminal.photos,
        late_rejections=tuple(r.reason for r in terminal.rejections),
    )


def store_rejections(conn: Conn, *, rejections: list[Rejection]) -> None:
    """Store rejections on their own (a message the database itself refused)."""
    with conn.transaction():
        _store_rejections(conn, rejections)


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
class _Stored:
    """What one table's COPY kept: counts, and the rows kept when not all of them were."""

    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    # None: every row offered was stored. Otherwise the rows stored, in ``columns`` order.
    rows: list[tuple[Any, ...]] | None = None

    @property
    def counts(self) -> tuple[int, int, int]:
        """Return (stored, duplicates, conflicts)."""
        return self.stored, self.duplicates, self.conflicts


def _store(
    conn: Conn,
    *,
    table: str,
    rows: Iterable[tuple[Any, ...]],
    count: int,
    columns: str,
    types: list[str],
    conflict_sql: str,
) -> _Stored:
    """COPY rows into ``table``; say how many were stored, duplicates and conflicts."""
    if count == 0:
        return _Stored()
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
    return _Stored(count)


def _store_deduplicated(
    conn: Conn,
    *,
    table: str,
    rows: list[tuple[Any, ...]],
    columns: str,
    types: list[str],
    conflict_sql: str,
) -> _Stored:
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
    return _Stored(stored, len(rows) - stored - conflicts, conflicts, kept)


def _store_rejections(conn: Conn, rejections: list[Rejection]) -> None:
    if not rejections:
        return
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY rejected_messages (received_at, topic, reason, detail, payload)"
            " FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["timestamptz", "text", "text", "text", "bytea"])
        for r in rejections:
            copy.write_row(
                (r.received_at, r.topic, r.reason, r.detail.replace("\x00", "\\0"), r.payload)
            )


@dataclass(slots=True)
class _SenderStatus:
    last_received_at: datetime
    last_ts: datetime
    # metric -> (ts, value, seq) of the newest reading in the batch
    latest: dict[str, tuple[datetime, float, int | None]] = field(default_factory=dict)


def _update_status(
    conn: Conn, batch: PreparedBatch, *, stored_rows: list[tuple[Any, ...]] | None
) -> None:
    """Upsert each sender's last-heard time and newest value per metric.

    Every message counts as hearing from its device; only readings that were stored may become
    a latest value (``stored_rows`` None: all of them were), so a conflicting resend never
    shows in the device view while the readings keep the first value (CONTRACT §1).
    """
    status: dict[str, _SenderStatus] = {}
    for reading, received_at in batch.readings:
        entry = status.setdefault(reading.device_id, _SenderStatus(received_at, reading.ts))
        entry.last_received_at = max(entry.last_received_at, received_at)
        entry.last_ts = max(entry.last_ts, reading.ts)
    values: Iterable[tuple[str, datetime, str, float, int | None]]
    if stored_rows is None:
        values = ((r.device_id, r.ts, r.metric, r.value, r.seq) for r, _ in batch.readings)
    else:  # rows in _READING_COLUMNS order: ts, device_id, metric, value, seq, ...
        values = (
            (device_id, ts, metric, value, None if seq == NO_SEQ else seq)
            for ts, device_id, metric, value, seq, *_ in stored_rows
        )
    for device_id, ts, metric, value, seq in values:
        latest = status[device_id].latest
        known = latest.get(metric)
        if known is None or ts >= known[0]:
            latest[metric] = (ts, value, seq)
    for event, received_at in batch.events:
        entry = status.setdefault(event.device_id, _SenderStatus(received_at, event.ts))
        entry.last_received_at = max(entry.last_received_at, received_at)
        entry.last_ts = max(entry.last_ts, event.ts)
    if not status:
        return
    ids = sorted(status)  # a fixed order keeps concurrent workers from deadlocking
    conn.execute(
        """
        INSERT INTO device_status AS d (device_id, last_received_at, last_ts, latest)
        SELECT * FROM unnest(%b::text[], %b::timestamptz[], %b::timestamptz[], %b::jsonb[])
        ON CONFLICT (device_id) DO UPDATE SET
            last_received_at = greatest(d.last_received_at, excluded.last_received_at),
            last_ts = greatest(d.last_ts, excluded.last_ts),
            latest = fg_merge_latest(d.latest, excluded.latest)
        """,
        (
            ids,
            [status[i].last_received_at for i in ids],
            [status[i].last_ts for i in ids],
            [
                Jsonb(
                    {
                        m: {"ts": ts.isoformat(), "value": v, "seq": s}
                        for m, (ts, v, s) in status[i].latest.items()
                    }
                )
                for i in ids
            ],
        ),
    )


def list_rejected(
    conn: Conn,
    *,
    since: datetime | None,
    topic: str | None,
    reason: str | None,
    after_id: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """List stored rejections, newest first, keyset-paginated by id."""
    clauses: list[str] = []
    params: list[object] = []
    if since is not None:
        clauses.append("received_at >= %s")
        params.append(since)
    if topic is not None:
        clauses.append("topic = %s")
        params.append(topic)
    if reason is not None:
        clauses.append("reason = %s")
        params.append(reason)
    if after_id is not None:
        clauses.append("id < %s")
        params.append(after_id)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    params.append(limit)
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(
            "SELECT id, topic, reason, detail, received_at, payload FROM rejected_messages "
            f"{where} ORDER BY id DESC LIMIT %s",
            params,
        ).fetchall()
