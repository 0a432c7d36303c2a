"""The PostgreSQL live feed: one LISTEN connection, catch-up by cursor, a small replay pool.

One ``PgLiveFeed`` per API process holds one LISTEN connection (channel ``firegrid_hazards``,
notified by the rules engine in the transaction that writes each ``hazard_events`` row). A
notification is only a wake-up: the feed reads ``hazard_events`` past its cursor and hands each
event, once, to every subscriber whose filter accepts it. Catching up by cursor, not by payload,
is what makes a dropped LISTEN connection lose nothing: after reconnecting it reads on from the
cursor. Events are released in id order by ``api.live_sequencer.Sequencer``.

Case events (a later issue) fit the same shape: ``LiveEvent.type`` is free, and if ``case_events``
draws its ids from the same sequence as ``hazard_events`` the query below becomes a UNION ALL and
one ``Last-Event-ID`` resumes both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from api.live import PAGE, Fanout, LiveEvent
from api.live_sequencer import Sequencer
from hazards.service import FIELDS

log = logging.getLogger(__name__)

CHANNEL: Final = "firegrid_hazards"
_START_WINDOW: Final = 1000  # at start, re-read this many ids so in-flight ones are not skipped
_HAZARD_COLS: Final = ", ".join(f"h.{c.strip()}" for c in FIELDS.split(","))
_SELECT: Final = f"""
SELECT e.id AS event_id, e.type AS event_type, e.at AS event_at, e.data AS event_data,
       {_HAZARD_COLS}, pg_current_snapshot()::text AS snap
FROM hazard_events e JOIN hazards h ON h.id = e.hazard_id
"""
# pg_current_snapshot() is the statement's snapshot: exactly what the rows were read under.
_CATCH_UP: Final = _SELECT + "WHERE e.id > %s OR e.id = ANY(%s) ORDER BY e.id LIMIT %s"
_REPLAY: Final = (
    _SELECT + "WHERE e.id > %s AND e.id <= %s AND (%s::timestamptz IS NULL OR e.at >= %s)"
    " ORDER BY e.id LIMIT %s"
)
_SETTLED: Final = """
SELECT s FROM unnest(%s::text[]) AS s
WHERE NOT EXISTS (SELECT 1 FROM pg_snapshot_xip(s::pg_snapshot) AS x
                  WHERE pg_xact_status(x) = 'in progress')
"""


def _event(row: dict[str, Any]) -> LiveEvent:
    return LiveEvent(
        id=int(row.pop("event_id")),
        type=str(row.pop("event_type")),
        at=row.pop("event_at"),
        data=dict(row.pop("event_data")),
        row=row,
    )


def _split(rows: list[dict[str, Any]]) -> tuple[list[LiveEvent], str | None]:
    snap = rows[0]["snap"] if rows else None
    for r in rows:
        del r["snap"]
    return [_event(r) for r in rows], snap


class PgLiveFeed(Fanout):
    """The PostgreSQL feed: one LISTEN connection, reconnecting, and a small replay pool."""

    def __init__(
        self, db_url: str, *, poll_s: float = 10.0, max_wait: float = 5.0, replay_pool: int = 4
    ) -> None:
        super().__init__()
        self._url = db_url
        self._poll_s = poll_s  # a safety net only: notifications normally wake the feed
        self._max_wait = max_wait
        self._seq: Sequencer | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pool = AsyncConnectionPool(
            db_url,
            min_size=0,
            max_size=replay_pool,
            open=False,
            configure=self._configure,
            name="live-replay",
        )

    @staticmethod
    async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute("SET TIME ZONE 'UTC'")
        await conn.commit()

    @property
    def cursor(self) -> int:
        """Return the highest id released in order."""
        return self._seq.cursor if self._seq else 0

    async def start(self) -> None:
        """Open the replay pool and start the LISTEN loop in the background."""
        await self._pool.open(wait=False)
        self._task = asyncio.create_task(self._run(), name="live-feed")

    async def stop(self) -> None:
        """Cancel the LISTEN loop and close the pool."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._pool.close()

    async def wait_ready(self) -> None:
        """Wait until the first catch-up set the cursor."""
        await self._ready.wait()

    async def replay(
        self, *, after: int, upto: int, since: datetime | None, limit: int
    ) -> list[LiveEvent]:
        """Read stored events in the range from the replay pool."""
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_REPLAY, (after, upto, since, since, limit))
            return _split(await cur.fetchall())[0]

    async def _run(self) -> None:
        delay = 0.5
        while True:
            began = time.monotonic()
            try:
                await self._follow()
            except psycopg.Error as exc:
                log.warning("live feed lost its database connection (%s); retrying", exc)
            except Exception:
                # A bug must not end the feed for good: log it, reconnect, read on from the cursor.
                log.exception("live feed failed; restarting it")
            # Back off while the database stays away; a connection that lived a while resets it.
            delay = 0.5 if time.monotonic() - began > 30 else min(delay * 2, 10.0)
            await asyncio.sleep(delay)

    async def _follow(self) -> None:
        async with await psycopg.AsyncConnection.connect(
            self._url,
            autocommit=True,
            application_name="firegrid-live-feed",
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        ) as conn:
            await conn.execute("SET TIME ZONE 'UTC'")
            # LISTEN before reading: whatever commits after the read below wakes us.
            await conn.execute(f"LISTEN {CHANNEL}")
            if self._seq is None:
                row = await (await conn.execute("SELECT max(id) FROM hazard_events")).fetchone()
                top = int(row[0]) if row and row[0] is not None else 0
                # Nobody is subscribed yet: re-reading recent ids costs little and lets the
                # gap logic catch any that were still in flight at start.
                self._seq = Sequencer(max(0, top - _START_WINDOW), max_wait=self._max_wait)
            while True:
                more = await self._catch_up(conn, self._seq)
                if not self._seq.pending:  # pending gaps end within max_wait
                    self._ready.set()
                if more:
                    continue
                wait = self._seq.next_check() or self._poll_s
                async for _ in conn.notifies(timeout=wait, stop_after=1):
                    pass
                # A batch notifies once per event: drain what already arrived, read once.
                async for _ in conn.notifies(timeout=0):
                    pass

    async def _catch_up(self, conn: psycopg.AsyncConnection[Any], seq: Sequencer) -> bool:
        """Read past the cursor (and the remembered holes), release; True if a page was full."""
        async with conn.cursor(row_factory=dict_row) as cur:
            # Settledness first: a gap whose writers all ended before this read is seen by it
            # if it committed, so still missing from it means rolled back.
            settled: set[str] = set()
            snaps = sorted({s for _, s in seq.pending.values()})
            if snaps:
                await cur.execute(_SETTLED, (snaps,))
                settled = {r["s"] for r in await cur.fetchall()}
            await cur.execute(_CATCH_UP, (seq.cursor, list(seq.holes), PAGE))
            events, snap = _split(await cur.fetchall())
        for ev in seq.release(events, snapshot=snap or "", now=time.monotonic(), settled=settled):
            self._fan_out(ev)
        return len(events) == PAGE and not seq.pending
