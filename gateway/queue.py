"""The bounded hand-off from the sockets to the writer: fire alarms first, never dropped.

Every connection puts its frames here and waits while it is full, so a burst stops the
gateway reading the sockets and TCP pushes back on the devices. The writer takes a batch: frames
carrying a fire bit first and at once; others after up to ``linger_s`` for the batch to fill
(one commit for many analog values), unless a fire alarm arrives meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from gateway.models import ReceivedFrame


class FrameQueue:
    """A FIFO of frames waiting for their commit, bounded in frames, with a fire lane."""

    def __init__(self, *, max_frames: int) -> None:
        if max_frames < 1:
            raise ValueError("max_frames must be at least 1")
        self.max_frames = max_frames
        self._fire: deque[ReceivedFrame] = deque()
        self._other: deque[ReceivedFrame] = deque()
        self._changed = asyncio.Condition()

    def __len__(self) -> int:
        return len(self._fire) + len(self._other)

    def oldest(self) -> ReceivedFrame | None:
        """Return the frame waiting longest in either lane, or None."""
        heads = [lane[0] for lane in (self._fire, self._other) if lane]
        return min(heads, key=lambda f: f.received_at, default=None)

    async def put(self, frame: ReceivedFrame) -> None:
        """Add ``frame``, waiting while the queue is full."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self) < self.max_frames)
            (self._fire if frame.fire else self._other).append(frame)
            self._changed.notify_all()

    async def take(self, *, max_frames: int, linger_s: float) -> list[ReceivedFrame]:
        """Return the next batch: fire alarms first; others wait ``linger_s`` to fill it."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self) > 0)
            if not self._fire and len(self) < max_frames and linger_s > 0:
                # On timeout the batch is what came within the linger.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: bool(self._fire) or len(self) >= max_frames),
                        linger_s,
                    )
            batch: list[ReceivedFrame] = []
            for lane in (self._fire, self._other):
                while lane and len(batch) < max_frames:
                    batch.append(lane.popleft())
            self._changed.notify_all()
            return batch
