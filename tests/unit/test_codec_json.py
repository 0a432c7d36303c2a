"""JSON telemetry and event decoders: CONTRACT §1 payloads, malformed input, round-trips."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.codecs import RAW_CODECS, decode_event, decode_telemetry
from devices.exceptions import DecodeError
from devices.models import Decoded, DecodePolicy, DeviceEvent, PartRejection, Reading

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


# --- telemetry: part rejections keep the neighbours -------------------------------------------


def test_nan_and_infinity_tokens_reject_only_that_value() -> None:
    raw = (
        b'{"samples": [{"ts": "2026-11-26T06:30:00Z", "seq": 7, "values": '
        b'{"pressure_mpa": NaN, "battery_pct": 88, "temp_c": Infinity, "level_m": -Infinity,'
        b' "smoke_pct": 1e999}}]}'
    )
    decoded = tele(raw)
    assert decoded.records == [Reading(DEV, T0, 7, "battery_pct", 88.0)]
    assert reasons(decoded) == [
        ("samples[0].values.pressure_mpa", "nan"),
        ("samples[0].values.temp_c", "infinite"),
        ("samples[0].values.level_m", "infinite"),
        ("samples[0].values.smoke_pct", "infinite"),
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (10.5, "out_of_range"),
        (-0.01, "out_of_range"),
        ("0.3", "not_a_number"),
        (True, "not_a_number"),
        (None, "not_a_number"),
        ([0.3], "not_a_number"),
        (10**400, "out_of_range"),
    ],
)
def test_bad_value_rejects_only_that_value(value: object, reason: str) -> None:
    decoded = tele(
        {
            "samples": [
                {"ts": TS, "values": {"battery_pct": 70}},
                {"ts": TS, "values": {"pressure_mpa": value, "battery_pct": 71}},
            ]
        }
    )
    assert metrics(decoded) == [("battery_pct", 70.0), ("battery_pct", 71.0)]
    assert reasons(decoded) == [("samples[1].values.pressure_mpa", reason)]


def test_huge_integer_of_an_unknown_metric_is_rejected_not_crashed() -> None:
    decoded = tele({"ts": TS, "values": {"odometer": 10**400, "battery_pct": 5}})
    assert reasons(decoded) == [("values.odometer", "out_of_range")]
    assert metrics(decoded) == [("battery_pct", 5.0)]
    assert decoded.unknown_metrics == 0


@pytest.mark.parametrize("name", ["Pressure MPa", "1abc", "a/b", "x" * 65, "", "a\x00", "压力"])
def test_bad_metric_name_rejects_only_that_value(name: str) -> None:
    decoded = tele({"ts": TS, "values": {name: 1.0, "battery_pct": 9}})
    assert reasons(decoded) == [("values", "bad_metric_name")]
    assert metrics(decoded) == [("battery_pct", 9.0)]
    assert "\x00" not in decoded.rejections[0].detail


@pytest.mark.parametrize(
    ("sample", "where", "reason"),
    [
        ({"ts": "yesterday", "values": {"battery_pct": 1}}, "samples[1].ts", "bad_time"),
        ({"ts": True, "values": {"battery_pct": 1}}, "samples[1].ts", "bad_time"),
        ({"ts": 1.5e12, "values": {"battery_pct": 1}}, "samples[1].ts", "bad_time"),
        ({"ts": 10**30, "values": {"battery_pct": 1}}, "samples[1].ts", "bad_time"),
        (
            {"ts": "2026-11-26T06:30:00", "values": {"battery_pct": 1}},
            "samples[1].ts",
            "time_without_offset",
        ),
        (
            {"ts": "2026-11-26T08:00:00Z", "values": {"battery_pct": 1}},
            "samples[1].ts",
            "future_time",
        ),
        (
            {"ts": "1999-12-31T23:59:59Z", "values": {"battery_pct": 1}},
            "samples[1].ts",
            "time_too_old",
        ),
        ({"ts": -1, "values": {"battery_pct": 1}}, "samples[1].ts", "time_too_old"),
        ({"values": {"battery_pct": 1}}, "samples[1].ts", "missing_field"),
        ({"ts": TS, "seq": -1, "values": {"battery_pct": 1}}, "samples[1].seq", "bad_seq"),
        ({"ts": TS, "seq": 2**32, "values": {"battery_pct": 1}}, "samples[1].seq", "bad_seq"),
        ({"ts": TS, "seq": 1.0, "values": {"battery_pct": 1}}, "samples[1].seq", "bad_seq"),
        ({"ts": TS, "seq": "7", "values": {"battery_pct": 1}}, "samples[1].seq", "bad_seq"),
        ({"ts": TS, "seq": True, "values": {"battery_pct": 1}}, "samples[1].seq", "bad_seq"),
        ({"ts": TS, "values": {}}, "samples[1].values", "no_values"),
        ({"ts": TS}, "samples[1].values", "missing_field"),
        ({"ts": TS, "values": [1, 2]}, "samples[1].values", "wrong_type"),
        ([TS, 1], "samples[1]", "wrong_type"),
    ],
)
def test_bad_sample_rejects_whole_sample_and_keeps_neighbours(
    sample: object, where: str, reason: str
) -> None:
    good = {"ts": TS, "seq": 1, "values": {"pressure_mpa": 0.4}}
    decoded = tele({"samples": [good, sample, {**good, "seq": 3}]})
    assert decoded.records == [
        Reading(DEV, T0, 1, "pressure_mpa", 0.4),
        Reading(DEV, T0, 3, "pressure_mpa", 0.4),
    ]
    assert reasons(decoded) == [(where, reason)]


def test_seq_bounds_are_inclusive() -> None:
    decoded = tele(
        {"samples": [{"ts": TS, "seq": s, "values": {"battery_pct": 1}} for s in (0, 2**32 - 1)]}
    )
    assert [r.seq for r in decoded.records if isinstance(r, Reading)] == [0, 2**32 - 1]


def test_all_samples_rejected_returns_rejections_without_raising() -> None:
    decoded = tele(
        {
            "samples": [
                {"ts": "bad", "values": {"battery_pct": 1}},
                {"ts": TS, "values": {"battery_pct": 101}},
            ]
        }
    )
    assert decoded.records == []
    assert reasons(decoded) == [
        ("samples[0].ts", "bad_time"),
        ("samples[1].values.battery_pct", "out_of_range"),
    ]


def test_single_sample_rejection_is_located_without_prefix() -> None:
    decoded = tele({"ts": TS, "seq": -5, "values": {"battery_pct": 1}})
    assert decoded.records == []
    assert reasons(decoded) == [("seq", "bad_seq")]


# --- events -----------------------------------------------------------------------------------


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


def test_registry_names_the_raw_codecs() -> None:
    assert set(RAW_CODECS) == {"mk-pressure", "gb26875"}


# --- property: what a well-behaved device sends comes back unchanged --------------------------

_VALUES = st.dictionaries(
    st.sampled_from(["pressure_mpa", "battery_pct", "level_m", "smoke_pct"]),
    st.floats(min_value=0, max_value=10, allow_nan=False),
    min_size=1,
)
_SAMPLE = st.fixed_dictionaries(
    {
        "ts": st.integers(min_value=946_684_800_000, max_value=int(NOW.timestamp() * 1000)),
        "seq": st.integers(min_value=0, max_value=2**32 - 1),
        "values": _VALUES,
    }
)


@given(st.lists(_SAMPLE, min_size=1, max_size=20))
def test_telemetry_round_trip(samples: list[dict[str, Any]]) -> None:
    decoded = tele({"device_id": DEV, "samples": samples})
    expected = [
        Reading(
            DEV,
            datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=s["ts"]),
            s["seq"],
            metric,
            value,
        )
        for s in samples
        for metric, value in s["values"].items()
    ]
    assert decoded.records == expected
    assert decoded.rejections == []


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_other_errors(raw: bytes) -> None:
    for decoder in (decode_telemetry, decode_event):
        try:
            decoded = decoder(raw, device_id=DEV, received_at=NOW, policy=POLICY)
        except DecodeError:
            continue
        assert all(isinstance(part, PartRejection) for part in decoded.rejections)
