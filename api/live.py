"""The live feed behind ``GET /api/v1/stream``: its events, its subscribers, and ``follow``.

What every feed shares lives here: ``LiveEvent``, the ``LiveFeed`` protocol, the subscribers'
bounded queues and their fan-out, the in-memory feed tests publish to, and ``follow``, which
gives one subscriber the stored events after its ``Last-Event-ID`` and then the live ones, each
once. The PostgreSQL feed (LISTEN loop, catch-up by cursor) is ``api.live_pg``, and the id-order
release it relies on is ``api.live_sequencer``: both are about following the database, which
neither the protocol nor a subscriber needs to know.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

QUEUE_SIZE: Final = 1000  # events buffered per subscriber before it counts as too slow
PAGE: Final = 1000  # rows per replay or catch-up query


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One event of the feed: its id and type, when it was written, and the hazard row now."""

    id: int
    type: str
    at: datetime
    data: dict[str, Any]
    row: dict[str, Any]  # the hazards row (``hazards.service.FIELDS``)


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
        # Never awaits: one slow subscriber overflows and is dropped, the others go on.
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
                page = await feed.replay(after=low, upto=upto, since=since, limit=PAGE)
                for ev in page:
                    replayed.add(ev.id)
                    if accept(ev):
                        yield ev
                if len(page) < PAGE:
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
