"""GB/T 26875.3-2011 frames as bytes: splitting, checking, parsing into objects, encoding.

Frame layout (multi-byte integers little-endian; DOMAIN.md §3, golden frames F1-F3):

```
offset size field
0      2    start "@@"
2      2    serial number
4      2    version: major, user version
6      6    frame time: sec, min, hour, day, month, year (00-99)
12     6    source address
18     6    destination address
24     2    data-unit length n (<= 1024)
26     1    command: 1 control, 2 send data, 3 confirm, 4 request, 5 answer, 6 deny
27     n    data unit: type (1 B), object count (1 B), objects
27+n   1    checksum: sum of bytes 2 .. 26+n, mod 256
28+n   2    end "##"
```

Objects parsed (each followed by its 6-byte time):
type 1 facility system status, 4 B: system type, system address, status u16;
type 2 part status, 40 B: system type, system address, part type, part address (zone u16,
position u16), status u16, description 31 B of GB 18030 padded with NUL;
type 3 analog value, 10 B: system type, system address, part type, part address, analog type,
value int16;
type 4 facility operation, 4 B: system type, system address, operation flags, operator number;
type 21 transmission-device status, 1 B: status flags;
type 24 transmission-device operation, 2 B: operation flags, operator number.

Frame and object times carry no zone. The devices are installed in China and keep local time,
so they are read as China Standard Time (UTC+08:00, no daylight saving) and stored in UTC.

This is the wire format only, which simulators and tests also use to build frames; what the
objects mean as FireGrid records is ``devices.codecs.gb26875``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from msgspec import Struct
from msgspec.structs import astuple, replace

from devices.exceptions import DecodeError

CST: Final = timezone(timedelta(hours=8), "CST")
START: Final = b"@@"
END: Final = b"##"
HEADER_SIZE: Final = 27
OVERHEAD: Final = HEADER_SIZE + 3  # checksum + end
MAX_UNIT: Final = 1024
CONTROL: Final = 1
SEND_DATA: Final = 2
CONFIRM: Final = 3
REQUEST: Final = 4  # the centre reads a status (request/answer mode)
ANSWER: Final = 5  # the device's answer to a request, with the upload objects asked for
SYSTEM_STATUS: Final = 1
PART_STATUS: Final = 2
ANALOG_VALUE: Final = 3
SYSTEM_OPERATION: Final = 4
DEVICE_STATUS: Final = 21
DEVICE_OPERATION: Final = 24
DESCRIPTION_SIZE: Final = 31
TIME_SIZE: Final = 6

# serial, version major, version minor, time, source, destination, unit length, command
_HEADER: Final = struct.Struct("<HBB6s6s6sHB")
# system type, system address, part type, zone, position, status, description, time
_PART: Final = struct.Struct("<BBBHHH31s6s")
# system type, system address, part type, zone, position, analog type, value, time
_ANALOG: Final = struct.Struct("<BBBHHBh6s")
# system type, system address, status, time
_SYSTEM: Final = struct.Struct("<BBH6s")
# system type, system address, operation flags, operator, time
_SYSTEM_OP: Final = struct.Struct("<BBBB6s")
# status flags, time
_DEVICE: Final = struct.Struct("<B6s")
# operation flags, operator, time
_DEVICE_OP: Final = struct.Struct("<BB6s")


class PartStatus(Struct, frozen=True):
    """Data-unit type 2: the running status of one part (detector, button, pump ...)."""

    system_type: int
    system_address: int
    part_type: int
    zone: int
    position: int
    status: int
    description: str
    time: datetime | None  # None: the six bytes are not a valid date


class AnalogValue(Struct, frozen=True):
    """Data-unit type 3: one analog quantity of one part, as a raw int16 in its unit."""

    system_type: int
    system_address: int
    part_type: int
    zone: int
    position: int
    analog_type: int
    value: int
    time: datetime | None


class SystemStatus(Struct, frozen=True):
    """Data-unit type 1: the status of a whole facility system (a fire alarm panel ...)."""

    system_type: int
    system_address: int
    status: int
    time: datetime | None


class SystemOperation(Struct, frozen=True):
    """Data-unit type 4: an operation on a facility system (reset, silence ...)."""

    system_type: int
    system_address: int
    flags: int
    operator: int
    time: datetime | None


class DeviceStatus(Struct, frozen=True):
    """Data-unit type 21: the transmission device's own status (fire, faults, power)."""

    status: int
    time: datetime | None


