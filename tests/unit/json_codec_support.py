"""Helpers shared by the JSON telemetry and event decoder tests: a device, clock, decode calls."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from devices.codecs.json_event import decode as decode_event
from devices.codecs.json_telemetry import decode as decode_telemetry
from devices.exceptions import DecodeError
from devices.models import Decoded, DecodePolicy, Reading

DEV = "SHMK19060013"
NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
TS = "2026-11-26T06:30:00Z"
T0 = datetime(2026, 11, 26, 6, 30, tzinfo=UTC)
POLICY = DecodePolicy()


def tele(payload: bytes | dict[str, Any], policy: DecodePolicy = POLICY) -> Decoded:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return decode_telemetry(raw, device_id=DEV, received_at=NOW, policy=policy)


def event(payload: bytes | dict[str, Any], policy: DecodePolicy = POLICY) -> Decoded:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return decode_event(raw, device_id=DEV, received_at=NOW, policy=policy)


def reasons(decoded: Decoded) -> list[tuple[str, str]]:
    return [(part.where, part.reason) for part in decoded.rejections]


def metrics(decoded: Decoded) -> list[tuple[str, float]]:
    return [(r.metric, r.value) for r in decoded.records if isinstance(r, Reading)]


def whole(call: Any, payload: bytes | dict[str, Any]) -> str:
    with pytest.raises(DecodeError) as info:
        call(payload)
    return info.value.reason
