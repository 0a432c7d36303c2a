"""The centre's answers to a device's frame: confirm (command 3) and deny (command 6).

Both echo the frame's serial and version, swap its source and destination addresses (the
centre answers from the address the device wrote to), carry the centre's own time and an empty
data unit: F2 of ``device-frames.md`` is the confirm of F1.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from devices.codecs.gb26875_frame import CONFIRM, GbFrame, encode

DENY: Final = 6


def answer(head: GbFrame, *, command: int, now: datetime) -> bytes:
    """Return the bytes of the answer ``command`` to the frame whose header is ``head``."""
    return encode(
        GbFrame(
            serial=head.serial,
            time=now,
            source=head.destination,
            destination=head.source,
            command=command,
            version=head.version,
        )
    )


def confirm(head: GbFrame, *, now: datetime) -> bytes:
    """Return the confirm of a frame: it was received and what it carried is stored."""
    return answer(head, command=CONFIRM, now=now)


def deny(head: GbFrame, *, now: datetime) -> bytes:
    """Return the deny of a frame that failed its checks (the device may send it again)."""
    return answer(head, command=DENY, now=now)