class DeviceOperation(Struct, frozen=True):
    """Data-unit type 24: an operation on the transmission device itself."""

    flags: int
    operator: int
    time: datetime | None


GbObject = (
    PartStatus | AnalogValue | SystemStatus | SystemOperation | DeviceStatus | DeviceOperation
)


def _part(fields: tuple[Any, ...]) -> GbObject:
    sys_type, sys_addr, part, zone, position, status, description, stamp = fields
    return PartStatus(
        sys_type,
        sys_addr,
        part,
        zone,
        position,
        status,
        _description(description),
        read_time(stamp),
    )


def _timed(kind: Callable[..., GbObject]) -> Callable[[tuple[Any, ...]], GbObject]:
    def build(fields: tuple[Any, ...]) -> GbObject:
        *head, stamp = fields
        return kind(*head, read_time(stamp))

    return build


# data-unit type -> (object layout, builder from the unpacked fields)
_LAYOUTS: Final[dict[int, tuple[struct.Struct, Callable[[tuple[Any, ...]], GbObject]]]] = {
    SYSTEM_STATUS: (_SYSTEM, _timed(SystemStatus)),
    PART_STATUS: (_PART, _part),
    ANALOG_VALUE: (_ANALOG, _timed(AnalogValue)),
    SYSTEM_OPERATION: (_SYSTEM_OP, _timed(SystemOperation)),
    DEVICE_STATUS: (_DEVICE, _timed(DeviceStatus)),
    DEVICE_OPERATION: (_DEVICE_OP, _timed(DeviceOperation)),
}
UPLOAD_TYPES: Final = frozenset(_LAYOUTS)


class GbFrame(Struct, frozen=True):
    """One frame. ``unit_type`` is None for an empty data unit (confirm, deny)."""

    serial: int
    time: datetime | None
    source: int
    destination: int
    command: int
    unit_type: int | None = None
    objects: tuple[GbObject, ...] = ()
    version: tuple[int, int] = (1, 1)


def checksum(data: bytes) -> int:
    """Return the GB/T 26875.3 checksum: the byte sum mod 256."""
    return sum(data) & 0xFF


def read_time(raw: bytes) -> datetime | None:
    """Return the CST time of six bytes sec, min, hour, day, month, year-2000, or None."""
    sec, minute, hour, day, month, year = raw
    try:
        return datetime(2000 + year, month, day, hour, minute, sec, tzinfo=CST)
    except ValueError:
        return None


def write_time(when: datetime | None) -> bytes:
    """Return the six time bytes of ``when`` in CST (zeros, an invalid date, for None)."""
    if when is None:
        return bytes(TIME_SIZE)
    local = when.astimezone(CST)
    if not 2000 <= local.year <= 2099:
        raise ValueError(f"{local.isoformat()} is outside 2000-2099")
    return bytes(
        (local.second, local.minute, local.hour, local.day, local.month, local.year - 2000)
    )


def _description(raw: bytes) -> str:
    # Text is informational: a garbled byte must not cost the alarm it describes.
    return raw.split(b"\x00", 1)[0].decode("gb18030", errors="replace").rstrip()


def parse_header(frame: bytes) -> GbFrame:
    """Decode the header of a checked frame only: serial, time, addresses, command, version.

    What a centre needs to answer a frame (echo the serial, swap the addresses) even when its
    data unit cannot be parsed.
    """
    serial, major, minor, when, source, destination, _, command = _HEADER.unpack_from(
        frame, len(START)
    )
    return GbFrame(
        serial=serial,
        time=read_time(when),
        source=int.from_bytes(source, "little"),
        destination=int.from_bytes(destination, "little"),
        command=command,
        version=(major, minor),
    )


def unit_length(frame: bytes | bytearray) -> int:
    """Return the data-unit length a frame's header declares (bytes 24-25)."""
    return int.from_bytes(frame[24:26], "little")


