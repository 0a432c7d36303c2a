"""JSON event decoder: CONTRACT §1 events, rejections of single events and of whole payloads."""

from __future__ import annotations

from datetime import timedelta

import pytest

from devices.models import DeviceEvent
from tests.unit.json_codec_support import DEV, T0, TS, event, metrics, reasons, tele, whole


def test_contract_event() -> None:
    decoded = event(
        {
            "ts": "2026-11-26T06:31:05Z",
            "seq": 1044,
            "type": "smoke_alarm",
            "detail": {"smoke_pct": 12.5},
        }
    )
    assert decoded.records == [
        DeviceEvent(DEV, T0 + timedelta(seconds=65), 1044, "smoke_alarm", {"smoke_pct": 12.5})
    ]


def test_event_batch_keeps_neighbours_of_unknown_type() -> None:
    decoded = event(
        {
            "events": [
                {"ts": TS, "type": "heartbeat"},
                {"ts": TS, "type": "explosion"},
                {"ts": TS, "type": "tilt", "detail": None},
            ]
        }
    )
    assert [(r.type, r.detail) for r in decoded.records if isinstance(r, DeviceEvent)] == [
        ("heartbeat", {}),
        ("tilt", {}),
    ]
    assert reasons(decoded) == [("events[1].type", "unknown_event_type")]


@pytest.mark.parametrize(
    ("item", "where", "reason"),
    [
        ({"ts": TS}, "events[1].type", "missing_field"),
        ({"ts": TS, "type": 3}, "events[1].type", "wrong_type"),
        ({"ts": TS, "type": "fault", "detail": "oops"}, "events[1].detail", "wrong_type"),
        ({"type": "fault"}, "events[1].ts", "missing_field"),
        ({"ts": "2030-01-01T00:00:00Z", "type": "fault"}, "events[1].ts", "future_time"),
        ({"ts": TS, "seq": 2**40, "type": "fault"}, "events[1].seq", "bad_seq"),
        ("fault", "events[1]", "wrong_type"),
    ],
)
def test_bad_event_is_rejected_alone(item: object, where: str, reason: str) -> None:
    decoded = event(
        {"events": [{"ts": TS, "type": "installed"}, item, {"ts": TS, "type": "moved"}]}
    )
    assert [r.type for r in decoded.records if isinstance(r, DeviceEvent)] == ["installed", "moved"]
    assert reasons(decoded) == [(where, reason)]


def test_event_detail_entries_jsonb_cannot_hold_are_dropped_event_kept() -> None:
    raw = (
        b'{"ts": "2026-11-26T06:30:00Z", "type": "smoke_alarm", "detail": '
        b'{"smoke_pct": NaN, "note": "a\\u0000b", "deep": {"x": [1, Infinity]}, '
        b'"ok": "\xe7\x83\x9f"}}'
    )
    decoded = event(raw)
    assert decoded.records == [DeviceEvent(DEV, T0, None, "smoke_alarm", {"ok": "烟"})]
    assert reasons(decoded) == [
        ("detail.smoke_pct", "nan"),
        ("detail.note", "wrong_type"),
        ("detail.deep.x[1]", "infinite"),
    ]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty_payload"),
        (b'{"ts": 1, "type": "fault"', "bad_json"),
        (b"\xc3\x28", "not_utf8"),
        (b"42", "not_an_object"),
        (b'{"ts": "2026-11-26T06:30:00Z"}', "missing_field"),
        (b'{"events": []}', "empty_batch"),
        (b'{"events": "x"}', "wrong_type"),
        (b'{"device_id": "X", "ts": 1, "type": "fault"}', "device_mismatch"),
    ],
)
def test_event_whole_payload_reasons(payload: bytes, reason: str) -> None:
    assert whole(event, payload) == reason


def test_lone_surrogates_from_the_stdlib_fallback_are_contained() -> None:
    # msgspec refuses a lone surrogate escape, the stdlib accepts it: neither may reach storage.
    decoded = tele(b'{"ts": "2026-11-26T06:30:00Z", "values": {"\\ud800": 1, "battery_pct": 3}}')
    assert reasons(decoded) == [("values", "bad_metric_name")]
    assert metrics(decoded) == [("battery_pct", 3.0)]
    decoded = event(b'{"ts": "2026-11-26T06:30:00Z", "type": "tamper", "detail": {"x": "\\udfff"}}')
    assert decoded.records == [DeviceEvent(DEV, T0, None, "tamper", {})]
    assert reasons(decoded) == [("detail.x", "wrong_type")]
    for part in decoded.rejections:
        part.detail.encode("utf-8")


def test_event_batch_too_large() -> None:
    assert whole(event, {"events": [{"ts": TS, "type": "heartbeat"}] * 1001}) == "batch_too_large"
