"""The feed's flows: subscribers and their fan-out, following the log, and ``follow``.

``PgLiveFeed`` is the one reader of the event log per API process: woken by the process's
listener (``infra.listener``), it reads past its cursor and releases events strictly in id order
(``infra.eventorder.Sequencer``, the same ordering durable consumers use), handing each feed
event once to every subscriber whose filter accepts it. Catching up by cursor, not by
notification, is what makes a dropped connection lose nothing. Its cursor lives in memory: a
client's ``Last-Event-ID`` is the durable position, and ``follow`` replays the log after it.
``InMemoryLiveFeed`` is the one tests publish to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Callable
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg_pool import AsyncConnectionPool

from feed import service
from feed.models import PAGE, QUEUE_SIZE, LiveEvent, LiveFeed, Subscription
from infra.eventorder import Sequencer
from infra.listener import EventListener, shared

__all__ = ["Fanout", "InMemoryLiveFeed", "PgLiveFeed", "Subscription", "follow"]

log = logging.getLogger(__name__)

APPLICATION_NAME: Final = "firegrid-live-feed"
_START_WINDOW: Final = 1000  # at start, re-read this many ids so in-flight ones are not skipped
# How long shutdown waits for the reader to end once cancelled. psycopg can lose a task's
# cancellation inside a connect or a query (psycopg#1345, #1371): the reader then ends by its
# own stop flag at its next step, and shutdown does not wait on it for ever (a test's API app
# once hung 300 s in its shutdown on a loaded machine).
_STOP_WAIT_S: Final = 5.0
_SEEN_CAP: Final = 10 * PAGE  # paged ids a subscriber remembers to send late events once


class Fanout:
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
        # Never awaits: one slow subscriber overflows and is dropped (its follow pages the log
        # instead), the others go on.
        for sub in list(self._subs):
            if not sub.offer(event):
                self._subs.discard(sub)


class InMemoryLiveFeed(Fanout):
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


class PgLiveFeed(Fanout):
    """The PostgreSQL feed: one reading connection, reconnecting, and a small replay pool."""

    def __init__(
        self,
        db_url: str,
        *,
        poll_s: float = 10.0,
        max_wait: float = 30.0,
        replay_pool: int = 4,
        listener: EventListener | None = None,
    ) -> None:
        super().__init__()
        self._url = db_url
        self._poll_s = poll_s  # a safety net only: notifications normally wake the feed
        # A backstop only: a gap settles when its writer ends; one stuck past this is skipped
        # and delivered late should it commit, so one stuck writer cannot freeze every console.
        self._max_wait = max_wait
        self._listener = listener or shared(db_url)
        self._seq: Sequencer | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._woken: asyncio.Event | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._pool = AsyncConnectionPool(
            db_url,
            min_size=0,
            max_size=replay_pool,
            open=False,
            configure=self._configure,
            kwargs={"application_name": APPLICATION_NAME},
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
        """Open the replay pool, subscribe to the listener, start following in the background."""
        await self._pool.open(wait=False)
        self._woken, self._unsubscribe = self._listener.async_event(asyncio.get_running_loop())
        self._task = asyncio.create_task(self._run(), name="live-feed")

    async def stop(self) -> None:
        """Cancel the reader, leave the listener and close the pool."""
        if self._unsubscribe is not None:
            self._listener.unsubscribe(self._unsubscribe)
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            done, _ = await asyncio.wait({self._task}, timeout=_STOP_WAIT_S)
            if not done:
                log.warning(
                    "live feed reader still running %.0f s after stop; left behind", _STOP_WAIT_S
                )
        await self._pool.close()

    async def wait_ready(self) -> None:
        """Wait until the first catch-up set the cursor."""
        await self._ready.wait()

    async def replay(
        self, *, after: int, upto: int, since: datetime | None, limit: int
    ) -> list[LiveEvent]:
        """Read stored feed events in the range from the replay pool."""
        async with self._pool.connection() as conn:
            return await service.replay(conn, after=after, upto=upto, since=since, limit=limit)

    async def _run(self) -> None:
        delay = 0.5
        while not self._stopping:
            began = time.monotonic()
            try:
                await self._follow()
            except psycopg.Error as exc:
                if self._stopping:  # a cancellation psycopg turned into its own error
                    return
                log.warning("live feed lost its database connection (%s); retrying", exc)
            except Exception:
                # A bug must not end the feed for good: log it, reconnect, read on from the cursor.
                log.exception("live feed failed; restarting it")
            # Back off while the database stays away; a connection that lived a while resets it.
            delay = 0.5 if time.monotonic() - began > 30 else min(delay * 2, 10.0)
            await asyncio.sleep(delay)

    async def _follow(self) -> None:
        assert self._woken is not None, "start() first"
        async with await psycopg.AsyncConnection.connect(
            self._url,
            autocommit=True,
            application_name=APPLICATION_NAME,
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        ) as conn:
            await conn.execute("SET TIME ZONE 'UTC'")
            if self._seq is None:
                top = await service.head(conn)
                # Nobody is subscribed yet: re-reading recent ids costs little and lets the
                # gap logic catch any that were still in flight at start.
                self._seq = Sequencer(max(0, top - _START_WINDOW), max_wait=self._max_wait)
            while not self._stopping:
                # Cleared before reading: a notification from here on wakes the next round.
                self._woken.clear()
                more = await self._catch_up(conn, self._seq)
                if not self._seq.pending:
                    self._ready.set()
                if more:
                    continue
                wait = self._seq.next_check() or self._poll_s
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), wait)

    async def _catch_up(self, conn: psycopg.AsyncConnection[Any], seq: Sequencer) -> bool:
        """Read past the cursor (and the remembered holes), release; True if a page was full."""
        # Settledness first: a gap whose writers all ended before the read below is seen by it
        # if it committed, so still missing from it means rolled back.
        settled = await service.settled(conn, seq.snapshots())
        events, snap = await service.catch_up(
            conn, after=seq.cursor, holes=list(seq.holes), limit=PAGE
        )
        for ev in seq.release(events, snapshot=snap, now=time.monotonic(), settled=settled):
            if service.is_feed_kind(ev.kind):
                self._fan_out(service.to_live(ev))
        return len(events) == PAGE and not seq.pending


async def _page(
    feed: LiveFeed,
    *,
    after: int,
    upto: int,
    since: datetime | None,
    accept: Callable[[LiveEvent], bool],
    seen: set[int],
) -> AsyncGenerator[LiveEvent, None]:
    """Yield the accepted stored events with ``after < id <= upto``, page by page."""
    low = after
    while True:
        page = await feed.replay(after=low, upto=upto, since=since, limit=PAGE)
        if len(seen) > _SEEN_CAP:  # a long replay must not grow it without end (see follow)
            seen.clear()
        for ev in page:
            seen.add(ev.id)
            if accept(ev):
                yield ev
        if len(page) < PAGE:
            return
        low = page[-1].id


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
    ``None`` when ``heartbeat_s`` passed without one.

    A subscriber whose queue fills is not dropped: once it has read what its queue held it
    pages the rest from the event log by id, then goes live again. The log is the buffer, so
    a storm costs each subscriber at most ``maxsize`` queued events, however long it lasts.
    """
    # Subscribe first and read the cursor in the same step (no await between): every id up to
    # the cursor is in the table, every later one will arrive on the queue.
    sub = feed.subscribe(accept=accept, maxsize=maxsize)
    upto = feed.cursor
    # Ids paged from the table, so a late event (released below the cursor) is not sent twice;
    # capped so a long storm cannot grow it (past the cap a late event may come twice, never 0).
    seen: set[int] = set()
    # The highest id the subscriber has: live events at or below it (and above the cursor they
    # were paged up to) are ones it already got, e.g. a client ahead of this process's cursor.
    pos = upto if after is None else max(after, upto)
    try:
        if after is not None or since is not None:
            async for ev in _page(
                feed, after=after or 0, upto=upto, since=since, accept=accept, seen=seen
            ):
                yield ev
        while True:
            if sub.overflowed and sub.queue.empty():
                # Everything released after the queue filled is in the table up to the cursor:
                # subscribe afresh and page the gap, then read live again.
                feed.unsubscribe(sub)
                sub = feed.subscribe(accept=accept, maxsize=maxsize)
                upto = feed.cursor
                if len(seen) > maxsize:
                    seen.clear()
                async for ev in _page(
                    feed, after=pos, upto=upto, since=None, accept=accept, seen=seen
                ):
                    yield ev
                pos = max(pos, upto)
                continue
            try:
                ev = await asyncio.wait_for(sub.queue.get(), heartbeat_s)
            except TimeoutError:
                yield None
                continue
            if ev.id in seen or upto < ev.id <= pos:
                continue
            pos = max(pos, ev.id)
            yield ev
    finally:
        feed.unsubscribe(sub)
