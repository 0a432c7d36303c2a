"""GB/T 26875.3-2011 frames from a user-information transmission device (codec ``gb26875``).

``decode`` splits and parses the payload with ``devices.codecs.gb26875_frame`` (the frame
layout, byte by byte, is documented there) and maps the objects to records here. Status and
operation objects (data-unit types 1, 2, 4, 21, 24) are read as named flags, and the flags that
mean something to the rules become device events: fire (and a manual alarm) ``smoke_alarm``,
any fault or power failure ``fault``, reset and alarm cleared ``alarm_cleared``, silence
``silenced``, self-test ``self_test``. An analog value (type 3) of a known analog type becomes a
reading. Every other part is a part rejection.

One transmission device reports many parts (every detector on a fire-alarm panel), often
several in the same second, and the frame has no per-object counter. So each record's ``seq`` is
the part's address, ``part_seq``: (device, type or metric, time, seq) then tells two parts apart,
while a frame re-sent after a lost confirm still gives the same identities and is stored once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from devices.codecs.gb26875_frame import (
    SEND_DATA,
    UPLOAD_TYPES,
    AnalogValue,
    DeviceOperation,
    DeviceStatus,
    GbFrame,
    GbObject,
    PartStatus,
    SystemOperation,
    SystemStatus,
    parse_frame,
    split_frames,
)
from devices.exceptions import DecodeError
from devices.metrics import check_value
from devices.models import Decoded, DecodePolicy, DeviceEvent, PartRejection, Reading
from devices.timefmt import BadTime, apply_time_policy

FIRE_BIT: Final = 1 << 1
FAULT_BIT: Final = 1 << 2
# Flag names by bit, per kind of object (GB/T 26875.3-2011 §8.2).
STATUS_BITS: Final = {  # type 2, a part
    1: "fire",
    2: "fault",
    3: "disabled",
    4: "supervisory",
    5: "started",
    6: "feedback",
    7: "delay",
    8: "power_fault",
    9: "backup_power_fault",
}
SYSTEM_BITS: Final = {  # type 1, a facility system (a fire alarm panel): a part's, and more
    **STATUS_BITS,
    10: "bus_fault",
    11: "manual_mode",
    12: "config_changed",
    13: "reset",
}
DEVICE_BITS: Final = {  # type 21, the transmission device itself
    0: "normal",
    1: "fire",
    2: "fault",
    3: "power_fault",
    4: "backup_power_fault",
    5: "channel_fault",
    6: "line_fault",
}
OPERATION_BITS: Final = {  # type 4: what an operator did at a facility system
    0: "reset",
    1: "silence",
    2: "manual_alarm",
    3: "alarm_cleared",
    4: "self_test",
    5: "confirm",
    6: "test",
}
# type 24, at the transmission device: bit 5 is its answer to the centre's duty check (查岗)
DEVICE_OPERATION_BITS: Final = {**OPERATION_BITS, 5: "duty_check_answer"}
# Flags the rules act on -> the device event they become (others are kept in the detail).
FLAG_EVENTS: Final = {
    "fire": "smoke_alarm",
    "manual_alarm": "smoke_alarm",
    "fault": "fault",
    "power_fault": "fault",
    "backup_power_fault": "fault",
    "bus_fault": "fault",
    "channel_fault": "fault",
    "line_fault": "fault",
    "reset": "alarm_cleared",
    "alarm_cleared": "alarm_cleared",
    "silence": "silenced",
    "self_test": "self_test",
    "duty_check_answer": "duty_check_answered",
}
# The seq of the transmission device's own records (types 21, 24): no part has this address.
DEVICE_SEQ: Final = 0xFFFF << 32
# part type -> what it is (DOMAIN.md §3)
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
    if frame.command != SEND_DATA or frame.unit_type not in UPLOAD_TYPES:
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
        if isinstance(obj, AnalogValue):
            _map_analog(obj, at, ts, out, device_id=device_id)
        else:
            _map_flags(obj, frame, at, ts, out, device_id=device_id)


def flags_of(obj: GbObject) -> tuple[int, list[str]]:
    """Return a status or operation object's raw flags and their names (analog: none)."""
    if isinstance(obj, PartStatus):
        value, names = obj.status, STATUS_BITS
    elif isinstance(obj, SystemStatus):
        value, names = obj.status, SYSTEM_BITS
    elif isinstance(obj, DeviceStatus):
        value, names = obj.status, DEVICE_BITS
    elif isinstance(obj, SystemOperation):
        value, names = obj.flags, OPERATION_BITS
    elif isinstance(obj, DeviceOperation):
        value, names = obj.flags, DEVICE_OPERATION_BITS
    else:
        return 0, []
    return value, [name for bit, name in names.items() if value >> bit & 1]


