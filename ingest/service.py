"""SQL of the ingest path: one transaction per batch, rejections, and device status.

The COPY of the time-series rows themselves lives in ``ingest.series_store``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from infra.database import Conn, class_row
from infra.eventlog import append
from ingest.models import PreparedBatch, Rejection, StoredRejection
from ingest.series_store import EVENTS, FIXES, NO_SEQ, READINGS, store_series
from ingest.terminals.store import (
    TerminalRows,
    store_case_actions,
    store_photo_rows,
    store_reports,
)


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
        stored_readings = store_series(conn, READINGS, items=batch.readings, batch_id=batch_id)
        readings, r_dups, r_conflicts = stored_readings.counts
        events, e_dups, e_conflicts = store_series(
            conn, EVENTS, items=batch.events, batch_id=batch_id
        ).counts
        fixes, f_dups, f_conflicts = store_series(
            conn, FIXES, items=batch.fixes, batch_id=batch_id
        ).counts
        terminal = TerminalRows()
        store_reports(
            conn, reports=batch.reports, batch_id=batch_id, fix_window=fix_window, result=terminal
        )
        store_photo_rows(conn, photos=batch.photos, result=terminal)
        # Applied by the dispatch role when it consumes this batch's batch.committed event.
        store_case_actions(conn, actions=batch.case_actions, batch_id=batch_id)
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
        # The rules consume this event (cursor "rules"): it commits exactly with the batch.
        append(conn, kind="batch.committed", subject=str(batch_id), payload={"batch_id": batch_id})
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


def _store_rejections(conn: Conn, rejections: list[Rejection]) -> None:
    if not rejections:
        return
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY rejected_messages (received_at, topic, reason, detail, payload, payload_size,"
            " payload_sha256) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["timestamptz", "text", "text", "text", "bytea", "int4", "bytea"])
        for r in rejections:
            copy.write_row(
                (
                    r.received_at,
                    r.topic,
                    r.reason,
                    r.detail.replace("\x00", "\\0"),
                    r.payload,
                    r.payload_size,
                    r.payload_sha256,
                )
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
    # Hot: this runs once per sample, so plain comparisons instead of max() and dict lookups.
    status: dict[str, _SenderStatus] = {}
    for reading, received_at in batch.readings:
        entry = status.get(reading.device_id)
        if entry is None:
            status[reading.device_id] = _SenderStatus(received_at, reading.ts)
            continue
        entry.last_received_at = max(entry.last_received_at, received_at)
        entry.last_ts = max(entry.last_ts, reading.ts)
    values: Iterable[tuple[str, datetime, str, float, int | None]]
    if stored_rows is None:
        values = ((r.device_id, r.ts, r.metric, r.value, r.seq) for r, _ in batch.readings)
    else:  # rows in the readings COPY order: ts, device_id, metric, value, seq, ...
        values = (
            (device_id, ts, metric, value, None if seq == NO_SEQ else seq)
            for ts, device_id, metric, value, seq, *_ in stored_rows
        )
    latest_of = {device_id: entry.latest for device_id, entry in status.items()}
    for device_id, ts, metric, value, seq in values:
        latest = latest_of[device_id]
        known = latest.get(metric)
        if known is None or ts >= known[0]:
            latest[metric] = (ts, value, seq)
    # A terminal is heard through its fixes, reports and case actions: without them a worker
    # walking a patrol would show as never heard from in the device list. Generators: a batch
    # of NMEA holds thousands of fixes, not worth a list of their own.
    heard = itertools.chain(
        ((e.device_id, e.ts, received_at) for e, received_at in batch.events),
        ((f.terminal_id, f.ts, received_at) for f, received_at in batch.fixes),
        ((r.report.terminal_id, r.report.ts, r.received_at) for r in batch.reports),
        ((a.terminal_id, a.ts, received_at) for a, received_at in batch.case_actions),
    )
    for device_id, ts, received_at in heard:
        entry = status.setdefault(device_id, _SenderStatus(received_at, ts))
        entry.last_received_at = max(entry.last_received_at, received_at)
        entry.last_ts = max(entry.last_ts, ts)
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
) -> list[StoredRejection]:
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
    with conn.cursor(row_factory=class_row(StoredRejection)) as cur:
        return cur.execute(
            "SELECT id, topic, reason, detail, received_at, payload FROM rejected_messages "
            f"{where} ORDER BY id DESC LIMIT %s",
            params,
        ).fetchall()
