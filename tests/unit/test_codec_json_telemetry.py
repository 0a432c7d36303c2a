"""JSON telemetry decoder: CONTRACT §1 payloads accepted, and whole-payload failures."""

from __future__ import annotations

from datetime import timedelta

import pytest

from devices.exceptions import DecodeError
from devices.models import DecodePolicy, Reading
from tests.unit.json_codec_support import DEV, NOW, T0, TS, metrics, tele, whole

# --- telemetry: accepted payloads -------------------------------------------------------------


def test_contract_single_sample_gives_one_reading_per_value() -> None:
    decoded = tele({"ts": TS, "seq": 1042, "values": {"pressure_mpa": 0.31, "battery_pct": 88}})
    assert decoded.records == [
        Reading(DEV, T0, 1042, "pressure_mpa", 0.31),
        Reading(DEV, T0, 1042, "battery_pct", 88.0),
    ]
    assert decoded.rejections == []
    assert decoded.unknown_metrics == 0


def test_contract_batch_with_unix_ms_and_offset_times() -> None:
    ms = int(T0.timestamp() * 1000)
    decoded = tele(
        {
            "device_id": DEV,
            "samples": [
                {"ts": ms, "seq": 1043, "values": {"pressure_mpa": 0.30}},
                {"ts": "2026-11-26T14:31:00+08:00", "values": {"temp_c": -5}},
            ],
        }
    )
    assert decoded.records == [
        Reading(DEV, T0, 1043, "pressure_mpa", 0.30),
        Reading(DEV, T0 + timedelta(minutes=1), None, "temp_c", -5.0),
    ]
    assert all(r.ts.tzinfo is not None for r in decoded.records)


@pytest.mark.parametrize(
    "ts",
    ["2026-11-26T06:30:00Z", "2026-11-26t06:30:00z", "2026-11-26 06:30:00.000+00:00",
     "2026-11-26T14:30:00+0800", "2026-11-26T14:30:00+08"],
)  # fmt: skip
def test_iso_8601_spellings_of_one_instant(ts: str) -> None:
    decoded = tele({"ts": ts, "values": {"pressure_mpa": 0.3}})
    assert [r.ts for r in decoded.records] == [T0]


def test_unknown_metric_is_kept_and_counted() -> None:
    decoded = tele({"ts": TS, "values": {"cell_id": 460001, "pressure_mpa": 0.3}})
    assert metrics(decoded) == [("cell_id", 460001.0), ("pressure_mpa", 0.3)]
    assert decoded.unknown_metrics == 1


def test_future_time_is_clamped_under_clamp_policy() -> None:
    late = (NOW + timedelta(hours=1)).isoformat()
    decoded = tele({"ts": late, "values": {"battery_pct": 50}}, DecodePolicy(future_policy="clamp"))
    assert decoded.records == [Reading(DEV, NOW, None, "battery_pct", 50.0)]


# --- telemetry: whole-payload failures --------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty_payload"),
        (b'{"ts": "2026-11-26T06:30:00Z", "values": {"pressure_mpa": 0.3', "bad_json"),
        (b'{"ts": 1, values: {}}', "bad_json"),
        (b"[" * 5000, "bad_json"),
        (b'{"ts": "\xff\xfe", "values": {"battery_pct": 1}}', "not_utf8"),
        (b'[{"ts": 1, "values": {"battery_pct": 1}}]', "not_an_object"),
        (b'"text"', "not_an_object"),
        (b'{"ts": "2026-11-26T06:30:00Z", "seq": 1}', "missing_field"),
        (b'{"samples": {"ts": 1}}', "wrong_type"),
        (b'{"samples": []}', "empty_batch"),
        (b'{"device_id": 42, "ts": 1, "values": {"battery_pct": 1}}', "wrong_type"),
        (b'{"device_id": "OTHER", "ts": 1, "values": {"battery_pct": 1}}', "device_mismatch"),
    ],
)
def test_telemetry_whole_payload_reasons(payload: bytes, reason: str) -> None:
    assert whole(tele, payload) == reason


def test_decode_error_carries_raw_bytes() -> None:
    with pytest.raises(DecodeError) as info:
        tele(b"{not json")
    assert info.value.raw == b"{not json"


def test_batch_over_the_limit_is_rejected_whole() -> None:
    sample = {"ts": TS, "values": {"battery_pct": 1}}
    assert whole(tele, {"samples": [sample] * 1001}) == "batch_too_large"
    assert len(tele({"samples": [sample] * 1000}).records) == 1000
    assert whole(
        lambda p: tele(p, DecodePolicy(max_batch_samples=2)), {"samples": [sample] * 3}
    ) == ("batch_too_large")
