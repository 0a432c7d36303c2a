"""JSON telemetry decoder: a bad value or sample is rejected alone and its neighbours are kept."""

from __future__ import annotations

import pytest

from devices.models import Reading
from tests.unit.json_codec_support import DEV, T0, TS, metrics, reasons, tele


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
