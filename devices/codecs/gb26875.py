"""GB/T 26875.3-2011 frames from a user-information transmission device (codec ``gb26875``).

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

Objects we turn into records (each followed by its 6-byte time):
type 2 part status, 40 B: system type, system address, part type, part address (zone u16,
position u16), status u16, description 31 B of GB 18030 padded with NUL;
type 3 analog value, 10 B: system type, system address, part type, part address, analog type,
value int16.

One transmission device reports many parts (every detector on a fire-alarm panel), often
several in the same second, and the frame has no per-object counter. So each record's ``seq`` is
the part's address, ``part_seq``: (device, type or metric, time, seq) then tells two parts apart,
while a frame re-sent after a lost confirm still gives the same identities and is stored once.

Frame and object times carry no zone. The devices are installed in China and keep local time,
so they are read as China Standard Time (UTC+08:00, no daylight saving) and stored in UTC.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

from msgspec import Struct
from msgspec.structs import astuple, replace

from devices.exceptions import DecodeError
from devices.metrics import check_value
from devices.models import Decoded, DecodePolicy, DeviceEvent, PartRejection, Reading
from devices.timefmt import BadTime, apply_time_policy

CST: Final = timezone(timedelta(hours=8), "CST")
START: Final = b"@@"
END: Final = b"##"
HEADER_SIZE: Final = 27
OVERHEAD: Final = HEADER_SIZE + 3  # checksum + end
MAX_UNIT: Final = 1024
SEND_DATA: Final = 2
CONFIRM: Final = 3
PART_STATUS: Final = 2
ANALOG_VALUE: Final = 3
DESCRIPTION_SIZE: Final = 31
TIME_SIZE: Final = 6

FIRE_BIT: Final = 1 << 1
FAULT_BIT: Final = 1 << 2
STATUS_BITS: Final = {
    1: "fire",
    2: "fault",
    3: "disabled",
    4: "supervisory",
    5: "started",
    8: "power_fault",
    9: "backup_power_fault",
}
PART_KINDS: Final = {
    23: "manual_call_point",
    24: "hydrant_button",
    40: "smoke",
    41: "ion_smoke",
    42: "photoelectric_smoke",
    91: "fire_pump",
    92: "fire_water_tank",
    99: "pressure_switch",
}
# analog type -> (metric, raw units per metric unit)
ANALOG_METRICS: Final = {
    3: ("temp_c", 10),  # 0.1 °C
    4: ("pressure_mpa", 10),  # 0.1 MPa
    5: ("pressure_mpa", 10_000),  # 0.1 kPa
    8: ("battery_v", 10),  # 0.1 V
}
_FRAME_FAULTS: Final = frozenset(
    {"bad_frame", "truncated_frame", "bad_checksum", "unsupported_frame"}
)

# serial, version major, version minor, time, source, destination, unit length, command
_HEADER: Final = struct.Struct("<HBB6s6s6sHB")
# system type, system address, part type, zone, position, status, description, time
_PART: Final = struct.Struct("<BBBHHH31s6s")
# system type, system address, part type, zone, position, analog type, value, time
_ANALOG: Final = struct.Struct("<BBBHHBh6s")


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


GbObject = PartStatus | AnalogValue


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


def parse_frame(frame: bytes) -> GbFrame:
    """Decode one complete frame whose length, end bytes and checksum were already checked."""
    serial, major, minor, when, source, destination, length, command = _HEADER.unpack_from(
        frame, len(START)
    )
    head = GbFrame(
        serial=serial,
        time=read_time(when),
        source=int.from_bytes(source, "little"),
        destination=int.from_bytes(destination, "little"),
        command=command,
        version=(major, minor),
    )
    if length == 0:
        return head
    if length < 2:
        raise DecodeError("bad_frame", frame, detail="data unit shorter than its 2-byte head")
    unit_type, count = frame[HEADER_SIZE], frame[HEADER_SIZE + 1]
    if command != SEND_DATA or unit_type not in (PART_STATUS, ANALOG_VALUE):
        return replace(head, unit_type=unit_type)
    layout = _PART if unit_type == PART_STATUS else _ANALOG
    if length != 2 + count * layout.size:
        raise DecodeError(
            "bad_frame",
            frame,
            detail=f"{count} objects of type {unit_type} need {2 + count * layout.size} bytes, "
            f"data unit has {length}",
        )
    objects: list[GbObject] = []
    for offset in range(HEADER_SIZE + 2, HEADER_SIZE + length, layout.size):
        fields = layout.unpack_from(frame, offset)
        # system type, system address, part type, zone, position: the same in both layouts
        sys_type, sys_addr, part, zone, pos, mid, last, stamp = fields
        if unit_type == PART_STATUS:  # mid: status, last: description
            obj: GbObject = PartStatus(
                sys_type, sys_addr, part, zone, pos, mid, _description(last), read_time(stamp)
            )
        else:  # mid: analog type, last: value
            obj = AnalogValue(sys_type, sys_addr, part, zone, pos, mid, last, read_time(stamp))
        objects.append(obj)
    return replace(head, unit_type=unit_type, objects=tuple(objects))


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
        length = int.from_bytes(rest[24:26], "little")
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


def _encode_object(obj: GbObject) -> bytes:
    if isinstance(obj, PartStatus):
        text = obj.description.encode("gb18030")
        if len(text) > DESCRIPTION_SIZE:
            raise ValueError(f"description is {len(text)} bytes of GB 18030 > 31")
        return _PART.pack(*astuple(obj)[:6], text, write_time(obj.time))
    return _ANALOG.pack(*astuple(obj)[:7], write_time(obj.time))


def decode(raw: bytes, *, device_id: str, received_at: datetime, policy: DecodePolicy) -> Decoded:
    """Decode one or more concatenated frames into events and readings."""
    if not raw:
        raise DecodeError("empty_payload", raw)
    out = Decoded()
    failures: list[DecodeError] = []  # whole-frame problems, in order
    objects = 0
    for index, item in enumerate(split_frames(raw)):
        frame: GbFrame | DecodeError
        try:
            frame = parse_frame(item) if isinstance(item, bytes) else item
        except DecodeError as exc:
            frame = DecodeError(exc.reason, raw, detail=exc.detail)
        if isinstance(frame, DecodeError):
            failures.append(frame)
            out.rejections.append(PartRejection(f"frames[{index}]", frame.reason, frame.detail))
            continue
        objects += len(frame.objects)
        if objects > policy.max_batch_samples:
            raise DecodeError(
                "batch_too_large", raw, detail=f"more than {policy.max_batch_samples} objects"
            )
        map_frame(
            frame,
            f"frames[{index}]",
            out,
            device_id=device_id,
            received_at=received_at,
            policy=policy,
        )
    # A rejected value or time is a finding about data the device sent and is returned as a
    # part rejection; frame faults and unmapped content alone make the payload unusable.
    if out.records or any(part.reason not in _FRAME_FAULTS for part in out.rejections):
        return out
    if failures:
        raise failures[0]
    raise DecodeError(
        "unsupported_frame",
        raw,
        detail="; ".join(f"{part.where}: {part.detail}" for part in out.rejections)[:500],
    )


def map_frame(
    frame: GbFrame,
    where: str,
    out: Decoded,
    *,
    device_id: str,
    received_at: datetime,
    policy: DecodePolicy,
) -> None:
    """Append the records ``frame`` maps to, and a rejection for each part that maps to none."""
    if frame.command != SEND_DATA or frame.unit_type not in (PART_STATUS, ANALOG_VALUE):
        out.rejections.append(
            PartRejection(
                where,
                "unsupported_frame",
                f"command {frame.command}, data unit type {frame.unit_type}",
            )
        )
        return
    for index, obj in enumerate(frame.objects):
        at = f"{where}.objects[{index}]"
        if obj.time is None:
            out.rejections.append(PartRejection(f"{at}.time", "bad_time", "not a valid date"))
            continue
        try:
            ts = apply_time_policy(obj.time.astimezone(UTC), received_at=received_at, policy=policy)
        except BadTime as exc:
            out.rejections.append(PartRejection(f"{at}.time", exc.reason, exc.detail))
            continue
        if isinstance(obj, PartStatus):
            _map_status(obj, frame, at, ts, out, device_id=device_id)
        else:
            _map_analog(obj, at, ts, out, device_id=device_id)


def part_seq(obj: GbObject) -> int:
    """Return the part's address as one integer (48 bits): the record's ``seq``."""
    return obj.system_type << 40 | obj.system_address << 32 | obj.zone << 16 | obj.position


def _map_status(
    obj: PartStatus, frame: GbFrame, at: str, ts: datetime, out: Decoded, *, device_id: str
) -> None:
    kinds = []
    # Any part reporting fire is a fire alarm (a manual call point too); part_type in the
    # detail tells the rules and the operator which kind of part it was.
    if obj.status & FIRE_BIT:
        kinds.append("smoke_alarm")
    if obj.status & FAULT_BIT:
        kinds.append("fault")
    if not kinds:
        out.rejections.append(
            PartRejection(f"{at}.status", "unsupported_frame", f"status {obj.status:#06x}")
        )
        return
    detail: dict[str, Any] = {
        "system_type": obj.system_type,
        "system_address": obj.system_address,
        "part_type": obj.part_type,
        "part_kind": PART_KINDS.get(obj.part_type, "other"),
        "part_address": f"{obj.zone}-{obj.position}",
        "status": obj.status,
        "status_bits": [name for bit, name in STATUS_BITS.items() if obj.status >> bit & 1],
        "description": obj.description,
        "source_address": frame.source,
    }
    for kind in kinds:
        out.records.append(DeviceEvent(device_id, ts, part_seq(obj), kind, dict(detail)))


def _map_analog(obj: AnalogValue, at: str, ts: datetime, out: Decoded, *, device_id: str) -> None:
    mapped = ANALOG_METRICS.get(obj.analog_type)
    if mapped is None:
        out.rejections.append(
            PartRejection(f"{at}.analog_type", "unsupported_frame", f"type {obj.analog_type}")
        )
        return
    metric, scale = mapped
    value = obj.value / scale
    reason = check_value(metric, value)
    if reason is not None:
        out.rejections.append(PartRejection(f"{at}.value", reason, f"{metric}={value}"))
        return
    out.records.append(Reading(device_id, ts, part_seq(obj), metric, value))
