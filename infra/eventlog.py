"""The event log: one durable, ordered record of every change other roles react to.

A writer appends in the SAME transaction as its change (``append``), so an event exists exactly
when its change committed (a transactional outbox). Each durable consumer keeps its position in
``event_cursors`` and moves it in the transaction of its effects::

    consumer = Consumer("rules", kinds={"batch.committed"})
    with conn.transaction():
        claim = consumer.claim(conn, limit=1)   # locks the cursor row: one process at a time
        ...effects of claim.events...
        consumer.advance(conn, claim.upto)

A crash before the commit leaves cursor and effects as they were; after it, both moved. Ids
commit out of order, so a consumer never passes a gap that may still fill (``infra.eventorder``
says what "settled" means and why the appender takes a lock before drawing its id).

A NOTIFY on ``CHANNEL`` at commit is only a wake-up (``infra.listener`` holds the one LISTEN
connection of a process); consumers always read by cursor, so a lost notification loses nothing.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from psycopg.pq import TransactionStatus
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from infra.database import Conn
from infra.eventorder import Sequencer

__all__ = [
    "APPEND_LOCK",
    "CHANNEL",
    "COLUMNS",
    "SETTLED_SQL",
    "Claim",
    "Consumer",
    "Event",
    "Lag",
    "append",
    "append_rows",
    "lag",
    "oldest_pending",
    "prune",
    "read_after",
    "settled_snapshots",
]

CHANNEL: Final = "firegrid_events"  # the one NOTIFY channel: "the log grew, read on"
# Shared by every appender for its transaction; a reader asks who holds it (``settled``). Below
# 2**31, so pg_locks shows it as classid 0, objid APPEND_LOCK.
APPEND_LOCK: Final = 0x45564C47  # "EVLG"
PAGE: Final = 500  # events read per query
_PASSES: Final = 4  # settle-and-reread rounds per claim before reporting it blocked

# xid first, lock second, id last (see infra.eventorder). The INSERT's id default is computed
# per row fetched from ``g``, so after ``g``'s functions ran; one round trip on the ingest path.
_ENTER: Final = "SELECT pg_current_xact_id(), pg_advisory_xact_lock_shared(%s)"
_APPEND: Final = """
WITH g AS MATERIALIZED (SELECT pg_current_xact_id() AS x, pg_advisory_xact_lock_shared(%s) AS l),
     n AS MATERIALIZED (SELECT pg_notify(%s, '') AS n)
