"""Re-framing a TCP byte stream into GB/T 26875.3 frames, with a bounded buffer.

TCP delivers bytes, not frames: one read may hold several frames, the tail of one and the head
of the next, or line noise between them. ``Reframer.feed`` takes each read and returns the
frames it completes, in order. A candidate frame is what starts with ``@@``, declares a data
unit of at most 1024 bytes and ends with ``##`` where that length says; anything else before a
candidate is skipped one byte at a time, so the walk resynchronises on the next ``@@``. A
candidate whose checksum is wrong is still a frame (its boundaries are sure), returned as
``BadChecksum`` so the centre can deny it and keep it as a rejection.

The buffer never holds more than one incomplete frame (``MAX_FRAME`` bytes) between reads, so a
connection costs at most that plus one read, whatever a peer sends.

The layout itself is ``devices.codecs.gb26875_frame``'s; only the stream handling is here.
"""

from __future__ import annotations

from typing import Final

from msgspec import Struct

from devices.codecs.gb26875_frame import (
    END,
    HEADER_SIZE,
    MAX_UNIT,
    OVERHEAD,
    START,
    checksum,
    unit_length,
)

MAX_FRAME: Final = OVERHEAD + MAX_UNIT  # 1054 bytes: the largest frame the standard allows


class BadChecksum(Struct, frozen=True):
    """A well-delimited frame whose checksum byte disagrees with its content."""

    frame: bytes
    stored: int
    computed: int


Item = bytes | BadChecksum


class Reframer:
    """Cuts one connection's byte stream into frames; holds at most one partial frame."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.skipped_bytes = 0  # garbage between frames, for the connection's counters

    @property
    def buffered(self) -> int:
        """Return how many bytes wait for the rest of their frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Item]:
        """Append one read and return the frames (or bad-checksum frames) it completes."""
        buf = self._buffer
        buf += data
        out: list[Item] = []
        while True:
            start = buf.find(START)
            if start < 0:
                # Keep a trailing '@': it may be the first half of the next start.
                keep = 1 if buf.endswith(START[:1]) else 0
                self._skip(len(buf) - keep)
                return out
            self._skip(start)
            if len(buf) < HEADER_SIZE:
                return out
            length = unit_length(buf)
            if length > MAX_UNIT:
                self._skip(1)  # not a start after all: look for the next '@@'
                continue
            size = OVERHEAD + length
            if len(buf) < size:
                return out
            if buf[size - 2 : size] != END:
                self._skip(1)
                continue
            frame = bytes(buf[:size])
            del buf[:size]
            stored, computed = frame[-3], checksum(frame[2:-3])
            out.append(frame if stored == computed else BadChecksum(frame, stored, computed))

    def _skip(self, count: int) -> None:
        if count:
            del self._buffer[:count]
            self.skipped_bytes += count
