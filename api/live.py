"""The live feed behind ``GET /api/v1/stream``: committed hazard events, in id order, fanned out.

One ``PgLiveFeed`` per API process holds one LISTEN connection (channel ``firegrid_hazards``,
notified by the rules engine in the transaction that writes each ``hazard_events`` row). A
notification is only a wake-up: the feed reads ``hazard_events`` past its cursor and hands each
event, once, to every subscriber whose filter accepts it. Catching up by cursor, not by payload,
is what makes a dropped LISTEN connection lose nothing: after reconnecting it reads on from the
cursor.

Ids are ``hazard_events.id`` (bigserial), and bigserials can commit out of order: transaction A
takes id 10, B takes 11 and commits first. Sending 11 and then 10 would break resuming, since a
client holding ``Last-Event-ID: 11`` that disconnects before 10 arrives would never get 10. So the
feed releases events strictly in id order (``Sequencer``): past a gap it holds back until the gap
is settled, i.e. every transaction that was in progress when the gap was seen (the xip list of the
snapshot of the query that saw it) has ended; then a still-missing id was rolled back and is
skipped. That settles within milliseconds of the other transaction's commit or rollback, so a fire
alarm is not delayed by a timer. As a backstop a gap older than ``max_wait`` is skipped anyway and
remembered as a hole for ``hole_ttl``; should its event still commit, it is delivered late (out of
order) rather than lost.

Case events (a later issue) fit the same shape: ``LiveEvent.type`` is free, and if ``case_events``
draws its ids from the same sequence as ``hazard_events`` the query below becomes a UNION ALL and
one ``Last-Event-ID`` resumes both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from rules.hazard_service import FIELDS

log = logging.getLogger(__name__)

CHANNEL: Final = "firegrid_hazards"
QUEUE_SIZE: Final = 1000  # events buffered per subscriber before it counts as too slow
_PAGE: Final = 1000
_MAX_GAP: Final = 10_000  # a wider gap is not two writers racing (a sequence jump): skip it
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


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One event of the feed: its id and type, when it was written, and the hazard row now."""

    id: int
    type: str
    at: datetime
    data: dict[str, Any]
    row: dict[str, Any]  # the hazards row (``rules.hazard_service.FIELDS``)


class SubscriberTooSlowError(Exception):
    """The subscriber's queue overflowed; it was dropped and must resume by Last-Event-ID."""


@dataclass(eq=False)
class Subscription:
    """A subscriber's bounded queue of accepted events.

    The queue is bounded: a subscriber that cannot keep up (a stalled client, a slow network) is
    marked overflowed and dropped by the feed instead of blocking the fan-out or growing memory;
    its client reconnects with ``Last-Event-ID`` and replays from the table, so nothing is lost.
    """

    accept: Callable[[LiveEvent], bool]
    maxsize: int = QUEUE_SIZE
    overflowed: bool = False
    queue: asyncio.Queue[LiveEvent] = field(init=False)

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.maxsize)

    def offer(self, event: LiveEvent) -> bool:
        """Queue ``event`` if accepted; return False once the subscriber has overflowed."""
        if self.overflowed:
            return False
        if not self.accept(event):
            return True
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            return False
        return True


class LiveFeed(Protocol):
    """Committed events, in id order, for any number of subscribers."""

    @property
    def cursor(self) -> int:
        """Return the highest id released so far (every lower id is released or a hole)."""
        ...

    async def start(self) -> None:
        """Start following the database."""
        ...

    async def stop(self) -> None:
        """Stop following; subscribers see no more events."""
        ...

    async def wait_ready(self) -> None:
        """Wait until the cursor is known (callers bound the wait)."""
        ...

    def subscribe(
        self, *, accept: Callable[[LiveEvent], bool], maxsize: int = QUEUE_SIZE
    ) -> Subscription:
        """Register a subscriber; it receives every event released from now on."""
        ...

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a subscriber."""
        ...

    async def replay(
        self, *, after: int, upto: int, since: datetime | None, limit: int
    ) -> list[LiveEvent]:
        """Return stored events with ``after < id <= upto`` (and ``at >= since``), by id."""
        ...


class _Fanout:
    """The subscriber set both feeds share."""

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()

    def subscribe(
        self, *, accept: Callable[[LiveEvent], bool], maxsize: int = QUEUE_SIZE
    ) -> Subscription:
        """Register a subscriber."""
        sub = Subscription(accept, maxsize)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a subscriber."""
        self._subs.discard(sub)

    def _fan_out(self, event: LiveEvent) -> None:
        # Never awaits: one slow subscriber overflows and is dropped, the others go on.
        for sub in list(self._subs):
            if not sub.offer(event):
                self._subs.discard(sub)