INSERT INTO event_log (kind, subject, payload, grid_code, community_code, street_code)
SELECT %s, %s, %s, %s, %s, %s FROM g, n RETURNING id
"""
_NOTIFY: Final = "SELECT pg_notify(%s, '')"
COLUMNS: Final = "id, kind, subject, payload, at, grid_code, community_code, street_code"
SETTLED_SQL: Final = """
SELECT s FROM unnest(%s::text[]) AS s
WHERE NOT EXISTS (
    SELECT 1 FROM pg_snapshot_xip(s::pg_snapshot) AS x
    JOIN pg_locks t ON t.locktype = 'transactionid' AND t.granted AND t.mode = 'ExclusiveLock'
                   AND t.transactionid = x::xid
    JOIN pg_locks a ON a.pid = t.pid AND a.locktype = 'advisory' AND a.granted
                   AND a.database = (SELECT oid FROM pg_database
                                     WHERE datname = current_database())
                   AND a.classid = 0 AND a.objid = %s::oid AND a.objsubid = 1
    WHERE t.pid <> pg_backend_pid()
)
"""


@dataclass(frozen=True, slots=True)
class Event:
    """One row of the log."""

    id: int
    kind: str
    subject: str
    payload: dict[str, Any]
    at: datetime
    grid_code: str | None = None
    community_code: str | None = None
    street_code: str | None = None


def append(
    conn: Conn,
    *,
    kind: str,
    subject: str,
    payload: Mapping[str, Any] | None = None,
    place: tuple[str | None, str | None, str | None] = (None, None, None),
) -> int:
    """Append one event in the caller's transaction; return its id.

    ``place`` is (grid, community, street) codes, for hazard events filtered by area.
    """
    row = conn.execute(
        _APPEND, (APPEND_LOCK, CHANNEL, kind, subject, Jsonb(dict(payload or {})), *place)
    ).fetchone()
    assert row is not None  # INSERT ... RETURNING always answers one row
    return int(row[0])


def append_rows(conn: Conn, *, sql: str, params: Sequence[Any] | Mapping[str, Any]) -> int:
    """Append the events a caller's INSERT ... SELECT writes (bulk, in its transaction).

    For writers whose payload is easiest built in SQL (the hazard sink copies each hazard row
    as it now stands): ``sql`` must insert into ``event_log`` without naming ``id``, ``at`` or
    ``txid``. Returns the number of rows inserted.
    """
    _enter(conn)
    cur = conn.execute(sql, params)
    conn.execute(_NOTIFY, (CHANNEL,))
    return cur.rowcount


def _enter(conn: Conn) -> None:
    # Idempotent within a transaction: the xid is the same and the shared lock stacks.
    conn.execute(_ENTER, (APPEND_LOCK,))


def settled_snapshots(conn: Conn, snapshots: Collection[str]) -> set[str]:
    """Return which of ``snapshots`` no log appender in their in-progress list still runs."""
    if not snapshots:
        return set()
    rows = conn.execute(SETTLED_SQL, (sorted(snapshots), APPEND_LOCK)).fetchall()
    return {str(r[0]) for r in rows}


def read_after(
    conn: Conn,
    *,
    after: int,
    upto: int | None = None,
    limit: int = PAGE,
    kinds: Collection[str] | None = None,
) -> tuple[list[Event], str]:
    """Return committed events with ``after < id <= upto`` by id, and the read's snapshot.

    Events not of ``kinds`` (None: all) come without payload: a reader only passes them, and a
    backlog of hazard rows is not worth carrying to a reader of batches.
    """
    only = sorted(kinds) if kinds is not None else None
    with conn.cursor(row_factory=class_row(Event)) as cur:
        events = cur.execute(
            "SELECT id, kind, subject, CASE WHEN %s::text[] IS NULL OR kind = ANY(%s::text[])"
            " THEN payload ELSE '{}'::jsonb END AS payload, at, grid_code, community_code,"
            " street_code FROM event_log WHERE id > %s AND (%s::bigint IS NULL OR id <= %s)"
            " ORDER BY id LIMIT %s",
            (only, only, after, upto, upto, limit),
        ).fetchall()
    # Any snapshot taken after the ids above were drawn will do as the one the gaps were seen
    # under (infra.eventorder): a gap's writer still running then is in its in-progress list.
    row = conn.execute("SELECT pg_current_snapshot()::text").fetchone()
    assert row is not None
    return events, str(row[0])


@dataclass(frozen=True, slots=True)
class Claim:
    """What a consumer may handle now: ``events`` (of its kinds), then advance to ``upto``."""

    position: int  # the cursor when claimed
    upto: int  # the cursor after handling ``events`` (passes events of other kinds too)
    events: list[Event]
    blocked: bool  # stopped at a gap that may still fill: look again soon

    @property
    def moved(self) -> bool:
        """Say whether advancing to ``upto`` moves the cursor."""
        return self.upto > self.position


class Consumer:
    """A durable reader of the log: a named cursor, advanced with the reader's effects."""

    def __init__(self, name: str, *, kinds: Collection[str] | None = None, start: int = 0) -> None:
        self.name = name
        self.kinds = frozenset(kinds) if kinds is not None else None
        self.start = start  # the position of a cursor created on first use

    def position(self, conn: Conn) -> int:
        """Return the cursor without locking it (``start`` when it does not exist yet)."""
        row = conn.execute(
            "SELECT position FROM event_cursors WHERE consumer = %s", (self.name,)
        ).fetchone()
        return self.start if row is None else int(row[0])

    def claim(self, conn: Conn, *, limit: int = PAGE) -> Claim:
        """Lock the cursor for the caller's transaction and return the next events in id order.

        Call inside ``conn.transaction()`` (READ COMMITTED, the default), before appending
        anything in it. A second process of the same consumer waits here until the first one's
        transaction ends, then reads on from the cursor it left.
        """
        if conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE:
            raise RuntimeError("Consumer.claim must run inside the caller's transaction")
        position = self._lock(conn)
        if position is None:  # first use: create the cursor (a racing twin may create it too)
            conn.execute(
                "INSERT INTO event_cursors (consumer, position) VALUES (%s, %s)"
                " ON CONFLICT (consumer) DO NOTHING",
                (self.name, self.start),
            )
            position = self._lock(conn)
            assert position is not None
        seq = Sequencer(position)
        found: list[Event] = []
        settled: set[str] = set()
        for _ in range(_PASSES):
            events, snap = read_after(conn, after=seq.cursor, kinds=self.kinds)
            for ev in seq.release(events, snapshot=snap, now=time.monotonic(), settled=settled):
                if self.kinds is None or ev.kind in self.kinds:
                    found.append(ev)
                    if len(found) == limit:
                        return Claim(position, ev.id, found, blocked=False)
            if not seq.pending:
                if len(events) < PAGE:
                    break
                continue
            # A gap: settled first, then re-read, so a gap that committed meanwhile is seen.
            settled = settled_snapshots(conn, seq.snapshots())
            if not settled:
                break
        return Claim(position, seq.cursor, found, blocked=bool(seq.pending))

    def _lock(self, conn: Conn) -> int | None:
        row = conn.execute(
            "SELECT position FROM event_cursors WHERE consumer = %s FOR UPDATE", (self.name,)
        ).fetchone()
        return None if row is None else int(row[0])

    def advance(self, conn: Conn, upto: int) -> None:
        """Move the cursor to ``upto`` in the caller's transaction (never backwards)."""
        conn.execute(
            "UPDATE event_cursors SET position = %s, updated_at = now()"
            " WHERE consumer = %s AND position < %s",
            (upto, self.name, upto),
        )


