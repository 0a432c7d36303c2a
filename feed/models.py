"""What the live feed hands out: its events, the feed protocol, and the too-slow error."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

from hazards.models import Hazard

__all__ = [
    "FEED_KINDS",
    "PAGE",
    "QUEUE_SIZE",
    "LiveEvent",
    "LiveFeed",
    "SubscriberTooSlowError",
    "Subscription",
]

QUEUE_SIZE: Final = 1000  # events buffered per subscriber before it is served from the log
PAGE: Final = 1000  # events per replay or catch-up query
# Kinds of the log the feed shows; the rest (batches, grid imports) only advance its cursor.
FEED_KINDS: Final = ("hazard.", "case.")


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One event of the feed: its log id and kind, when it was written, its hazard or case."""

    id: int
    type: str
    at: datetime
    data: dict[str, Any]  # the change
    hazard: Hazard | None  # the hazard after the change; None for events of other subjects
    case: dict[str, Any] | None = None  # a case event's case, as GET /api/v1/cases shows it


class SubscriberTooSlowError(Exception):
    """The subscriber's queue overflowed; it was dropped and must resume by Last-Event-ID.

    No longer raised by ``follow`` (an overflowed subscriber pages the log instead); kept for
    callers that still name it."""


@dataclass(eq=False)
class Subscription:
    """A subscriber's bounded queue of accepted events.

    The queue is bounded: a subscriber that cannot keep up is marked overflowed and dropped by
    the fan-out instead of blocking it or growing memory; ``follow`` then pages what it missed
    from the table and subscribes again, so a slow reader loses nothing and is not cut off.
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
        """Start following the log."""
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
