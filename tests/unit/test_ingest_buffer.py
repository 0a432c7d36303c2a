"""The ingest buffer's bound in messages and bytes, the room a take makes, and close."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from ingest.buffer import MessageBuffer
from ingest.models import InboundMessage

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def _msg(size: int, mid: int = 1) -> InboundMessage:
    return InboundMessage("fg/v1/d/D1/telemetry", b"x" * size, mid, 0, 1, NOW)


def _put_in_thread(
    buffer: MessageBuffer, message: InboundMessage
) -> tuple[threading.Thread, list[bool]]:
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(buffer.put(message)), daemon=True)
    thread.start()
    return thread, result


def test_a_full_buffer_makes_put_wait_until_a_take_frees_room() -> None:
    buffer = MessageBuffer(max_messages=2, max_bytes=1_000)
    assert buffer.put(_msg(10, 1))
    assert buffer.put(_msg(10, 2))
    thread, result = _put_in_thread(buffer, _msg(10, 3))
    thread.join(0.3)
    assert thread.is_alive(), "put did not wait on a full buffer"
    assert buffer.fill().reading_paused
    assert [m.mid for m in buffer.take(max_messages=1, max_bytes=1_000, max_wait_s=0)] == [1]
    thread.join(2)
    assert result == [True]
    assert (buffer.fill().messages, buffer.fill().bytes) == (2, 20)
    assert not buffer.fill().reading_paused


def test_the_byte_bound_holds_and_an_empty_buffer_takes_any_one_message() -> None:
    buffer = MessageBuffer(max_messages=100, max_bytes=100)
    assert buffer.put(_msg(500, 1))  # larger than the bound, but alone: ingest never wedges
    thread, _ = _put_in_thread(buffer, _msg(1, 2))
    thread.join(0.3)
    assert thread.is_alive()
    buffer.take(max_messages=10, max_bytes=1_000, max_wait_s=0)
    thread.join(2)
    assert buffer.put(_msg(60, 3)) is True
    assert buffer.bytes() == 61
    thread, _ = _put_in_thread(buffer, _msg(40, 4))  # 61 + 40 > 100
    thread.join(0.3)
    assert thread.is_alive()
    buffer.close()


def test_close_releases_a_waiting_put_without_keeping_its_message() -> None:
    buffer = MessageBuffer(max_messages=1, max_bytes=1_000)
    buffer.put(_msg(10, 1))
    thread, result = _put_in_thread(buffer, _msg(10, 2))
    thread.join(0.3)
    buffer.close()
    thread.join(2)
    assert not thread.is_alive(), "close left the network thread waiting"
    assert result == [False]
    assert len(buffer) == 1


def test_a_device_event_is_taken_at_once_telemetry_waits_for_the_batch_window() -> None:
    buffer = MessageBuffer(max_messages=100, max_bytes=100_000)
    buffer.put(_msg(10, 1))
    started = time.monotonic()
    assert len(buffer.take(max_messages=100, max_bytes=100_000, max_wait_s=0.3)) == 1
    assert time.monotonic() - started >= 0.3, "telemetry alone waits for the batch to fill"

    buffer.put(_msg(10, 2))
    buffer.put(InboundMessage("fg/v1/d/SD1/event", b"{}", 3, 1, 1, NOW))
    started = time.monotonic()
    taken = buffer.take(max_messages=100, max_bytes=100_000, max_wait_s=5.0)
    assert [m.mid for m in taken] == [2, 3]
    assert time.monotonic() - started < 1.0, "an alarm waited for the batch window"

    buffer.put(_msg(10, 4))  # the flag went with the event's batch
    started = time.monotonic()
    buffer.take(max_messages=100, max_bytes=100_000, max_wait_s=0.2)
    assert time.monotonic() - started >= 0.2
