"""Canonical JSON device events (CONTRACT §1): one event or a batch of events.

```
{"ts": "2026-11-26T06:31:05Z", "seq": 1044, "type": "smoke_alarm", "detail": {"smoke_pct": 12.5}}
{"device_id": "...", "events": [{...}, ...]}
```

An event whose ``ts``, ``seq`` or ``type`` is unusable is rejected whole. A detail entry that
PostgreSQL's jsonb cannot store is dropped with its own rejection and the event is kept: an alarm
must not be lost because its free-form detail is sloppy.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from devices.codecs._json import (
    PartError,
    decode_parts,
    part_seq,
    part_time,
    reject,
    unstorable,
    where,
)
from devices.models import EVENT_TYPES, Decoded, DecodePolicy, DeviceEvent, PartRejection

_CONTAINER = "events"


def decode(raw: bytes, *, device_id: str, received_at: datetime, policy: DecodePolicy) -> Decoded:
    """Decode an event payload into device events and the parts it rejected."""
    return decode_parts(
        raw,
        device_id=device_id,
        received_at=received_at,
        policy=policy,
        container=_CONTAINER,
        single_key="type",
        part=_event,
    )


def _event(
    event: Any,
    index: int | None,
    out: Decoded,
    *,
    device_id: str,
    received_at: datetime,
    policy: DecodePolicy,
) -> None:
    if not isinstance(event, dict):
        reject(out.rejections, _CONTAINER, index, PartError("", "wrong_type", "not an object"))
        return
    try:
        ts = part_time(event, received_at=received_at, policy=policy)
        seq = part_seq(event)
        kind = _event_type(event)
        detail = _detail(event, index, out.rejections)
    except PartError as err:
        reject(out.rejections, _CONTAINER, index, err)
        return
    out.records.append(DeviceEvent(device_id, ts, seq, kind, detail))


def _event_type(event: dict[str, Any]) -> str:
    kind = event.get("type")
    if kind is None:
        raise PartError("type", "missing_field", "type is required")
    if not isinstance(kind, str):
        raise PartError("type", "wrong_type", "type must be a string")
    if kind not in EVENT_TYPES:
        raise PartError("type", "unknown_event_type", f"{kind[:64]!r} is not an event type")
    return kind


def _detail(
    event: dict[str, Any], index: int | None, rejections: list[PartRejection]
) -> dict[str, Any]:
    detail = event.get("detail")
    if detail is None:
        return {}
    if not isinstance(detail, dict):
        raise PartError("detail", "wrong_type", "detail must be an object")
    if unstorable(detail) is None:  # the common case: nothing to copy
        return detail
    kept: dict[str, Any] = {}
    for key, value in detail.items():
        bad = unstorable({key: value})
        if bad is None:
            kept[key] = value
            continue
        path, reason = bad
        rejections.append(
            PartRejection(
                where(_CONTAINER, index, f"detail.{path}"[:160]),
                reason,
                "jsonb cannot store NaN, Infinity, NUL or lone surrogates",
            )
        )
    return kept
