"""The bounded hand-off between the MQTT network thread and the batch writer."""

from __future__ import annotations

import threading
import time
from collections import deque

from ingest.models import InboundMessage


class MessageBuffer:
    """A FIFO of received, unacknowledged messages.

    Its bound is the broker's: we advertise MQTT 5 Receive Maximum, so the broker never has more
    than that many unacknowledged messages out to us, and they are all in here or being written.
    """

    def __init__(self) -> None:
        self._items: deque[InboundMessage] = deque()
        self._ready = threading.Event()

    def put(self, message: InboundMessage) -> None:
        """Append a message (called from the network thread)."""
        self._items.append(message)
        if not self._ready.is_set():  # setting takes a lock: only an idle writer needs waking
            self._ready.set()

    def __len__(self) -> int:
        return len(self._items)

    def take(
        self, *, max_messages: int, max_bytes: int, max_wait_s: float, idle_wait_s: float = 0.5
    ) -> list[InboundMessage]:
        """Return up to ``max_messages`` (and about ``max_bytes`` of payload), waiting at most
        ``max_wait_s`` after the first arrives.

        Returns an empty list when nothing arrived within ``idle_wait_s`` so the caller can
        check whether to stop.
        """
        if not self._items:
            self._ready.clear()
            # re-check after clearing: a put between the two saw the event still set
            if not self._items and not self._ready.wait(idle_wait_s):
                return []
        deadline = time.monotonic() + max_wait_s
        while len(self._items) < max_messages:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(left, 0.002))
        taken: list[InboundMessage] = []
        size = 0
        while self._items and len(taken) < max_messages and size < max_bytes:
            message = self._items.popleft()
            taken.append(message)
            size += len(message.payload)
        return taken
