"""The one LISTEN connection of a process: it wakes every consumer of the event log.

A notification carries nothing a consumer needs (it reads by cursor); it only says "look now".
So one connection per process and database listens on ``infra.eventlog.CHANNEL`` in a thread and
calls every subscriber's callback: a thread's ``Wakeup`` (``threading.Event``) or an asyncio
event set through its loop. After a lost connection it reconnects with back-off and wakes
everyone, since notifications sent meanwhile are gone.

``shared(db_url)`` hands out that one listener; it starts with its first subscriber and stops
with its last, so roles need no wiring to share it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Final

import psycopg

from infra.database import connect
from infra.eventlog import CHANNEL

__all__ = ["EventListener", "Wakeup", "shared"]

log = logging.getLogger(__name__)

APPLICATION_NAME: Final = "firegrid-listener"
_TICK_S: Final = 0.5  # how often the thread looks at its stop flag while no notification comes


class Wakeup:
    """A thread's wake-up: ``wait`` returns at the next notification or after ``timeout``."""

    def __init__(self, listener: EventListener) -> None:
        self._event = threading.Event()
        self._listener = listener
        listener.subscribe(self._event.set)

    def wait(self, timeout: float) -> bool:
        """Wait for a notification (or ``timeout`` seconds); return whether one came."""
        woke = self._event.wait(timeout)
        self._event.clear()
        return woke

    def close(self) -> None:
        """Stop being woken."""
        self._listener.unsubscribe(self._event.set)


class EventListener:
    """A thread LISTENing on the log's channel, calling each subscriber on every notification."""

    def __init__(self, db_url: str, *, application_name: str = APPLICATION_NAME) -> None:
        self.db_url = db_url
        self.application_name = application_name
        self._subs: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def subscribe(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` (from the listener's thread) at each notification; start if needed."""
        with self._lock:
            self._subs.append(wake)
            self._stop.clear()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="event-listener", daemon=True
                )
                self._thread.start()

    def unsubscribe(self, wake: Callable[[], None]) -> None:
        """Stop calling ``wake``; the thread ends soon after the last subscriber left."""
        with self._lock:
            if wake in self._subs:
                self._subs.remove(wake)
            if not self._subs:
                self._stop.set()

    def _active(self) -> bool:
        with self._lock:
            if self._subs:
                return True
            self._thread = None  # decided under the lock: a new subscriber starts a new thread
            return False

    def wakeup(self) -> Wakeup:
        """Return a new thread wake-up subscribed to this listener."""
        return Wakeup(self)

    def async_event(
        self, loop: asyncio.AbstractEventLoop
    ) -> tuple[asyncio.Event, Callable[[], None]]:
        """Return an asyncio event set on each notification, and the callback to unsubscribe."""
        event = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(event.set)

        self.subscribe(wake)
        return event, wake

    def _wake_all(self) -> None:
        with self._lock:
            subs = list(self._subs)
        for wake in subs:
            try:
                wake()
            except RuntimeError:  # an asyncio subscriber whose loop has closed
                self.unsubscribe(wake)

    def _run(self) -> None:
        delay = 0.2
        while self._active():
            began = time.monotonic()
            try:
                self._listen()
            except psycopg.Error as exc:
                log.warning("event listener lost its database connection (%s); retrying", exc)
            except Exception:
                log.exception("event listener failed; restarting it")
            self.connected.clear()
            # Whatever was notified while away is lost: everyone reads on from its cursor.
            self._wake_all()
            delay = 0.2 if time.monotonic() - began > 30 else min(delay * 2, 5.0)
            self._stop.wait(delay)

    def _listen(self) -> None:
        with connect(self.db_url, application_name=self.application_name) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self.connected.set()
            self._wake_all()  # something may have been appended before the LISTEN
            while not self._stop.is_set():  # set when the last subscriber left
                # Wait for one notification, then drain what already arrived: one wake-up each.
                got = False
                for _ in conn.notifies(timeout=_TICK_S, stop_after=1):
                    got = True
                if got:
                    for _ in conn.notifies(timeout=0):
                        pass
                    self._wake_all()


_SHARED: dict[str, EventListener] = {}
_SHARED_LOCK = threading.Lock()


def shared(db_url: str) -> EventListener:
    """Return this process's listener for ``db_url`` (created on first use)."""
    with _SHARED_LOCK:
        listener = _SHARED.get(db_url)
        if listener is None:
            listener = _SHARED[db_url] = EventListener(db_url)
        return listener
