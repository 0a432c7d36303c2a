"""The centre's commands to a transmission device: clock sync, duty check (查岗), status reads.

Clock sync and duty check are control frames (command 1) with one object (GB/T 26875.3-2011
§8.3): type 90, synchronise the device's clock, carries the centre's time (6 bytes, China
time); type 91, duty check, carries how many minutes the unit's operator has to answer (1 byte).
The device confirms each (command 3, the serial echoed); an operator answers a duty check at the
device, which then sends its operation record (type 24) with bit 5 set.

The reads are requests (command 4, request/answer mode, §8.3.2): type 61, read a facility
system's status, names the system (type, address: 2 bytes); type 62, read a part's running
status, names the system and the part (zone, position: 4 bytes, little-endian). The device
answers (command 5, the serial echoed) with the upload objects asked for: a system status
(type 1) or a part status (type 2). An answer settles the read; none, after the resends, leaves
it unanswered.
"""

from __future__ import annotations

import struct
from datetime import datetime
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from devices.codecs.gb26875_frame import CONTROL, REQUEST, GbFrame, encode_unit, write_time

CLOCK_SYNC_TYPE: Final = 90
DUTY_CHECK_TYPE: Final = 91
READ_SYSTEM_STATUS_TYPE: Final = 61
READ_PART_STATUS_TYPE: Final = 62
RESEND_AFTER_S: Final = 10.0  # the standard's resend timeout ...
MAX_ATTEMPTS: Final = 3  # ... and tries
FIRE_ALARM_SYSTEM: Final = 1  # system type 1: the fire alarm system, what a read names by default


class CommandKind(StrEnum):
    """What the centre can ask of a device."""

    CLOCK_SYNC = "clock_sync"
    DUTY_CHECK = "duty_check"
    READ_SYSTEM_STATUS = "read_system_status"
    READ_PART_STATUS = "read_part_status"

    @property
    def is_read(self) -> bool:
        """Return whether the device answers with data (request/answer) rather than a confirm."""
        return self in {CommandKind.READ_SYSTEM_STATUS, CommandKind.READ_PART_STATUS}


class ReadTarget(BaseModel):
    """What a read names: a facility system, and for a part read the part's zone and position."""

    # A misspelt field would otherwise read the default system without a word.
    model_config = ConfigDict(frozen=True, extra="forbid")

    system_type: int = Field(default=FIRE_ALARM_SYSTEM, ge=0, le=255)
    system_address: int = Field(default=1, ge=0, le=255)
    zone: int | None = Field(default=None, ge=0, le=0xFFFF)
    position: int | None = Field(default=None, ge=0, le=0xFFFF)


def check_target(kind: CommandKind, target: ReadTarget | None) -> None:
    """Refuse a target that does not fit ``kind``: a part read needs the part's zone and
    position; only reads name a target.

    Raises ``ValueError`` saying what is wrong.
    """
    if target is not None and not kind.is_read:
        raise ValueError(f"{kind.value} takes no target: only the reads name a system or part")
    if kind is CommandKind.READ_PART_STATUS and (
        target is None or target.zone is None or target.position is None
    ):
        raise ValueError("read_part_status needs target.zone and target.position")


def command_frame(
    kind: CommandKind,
    *,
    serial: int,
    centre: int,
    device: int,
    now: datetime,
    answer_within_min: int = 10,
    target: ReadTarget | None = None,
) -> bytes:
    """Return the frame asking ``device`` to do ``kind`` (a read names ``target``)."""
    command = CONTROL
    if kind is CommandKind.CLOCK_SYNC:
        unit = bytes((CLOCK_SYNC_TYPE, 1)) + write_time(now)
    elif kind is CommandKind.DUTY_CHECK:
        unit = bytes((DUTY_CHECK_TYPE, 1, max(1, min(255, answer_within_min))))
    else:
        command = REQUEST
        unit = _read_unit(kind, target or ReadTarget())
    head = GbFrame(serial=serial, time=now, source=centre, destination=device, command=command)
    return encode_unit(head, unit)


def _read_unit(kind: CommandKind, target: ReadTarget) -> bytes:
    system = bytes((target.system_type, target.system_address))
    if kind is CommandKind.READ_SYSTEM_STATUS:
        return bytes((READ_SYSTEM_STATUS_TYPE, 1)) + system
    part = struct.pack("<HH", target.zone or 0, target.position or 0)
    return bytes((READ_PART_STATUS_TYPE, 1)) + system + part
