"""CONTRACT §1 rules the JSON decoders must keep, found by auditing them against the contract."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from devices.codecs.json_event import decode as decode_event
from devices.codecs.json_report import decode as decode_report
from devices.codecs.json_telemetry import decode as decode_telemetry
from devices.exceptions import DecodeError
from devices.models import Decoded, DecodePolicy, Reading

DEV = "SHMK19060013"
NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
TS = "2026-11-26T06:30:00Z"
POLICY = DecodePolicy()


def _raw(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def tele(doc: dict[str, Any]) -> Decoded:
    return decode_telemetry(_raw(doc), device_id=DEV, received_at=NOW, policy=POLICY)


def event(doc: dict[str, Any]) -> Decoded:
    return decode_event(_raw(doc), device_id=DEV, received_at=NOW, policy=POLICY)


# "the service rejects a payload whose embedded ID disagrees with its topic": a batch item
# naming another device is such an embedded ID, not only the top-level field.
@pytest.mark.parametrize(
    ("call", "doc"),
    [
        (
            tele,
            {
                "samples": [
                    {"ts": TS, "values": {"battery_pct": 80}},
                    {"device_id": "OTHER", "ts": TS, "values": {"battery_pct": 81}},
                ]
            },
        ),
        (
            event,
            {
                "events": [
                    {"ts": TS, "type": "heartbeat"},
                    {"device_id": "OTHER", "ts": TS, "type": "smoke_alarm"},
                ]
            },
        ),
    ],
)
def test_batch_item_naming_another_device_rejects_the_payload(
    call: Any, doc: dict[str, Any]
) -> None:
    with pytest.raises(DecodeError) as info:
        call(doc)
    assert info.value.reason == "device_mismatch"


def test_batch_item_naming_its_own_device_is_kept() -> None:
    decoded = tele({"samples": [{"device_id": DEV, "ts": TS, "values": {"battery_pct": 80}}]})
    assert [r.value for r in decoded.records if isinstance(r, Reading)] == [80.0]
    assert decoded.rejections == []


# "Other metric names are kept as extra values and counted, not rejected": vendor firmware
# names its extra values camelCase, dotted or dashed.
@pytest.mark.parametrize("name", ["signalStrength", "CSQ", "pm2.5", "co2-ppm", "snr_db"])
def test_vendor_style_unknown_metric_names_are_kept_and_counted(name: str) -> None:
    decoded = tele({"ts": TS, "values": {name: 12.0, "battery_pct": 80}})
    assert decoded.rejections == []
    assert sorted((r.metric, r.value) for r in decoded.records if isinstance(r, Reading)) == sorted(
        [(name, 12.0), ("battery_pct", 80.0)]
    )
    assert decoded.unknown_metrics == 1


# "`crs` is `wgs84` (default)": an explicit JSON null is "not given", so the default applies.
def test_report_position_with_null_crs_is_wgs84() -> None:
    doc = {
        "report_id": "1f0c7a52-5d1e-4f7e-9a33-0b8f1c2d3e4f",
        "ts": "2026-11-26T07:12:00+08:00",
        "category": "fire",
        "position": {"lat": 31.24806, "lon": 121.58741, "crs": None},
    }
    report = decode_report(_raw(doc), terminal_id="T1", received_at=NOW, policy=POLICY)
    assert (report.lat, report.lon) == (31.24806, 121.58741)
