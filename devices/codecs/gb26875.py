"""GB/T 26875.3-2011 frames from a user-information transmission device (codec ``gb26875``).

``decode`` splits and parses the payload with ``devices.codecs.gb26875_frame`` (the frame
layout, byte by byte, is documented there) and maps the objects to records here: a part status
(data-unit type 2) with the fire or fault bit becomes a device event, an analog value (type 3)
of a known analog type becomes a reading; every other part is a part rejection.

One transmission device reports many parts (every detector on a fire-alarm panel), often
several in the same second, and the frame has no per-object counter. So each record's ``seq`` is
the part's address, ``part_seq``: (device, type or metric, time, seq) then tells two parts apart,
while a frame re-sent after a lost confirm still gives the same identities and is stored once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from devices.codecs.gb26875_frame import (
    ANALOG_VALUE,
    PART_STATUS,
    SEND_DATA,
    AnalogValue,
    GbFrame,
    GbObject,
    PartStatus,
    parse_frame,
    split_frames,
)
from devices.exceptions import DecodeError
from devices.metrics import check_value
from devices.models import Decoded, DecodePolicy, DeviceEvent, PartRejection, Reading
from devices.timefmt import BadTime, apply_time_policy

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