@dataclass(frozen=True, slots=True)
class Lag:
    """How far a consumer is behind the head of the log."""

    consumer: str
    position: int
    events: int  # events (of its kinds) past its cursor
    oldest_age_s: float | None  # age of the oldest of them; None when there are none


def _behind(
    conn: Conn, consumer: str, kinds: Collection[str] | None
) -> tuple[int, int, datetime | None]:
    row = conn.execute(
        "SELECT coalesce((SELECT position FROM event_cursors WHERE consumer = %s), 0)",
        (consumer,),
    ).fetchone()
    position = int(row[0]) if row else 0
    only = sorted(kinds) if kinds is not None else None
    row = conn.execute(
        "SELECT count(*), min(at) FROM event_log WHERE id > %s"
        " AND (%s::text[] IS NULL OR kind = ANY(%s::text[]))",
        (position, only, only),
    ).fetchone()
    assert row is not None
    return position, int(row[0]), row[1]


def oldest_pending(
    conn: Conn, *, consumer: str, kinds: Collection[str] | None = None
) -> datetime | None:
    """Return when the oldest event (of ``kinds``) past ``consumer``'s cursor was appended."""
    return _behind(conn, consumer, kinds)[2]


def lag(conn: Conn, *, consumer: str, now: datetime, kinds: Collection[str] | None = None) -> Lag:
    """Return ``consumer``'s lag at ``now`` (a missing cursor counts from the start)."""
    position, events, oldest = _behind(conn, consumer, kinds)
    age = None if oldest is None else max(0.0, (now - oldest).total_seconds())
    return Lag(consumer, position, events, age)


def prune(conn: Conn, *, keep_after: datetime, limit: int = 10_000) -> int:
    """Delete up to ``limit`` events that every registered consumer has passed and that are
    older than ``keep_after`` (the floor a resuming live-feed client may still ask for)."""
    cur = conn.execute(
        "DELETE FROM event_log WHERE id IN (SELECT id FROM event_log"
        " WHERE id <= (SELECT coalesce(min(position), 9223372036854775807) FROM event_cursors)"
        " AND at < %s ORDER BY id LIMIT %s)",
        (keep_after, limit),
    )
    return cur.rowcount