def event_kinds(obj: GbObject) -> list[str]:
    """Return the device events an object's flags become, each once, in flag order."""
    names = flags_of(obj)[1]
    kinds = list(dict.fromkeys(k for k in map(FLAG_EVENTS.get, names) if k is not None))
    if not kinds and names == ["normal"]:
        # The device's periodic "all is well" (type 21): proof of life for the silence rule.
        return ["heartbeat"]
    return kinds


def carries_fire(frame: GbFrame) -> bool:
    """Tell whether a parsed frame reports a fire (a centre handles those before all else)."""
    return frame.command == SEND_DATA and any(
        "smoke_alarm" in event_kinds(obj) for obj in frame.objects
    )


def answers_duty_check(frame: GbFrame) -> bool:
    """Tell whether a parsed frame carries the device's answer to a duty check (查岗)."""
    return frame.command == SEND_DATA and any(
        isinstance(obj, DeviceOperation) and "duty_check_answer" in flags_of(obj)[1]
        for obj in frame.objects
    )


def part_seq(obj: GbObject) -> int:
    """Return the object's address as one integer (48 bits): the record's ``seq``.

    A part's is (system type, system address, zone, position); a system's has zone and position
    0; the transmission device's own is ``DEVICE_SEQ``.
    """
    if isinstance(obj, DeviceStatus | DeviceOperation):
        return DEVICE_SEQ
    seq = obj.system_type << 40 | obj.system_address << 32
    if isinstance(obj, PartStatus | AnalogValue):
        seq |= obj.zone << 16 | obj.position
    return seq


def _map_flags(
    obj: GbObject, frame: GbFrame, at: str, ts: datetime, out: Decoded, *, device_id: str
) -> None:
    value, names = flags_of(obj)
    kinds = event_kinds(obj)
    if not kinds:
        out.rejections.append(
            PartRejection(f"{at}.status", "unsupported_frame", f"flags {value:#06x} {names}")
        )
        return
    detail = _detail(obj, frame, value, names)
    for kind in kinds:
        out.records.append(DeviceEvent(device_id, ts, part_seq(obj), kind, dict(detail)))


def _detail(obj: GbObject, frame: GbFrame, value: int, names: list[str]) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    if isinstance(obj, PartStatus):
        # part_type tells the rules and the operator which kind of part it was
        detail |= {
            "system_type": obj.system_type,
            "system_address": obj.system_address,
            "part_type": obj.part_type,
            "part_kind": PART_KINDS.get(obj.part_type, "other"),
            "part_address": f"{obj.zone}-{obj.position}",
            "description": obj.description,
        }
    elif isinstance(obj, SystemStatus | SystemOperation):
        detail |= {"system_type": obj.system_type, "system_address": obj.system_address}
    if isinstance(obj, SystemOperation | DeviceOperation):
        detail |= {"operation": value, "operations": names, "operator": obj.operator}
    else:
        detail |= {"status": value, "status_bits": names}
    detail["source_address"] = frame.source
    return detail


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
