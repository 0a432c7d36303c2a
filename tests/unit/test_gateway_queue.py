"""The gateway's frame queue: fire alarms first and at once, bounded, nothing dropped."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from devices.codecs.gb26875_frame import GbFrame
from gateway.models import ReceivedFrame, Verdict
from gateway.queue import FrameQueue


class _Peer:
    def answer(self, frame: ReceivedFrame) -> None:
        del frame


def _frame(serial: int, *, fire: bool = False) -> ReceivedFrame:
    head = GbFrame(serial=serial, time=None, source=1, destination=2, command=2)
    return ReceivedFrame(b"", head, Verdict.CONFIRM, datetime.now(UTC), _Peer(), fire=fire)


def test_a_fire_alarm_jumps_the_queue_and_does_not_wait_for_the_linger() -> None:
    async def scenario() -> tuple[list[int], float, list[int]]:
        queue = FrameQueue(max_frames=10)
        for serial in (1, 2):
            await queue.put(_frame(serial))
        await queue.put(_frame(3, fire=True))
        started = time.monotonic()
        first = [f.head.serial for f in await queue.take(max_frames=2, linger_s=5.0)]
        waited = time.monotonic() - started
        rest = [f.head.serial for f in await queue.take(max_frames=10, linger_s=0.01)]
        return first, waited, rest

    first, waited, rest = asyncio.run(scenario())
    assert first == [3, 1]
    assert waited < 1.0
    assert rest == [2]


def test_without_fire_a_batch_lingers_to_fill_and_a_full_queue_makes_put_wait() -> None:
    async def scenario() -> tuple[list[int], bool, list[int]]:
        queue = FrameQueue(max_frames=2)
        await queue.put(_frame(1))

        async def later() -> None:
            await asyncio.sleep(0.05)
            await queue.put(_frame(2))

        late = asyncio.create_task(later())
        batch = [f.head.serial for f in await queue.take(max_frames=5, linger_s=0.3)]
        await late
        await queue.put(_frame(3))
        await queue.put(_frame(4))
        blocked = asyncio.create_task(queue.put(_frame(5)))
        await asyncio.sleep(0.05)
        was_waiting = not blocked.done()
        taken = [f.head.serial for f in await queue.take(max_frames=5, linger_s=0.0)]
        await blocked
        taken += [f.head.serial for f in await queue.take(max_frames=5, linger_s=0.0)]
        return batch, was_waiting, taken

    batch, was_waiting, taken = asyncio.run(scenario())
    assert batch == [1, 2]  # the second frame came within the linger
    assert was_waiting
    assert taken == [3, 4, 5]