def parse_frame(frame: bytes) -> GbFrame:
    """Decode one complete frame whose length, end bytes and checksum were already checked."""
    head = parse_header(frame)
    length, command = unit_length(frame), head.command
    if length == 0:
        return head
    if length < 2:
        raise DecodeError("bad_frame", frame, detail="data unit shorter than its 2-byte head")
    unit_type, count = frame[HEADER_SIZE], frame[HEADER_SIZE + 1]
    if command not in {SEND_DATA, ANSWER} or unit_type not in _LAYOUTS:
        return replace(head, unit_type=unit_type)
    layout, build = _LAYOUTS[unit_type]
    if length != 2 + count * layout.size:
        raise DecodeError(
            "bad_frame",
            frame,
            detail=f"{count} objects of type {unit_type} need {2 + count * layout.size} bytes, "
            f"data unit has {length}",
        )
    objects = tuple(
        build(layout.unpack_from(frame, offset))
        for offset in range(HEADER_SIZE + 2, HEADER_SIZE + length, layout.size)
    )
    return replace(head, unit_type=unit_type, objects=objects)


def split_frames(raw: bytes) -> Iterator[bytes | DecodeError]:
    """Yield each checked frame of a payload, or the error that ends or skips one.

    A bad checksum skips only that frame (its length is still trustworthy); wrong start or end
    bytes or a truncated frame end the walk, as no later boundary can be trusted.
    """
    offset = 0
    while offset < len(raw):
        rest = raw[offset:]
        if rest[:2] != START[: len(rest[:2])]:
            yield DecodeError("bad_frame", raw, detail=f"byte {offset}: no '@@' start")
            return
        if len(rest) < OVERHEAD:
            yield DecodeError("truncated_frame", raw, detail=f"byte {offset}: {len(rest)} bytes")
            return
        length = unit_length(rest)
        if length > MAX_UNIT:
            yield DecodeError("bad_frame", raw, detail=f"byte {offset}: data unit {length} B")
            return
        size = OVERHEAD + length
        if len(rest) < size:
            yield DecodeError("truncated_frame", raw, detail=f"byte {offset}: {len(rest)}/{size}")
            return
        frame = rest[:size]
        if frame[-2:] != END:
            yield DecodeError("bad_frame", raw, detail=f"byte {offset}: no '##' end")
            return
        stored, computed = frame[-3], checksum(frame[2:-3])
        offset += size
        if stored != computed:
            yield DecodeError(
                "bad_checksum", raw, detail=f"stored {stored:#04x}, computed {computed:#04x}"
            )
            continue
        yield frame


def encode(frame: GbFrame) -> bytes:
    """Build the bytes of ``frame`` with its length and checksum (for simulators and tests)."""
    unit = b""
    if frame.unit_type is not None:
        unit = bytes((frame.unit_type, len(frame.objects)))
        unit += b"".join(_encode_object(obj) for obj in frame.objects)
    return encode_unit(frame, unit)


def encode_unit(frame: GbFrame, unit: bytes) -> bytes:
    """Build a frame from ``frame``'s header fields and a data unit given as bytes.

    For the centre's commands, whose objects (a time, a timeout) are not upload objects.
    """
    if len(unit) > MAX_UNIT:
        raise ValueError(f"data unit of {len(unit)} bytes > {MAX_UNIT}")
    body = _HEADER.pack(
        frame.serial,
        *frame.version,
        write_time(frame.time),
        frame.source.to_bytes(6, "little"),
        frame.destination.to_bytes(6, "little"),
        len(unit),
        frame.command,
    )
    body += unit
    return START + body + bytes((checksum(body),)) + END


_LAYOUT_OF: Final[dict[type[GbObject], struct.Struct]] = {
    SystemStatus: _SYSTEM,
    AnalogValue: _ANALOG,
    SystemOperation: _SYSTEM_OP,
    DeviceStatus: _DEVICE,
    DeviceOperation: _DEVICE_OP,
}


def _encode_object(obj: GbObject) -> bytes:
    if isinstance(obj, PartStatus):
        text = obj.description.encode("gb18030")
        if len(text) > DESCRIPTION_SIZE:
            raise ValueError(f"description is {len(text)} bytes of GB 18030 > 31")
        return _PART.pack(*astuple(obj)[:6], text, write_time(obj.time))
    *fields, when = astuple(obj)
    return _LAYOUT_OF[type(obj)].pack(*fields, write_time(when))