class InMemoryLiveFeed(_Fanout):
    """A feed whose events are published by the test itself, in id order."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[LiveEvent] = []

    @property
    def cursor(self) -> int:
        """Return the id of the last published event."""
        return self.log[-1].id if self.log else 0

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def wait_ready(self) -> None:
        """Be ready at once."""

    def publish(self, event: LiveEvent) -> None:
        """Store and fan out an event (ids must increase)."""
        if event.id <= self.cursor:
            raise ValueError(f"event id {event.id} is not above {self.cursor}")
        self.log.append(event)
        self._fan_out(event)

    async def replay(
        self, *, after: int, upto: int, since: datetime | None, limit: int
    ) -> list[LiveEvent]:
        """Return logged events in the range."""
        await asyncio.sleep(0)  # let publishers run, as a real query would
        found = [e for e in self.log if after < e.id <= upto and (since is None or e.at >= since)]
        return found[:limit]


class Sequencer:
    """Release events in id order, holding back past a gap until the gap is settled."""

    def __init__(self, cursor: int, *, max_wait: float = 5.0, hole_ttl: float = 600.0) -> None:
        self.cursor = cursor
        self.max_wait = max_wait
        self.hole_ttl = hole_ttl
        self.pending: dict[int, tuple[float, str]] = {}  # gap id -> (first seen, snapshot)
        self.holes: dict[int, float] = {}  # skipped id -> when skipped

    def release(
        self, events: Sequence[LiveEvent], *, snapshot: str, now: float, settled: Collection[str]
    ) -> list[LiveEvent]:
        """Return what ``events`` (ordered by id) let go; ``settled``: snapshots whose
        in-progress transactions have all ended."""
        out: list[LiveEvent] = []
        for ev in events:
            if ev.id <= self.cursor:
                if self.holes.pop(ev.id, None) is not None:
                    out.append(ev)  # committed after its gap was given up: late, not lost
                continue
            gap = range(self.cursor + 1, ev.id)
            if 0 < len(gap) <= _MAX_GAP:
                waiting = [g for g in gap if not self._gap_settled(g, now, settled)]
                if waiting:
                    for g in waiting:
                        self.pending.setdefault(g, (now, snapshot))
                    break
                for g in gap:
                    self.pending.pop(g, None)
                    self.holes[g] = now
            out.append(ev)
            self.cursor = ev.id
        self.pending = {g: v for g, v in self.pending.items() if g > self.cursor}
        self.holes = {g: t for g, t in self.holes.items() if now - t < self.hole_ttl}
        return out

    def _gap_settled(self, gap: int, now: float, settled: Collection[str]) -> bool:
        seen = self.pending.get(gap)
        return seen is not None and (seen[1] in settled or now - seen[0] >= self.max_wait)

    def next_check(self) -> float | None:
        """Return how soon to look again while gaps are pending (None: none pending)."""
        return 0.02 if self.pending else None


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


class PgLiveFeed(_Fanout):
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
            await cur.execute(_CATCH_UP, (seq.cursor, list(seq.holes), _PAGE))
            events, snap = _split(await cur.fetchall())
        for ev in seq.release(events, snapshot=snap or "", now=time.monotonic(), settled=settled):
            self._fan_out(ev)
        return len(events) == _PAGE and not seq.pending


async def follow(
    feed: LiveFeed,
    *,
    after: int | None,
    since: datetime | None,
    accept: Callable[[LiveEvent], bool],
    heartbeat_s: float,
    maxsize: int = QUEUE_SIZE,
) -> AsyncGenerator[LiveEvent | None, None]:
    """Yield a subscriber's events: stored ones after ``after`` (or since ``since``), then live;
    ``None`` when ``heartbeat_s`` passed without one. Raises ``SubscriberTooSlowError``."""
    # Subscribe first and read the cursor in the same step (no await between): every id up to
    # the cursor is in the table, every later one will arrive on the queue.
    sub = feed.subscribe(accept=accept, maxsize=maxsize)
    upto = feed.cursor
    replayed: set[int] = set()
    try:
        if after is not None or since is not None:
            low = after if after is not None else 0
            while True:
                page = await feed.replay(after=low, upto=upto, since=since, limit=_PAGE)
                for ev in page:
                    replayed.add(ev.id)
                    if accept(ev):
                        yield ev
                if len(page) < _PAGE:
                    break
                low = page[-1].id
        while True:
            if sub.overflowed:
                raise SubscriberTooSlowError(f"more than {sub.maxsize} events queued")
            try:
                ev = await asyncio.wait_for(sub.queue.get(), heartbeat_s)
            except TimeoutError:
                yield None
                continue
            # A late event (below the cursor) may also have been replayed: send each id once;
            # a client ahead of this process's cursor already has what lies below its id.
            if ev.id in replayed or (after is not None and upto < ev.id <= after):
                continue
            yield ev
    finally:
        feed.unsubscribe(sub)
