"""The bounded hand-off between the MQTT network thread and the batch writer.

The bound is what stops ingest reading from the broker. MQTT 5 Receive Maximum caps only the
unacknowledged QoS 1 messages in flight; QoS 0 messages, and everything while ingest is stuck on
the database, would otherwise pile up here without limit. So ``put``, which paho's network thread
calls from ``on_message``, waits while the buffer is full: that thread then reads nothing more
from the socket, TCP's window closes, and the broker holds the rest (queued for our session, or
dropped by its own QoS 0 limits: the broker's policy, not unbounded memory here).

Waiting in the network thread cannot hold back an acknowledgement the buffer is waiting for: the
writer thread queues its PUBACKs without the network thread (``Subscriber.ack``) and makes room
here by taking a batch, which never waits for the network thread. The queued PUBACKs go out as
soon as ``put`` returns. ``close`` releases a waiting ``put`` so shutdown never hangs on it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from ingest import metrics
from ingest.models import InboundMessage

_WAIT_SLICE_S = 0.5  # a waiting put re-checks at least this often (a missed wake-up costs this)
# A device event (a smoke alarm, a fault) is rare and urgent: the batch it lands in is taken at
# once instead of waiting up to ``max_wait_s`` for telemetry to fill it.
_URGENT_SUFFIX = "/event"


@dataclass(frozen=True, slots=True)
class BufferFill:
    """How full the buffer is, for health reports and tests."""

    messages: int
    bytes: int
    max_messages: int
    max_bytes: int
    oldest_received_at: datetime | None  # of the message waiting longest; None when empty
    reading_paused: bool  # the network thread is waiting for room (not reading the socket)


class MessageBuffer:
    """A FIFO of received, unacknowledged messages, bounded in messages and payload bytes.

    An empty buffer always takes one message, however large, so a payload above ``max_bytes``
    cannot wedge ingest; it is then the only one held.

    One thread puts and one takes. ``put``'s common path takes no lock (it runs for every
    message in paho's network thread): the deque is thread-safe, and the byte count is two
    counters each written by one thread only, so no update is lost between them.
    """

    def __init__(self, *, max_messages: int, max_bytes: int) -> None:
        if max_messages < 1 or max_bytes < 1:
            raise ValueError("buffer bounds must be at least 1")
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._items: deque[InboundMessage] = deque()
        self._bytes_in = 0  # written by put only
        self._bytes_out = 0  # written by take only
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._ready = threading.Event()
        self._paused = False
        self._closed = False
        self._urgent = False  # an event waits in the buffer: take without waiting for more
        # Read at scrape time: a stalled writer must not leave a stale, reassuring value behind.
        metrics.BUFFER_MESSAGES.set_function(self.__len__)
        metrics.BUFFER_BYTES.set_function(self.bytes)
        metrics.BUFFER_MAX_MESSAGES.set(max_messages)
        metrics.BUFFER_MAX_BYTES.set(max_bytes)

    def put(self, message: InboundMessage) -> bool:
        """Append a message, waiting while the buffer is full (called from the network thread).

        Returns False, without keeping the message, once the buffer is closed: it is not
        acknowledged, so the broker redelivers a QoS 1 message to the next session.
        """
        size = len(message.payload)
        items = self._items
        if items and (
            len(items) >= self.max_messages
            or self._bytes_in - self._bytes_out + size > self.max_bytes
        ):
            self._wait_for_room(size)
        if self._closed:
            return False
        items.append(message)
        self._bytes_in += size
        if message.topic.endswith(_URGENT_SUFFIX):
            self._urgent = True
        if not self._ready.is_set():  # setting takes a lock: only an idle writer needs waking
            self._ready.set()
        return True

    def _wait_for_room(self, size: int) -> None:
        with self._lock:
            # Paused is set before the room is checked under the lock, and take notifies after
            # freeing room whenever it sees it set, so a wake-up is never missed (and a wait is
            # re-checked every slice regardless).
            self._paused = True
            metrics.READING_PAUSED.set(1)
            metrics.BUFFER_FULL.inc()
            try:
                while self._full_for(size):
                    self._room.wait(_WAIT_SLICE_S)
            finally:
                self._paused = False
                metrics.READING_PAUSED.set(0)

    def _full_for(self, size: int) -> bool:
        return (
            not self._closed
            and bool(self._items)
            and (
                len(self._items) >= self.max_messages
                or self._bytes_in - self._bytes_out + size > self.max_bytes
            )
        )

    def close(self) -> None:
        """Refuse further messages and release a ``put`` waiting for room."""
        with self._lock:
            self._closed = True
            self._room.notify_all()

    def __len__(self) -> int:
        return len(self._items)

    def bytes(self) -> int:
        """Return the payload bytes held now."""
        return self._bytes_in - self._bytes_out

    def fill(self) -> BufferFill:
        """Return how full the buffer is now."""
        items = self._items
        try:
            oldest = items[0].received_at if items else None
        except IndexError:  # taken between the check and the read
            oldest = None
        return BufferFill(
            len(items), self.bytes(), self.max_messages, self.max_bytes, oldest, self._paused
        )

    def take(
        self, *, max_messages: int, max_bytes: int, max_wait_s: float, idle_wait_s: float = 0.5
    ) -> list[InboundMessage]:
        """Return up to ``max_messages`` (and about ``max_bytes`` of payload), waiting at most
        ``max_wait_s`` after the first arrives, and not at all once a device event is waiting.

        Returns an empty list when nothing arrived within ``idle_wait_s`` so the caller can
        check whether to stop.
        """
        if not self._items:
            self._ready.clear()
            # re-check after clearing: a put between the two saw the event still set
            if not self._items and not self._ready.wait(idle_wait_s):
                return []
        deadline = time.monotonic() + max_wait_s
        # Waiting for a fuller batch is pointless once reading has paused: nothing more comes.
        while len(self._items) < max_messages and not self._paused and not self._urgent:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(left, 0.002))
        # Cleared before taking: an event put from here on is either taken now or flags the next
        # batch (at worst one batch goes early), never left waiting.
        self._urgent = False
        taken: list[InboundMessage] = []
        size = 0
        items = self._items
        while items and len(taken) < max_messages and size < max_bytes:
            message = items.popleft()
            taken.append(message)
            size += len(message.payload)
        self._bytes_out += size
        if self._paused:  # read after the room is freed: see _wait_for_room
            with self._lock:
                self._room.notify()
        return taken
