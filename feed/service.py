"""The feed's reads of the event log (async): catch-up past its cursor, replay, settledness.

The feed reads ``event_log`` only: a hazard event carries the hazard row as it stood after the
change (``hazards.events``), so nothing here joins the hazard tables.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg.rows import class_row
from pydantic import ValidationError

from feed.models import FEED_KINDS, LiveEvent
from hazards.models import Hazard
from infra.eventlog import APPEND_LOCK, COLUMNS, SETTLED_SQL, Event

__all__ = ["catch_up", "head", "is_feed_kind", "replay", "settled", "to_live"]

AsyncConn = psycopg.AsyncConnection[Any]
log = logging.getLogger(__name__)

_KIND_LIKE: Final = [f"{prefix}%" for prefix in FEED_KINDS]
_CATCH_UP: Final = (
    f"SELECT {COLUMNS} FROM event_log WHERE id > %s OR id = ANY(%s) ORDER BY id LIMIT %s"
)
_REPLAY: Final = (
    f"SELECT {COLUMNS} FROM event_log WHERE id > %s AND id <= %s AND kind LIKE ANY(%s)"
    " AND (%s::timestamptz IS NULL OR at >= %s) ORDER BY id LIMIT %s"
)


def is_feed_kind(kind: str) -> bool:
    """Say whether events of ``kind`` are shown by the feed."""
    return kind.startswith(FEED_KINDS)


def to_live(ev: Event) -> LiveEvent:
    """Return the feed's view of a log event of a feed kind: its hazard typed, or its case."""
    hazard = None
    row = ev.payload.get("hazard")
    if row:
        # Validated once here rather than per subscriber; JSON's ISO times become datetimes.
        try:
            hazard = Hazard.model_validate(row)
        except ValidationError:
            # One unreadable row must not stop the feed for everyone: its event goes out to
            # no subscriber (they filter on the hazard) and says so here.
            log.exception("event %d carries a hazard the feed cannot read; not shown", ev.id)
    # A case comes as dispatch.views rendered it for the API (times already RFC 3339 …Z).
    case = dict(ev.payload["case"]) if ev.payload.get("case") else None
    return LiveEvent(
        id=ev.id,
        type=ev.kind,
        at=ev.at,
        # A hazard event carries its change, a case event the step it took.
        data=dict(ev.payload.get("change") or ev.payload.get("step") or {}),
        hazard=hazard,
        case=case,
    )


async def head(conn: AsyncConn) -> int:
    """Return the highest id in the log (0 when empty)."""
    cur = await conn.execute("SELECT coalesce(max(id), 0) FROM event_log")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def settled(conn: AsyncConn, snapshots: Collection[str]) -> set[str]:
    """Return which of ``snapshots`` no log appender in their in-progress list still runs."""
    if not snapshots:
        return set()
    cur = await conn.execute(SETTLED_SQL, (sorted(snapshots), APPEND_LOCK))
    return {str(r[0]) for r in await cur.fetchall()}


async def catch_up(
    conn: AsyncConn, *, after: int, holes: Sequence[int], limit: int
) -> tuple[list[Event], str]:
    """Return events past ``after`` (and in ``holes``) by id, with a snapshot they were read by."""
    async with conn.cursor(row_factory=class_row(Event)) as cur:
        await cur.execute(_CATCH_UP, (after, list(holes), limit))
        events = await cur.fetchall()
    # Any snapshot taken after the ids above were drawn serves (infra.eventorder).
    snap = await (await conn.execute("SELECT pg_current_snapshot()::text")).fetchone()
    assert snap is not None
    return events, str(snap[0])


async def replay(
    conn: AsyncConn, *, after: int, upto: int, since: datetime | None, limit: int
) -> list[LiveEvent]:
    """Return the feed's events with ``after < id <= upto`` (and ``at >= since``), by id."""
    async with conn.cursor(row_factory=class_row(Event)) as cur:
        await cur.execute(_REPLAY, (after, upto, _KIND_LIKE, since, since, limit))
        return [to_live(ev) for ev in await cur.fetchall()]
