"""The centre's commands to a transmission device: clock sync and duty check (查岗).

Both are control frames (command 1) with one object (GB/T 26875.3-2011 §8.3): type 90,
synchronise the device's clock, carries the centre's time (6 bytes, China time); type 91, duty
check, carries how many minutes the unit's operator has to answer (1 byte). The device confirms
each (command 3, the serial echoed); an operator answers a duty check at the device, which then
sends its operation record (type 24) with bit 5 set.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Final

from devices.codecs.gb26875_frame import CONTROL, GbFrame, encode_unit, write_time

CLOCK_SYNC_TYPE: Final = 90
DUTY_CHECK_TYPE: Final = 91
RESEND_AFTER_S: Final = 10.0  # the standard's resend timeout ...
MAX_ATTEMPTS: Final = 3  # ... and tries


class CommandKind(StrEnum):
    """What the centre can ask of a device."""

    CLOCK_SYNC = "clock_sync"
    DUTY_CHECK = "duty_check"


def command_frame(
    kind: CommandKind,
    *,
    serial: int,
    centre: int,
    device: int,
    now: datetime,
    answer_within_min: int = 10,
) -> bytes:
    """Return the control frame asking ``device`` to do ``kind``."""
    if kind is CommandKind.CLOCK_SYNC:
        unit = bytes((CLOCK_SYNC_TYPE, 1)) + write_time(now)
    else:
        unit = bytes((DUTY_CHECK_TYPE, 1, max(1, min(255, answer_within_min))))
    head = GbFrame(serial=serial, time=now, source=centre, destination=device, command=CONTROL)
    return encode_unit(head, unit)
