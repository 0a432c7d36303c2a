"""SQL of the messages: inbox messages sent, and the webhook's queue of deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from dispatch.messages import InboxMessage, webhook_body
from infra.database import Conn, class_row
from infra.eventlog import CHANNEL, Event

__all__ = [
    "Delivery",
    "claim_due",
    "enqueue_webhooks",
    "get_delivery",
    "list_failures",
    "oldest_due",
    "record_attempt",
    "record_inbox",
    "replay_failure",
]

_DELIVERY: Final = (
    "event_id, kind, subject, body, created_at, attempts, last_status, last_error,"
    " last_attempt_at, next_attempt_at, delivered_at, failed_at, replays"
)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event's webhook delivery as recorded."""

    event_id: int
    kind: str
    subject: str
    body: str
    created_at: datetime
    attempts: int
    last_status: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None
    replays: int


def record_inbox(
    conn: Conn, *, messages: Sequence[InboxMessage], sent_at: datetime, acked_at: datetime
) -> None:
    """Record messages the broker acknowledged (a row already there is kept as it was)."""
    if not messages:
        return
    conn.execute(
        "INSERT INTO inbox_messages (message_id, event_id, terminal_id, kind, case_id, sent_at,"
        " acked_at) SELECT u.m, u.e, u.t, u.k, u.c, %s, %s"
        " FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::text[], %s::text[])"
        " AS u(m, e, t, k, c) ON CONFLICT (message_id) DO NOTHING",
        (
            sent_at,
            acked_at,
            [m.message_id for m in messages],
            [m.event_id for m in messages],
            [m.terminal_id for m in messages],
            [m.kind for m in messages],
            [m.case_id for m in messages],
        ),
    )


def enqueue_webhooks(conn: Conn, *, events: Sequence[Event], now: datetime) -> int:
    """Queue one delivery per event, due ``now``; an event queued before stays as it is."""
    if not events:
        return 0
    cur = conn.execute(
        "INSERT INTO webhook_deliveries (event_id, kind, subject, body, created_at,"
        " next_attempt_at) SELECT u.e, u.k, u.s, u.b, %s, %s"
        " FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[]) AS u(e, k, s, b)"
        " ON CONFLICT (event_id) DO NOTHING",
        (
            now,
            now,
            [e.id for e in events],
            [e.kind for e in events],
            [e.subject for e in events],
            [webhook_body(e).decode() for e in events],
        ),
    )
    return cur.rowcount


def claim_due(conn: Conn, *, now: datetime) -> Delivery | None:
    """Lock the delivery due longest (in the caller's transaction); None when none is due.

    SKIP LOCKED: a second webhook process takes the next one instead of waiting.
    """
    with conn.cursor(row_factory=class_row(Delivery)) as cur:
        return cur.execute(
            f"SELECT {_DELIVERY} FROM webhook_deliveries"
            " WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= %s"
            " ORDER BY next_attempt_at, event_id LIMIT 1 FOR UPDATE SKIP LOCKED",
            (now,),
        ).fetchone()


def record_attempt(
    conn: Conn,
    *,
    event_id: int,
    at: datetime,
    status: int | None,
    error: str | None,
    delivered: bool,
    retry_at: datetime | None,
) -> None:
    """Record one try: delivered, to be retried at ``retry_at``, or failed for good (neither)."""
    conn.execute(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = %s,"
        " last_error = %s, last_attempt_at = %s,"
        " next_attempt_at = %s,"
        " delivered_at = CASE WHEN %s THEN %s::timestamptz END,"
        " failed_at = CASE WHEN NOT %s AND %s::timestamptz IS NULL THEN %s::timestamptz END"
        " WHERE event_id = %s",
        (status, error, at, retry_at, delivered, at, delivered, retry_at, at, event_id),
    )


def get_delivery(conn: Conn, *, event_id: int) -> Delivery | None:
    """Return one event's delivery, or None."""
    with conn.cursor(row_factory=class_row(Delivery)) as cur:
        return cur.execute(
            f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE event_id = %s", (event_id,)
        ).fetchone()


def list_failures(conn: Conn, *, after_id: int | None, limit: int) -> list[Delivery]:
    """Return deliveries that failed for good, by event id, after ``after_id``."""
    with conn.cursor(row_factory=class_row(Delivery)) as cur:
        return cur.execute(
            f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE failed_at IS NOT NULL"
            " AND (%s::bigint IS NULL OR event_id > %s) ORDER BY event_id LIMIT %s",
            (after_id, after_id, limit),
        ).fetchall()


def replay_failure(conn: Conn, *, event_id: int, now: datetime) -> Delivery | None:
    """Queue a failed delivery again, due ``now``, with a fresh count of attempts.

    Returns the delivery as queued, or None when ``event_id`` has no failed delivery. Wakes the
    webhook role (a NOTIFY on the log's channel, sent at commit).
    """
    with conn.cursor(row_factory=class_row(Delivery)) as cur:
        row = cur.execute(
            "UPDATE webhook_deliveries SET failed_at = NULL, attempts = 0, next_attempt_at = %s,"
            " replays = replays + 1 WHERE event_id = %s AND failed_at IS NOT NULL"
            f" RETURNING {_DELIVERY}",
            (now, event_id),
        ).fetchone()
    if row is not None:
        conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
    return row


def oldest_due(conn: Conn, *, now: datetime) -> datetime | None:
    """Return when the longest-waiting due delivery became due (None: nothing is due)."""
    row = conn.execute(
        "SELECT min(next_attempt_at) FROM webhook_deliveries"
        " WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= %s",
        (now,),
    ).fetchone()
    return None if row is None else row[0]
