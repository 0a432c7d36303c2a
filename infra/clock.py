"""The clock: every role and route asks it for "now", so tests can run on a controlled time.

Domain code never calls ``datetime.now()``: it is handed a ``Clock`` (the composition root gives
``SystemClock``; tests give ``FixedClock`` and move it). Deadlines, escalation, silence and
retention then behave the same under test as at 3 a.m. on a real night.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "FixedClock", "SystemClock"]


class Clock(Protocol):
    """Tells the current time as an aware UTC datetime."""

    def now(self) -> datetime:
        """Return the current time (aware, UTC)."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        """Return the machine's current time in UTC."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that moves only when told: for tests and replays."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the clock's current time."""
        with self._lock:
            return self._now

    def advance(self, by: timedelta) -> datetime:
        """Move the clock forward by ``by`` and return the new time."""
        with self._lock:
            self._now += by
            return self._now

    def set(self, to: datetime) -> None:
        """Move the clock to ``to`` (aware)."""
        with self._lock:
            self._now = to.astimezone(UTC)


SYSTEM_CLOCK: Clock = SystemClock()
