"""The hazard report decoder: CONTRACT §1 fields, coordinates converted to WGS-84, rejections."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.codecs.json_report import decode
from devices.exceptions import DecodeError
from devices.geo import Crs, from_wgs84, haversine_m
from devices.models import DecodePolicy

RECEIVED = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
SHA = "ab" * 32
EXAMPLE: dict[str, Any] = {
    "report_id": "1f0c7a52-5d1e-4f7e-9a33-0b8f1c2d3e4f",
    "ts": "2026-11-26T07:12:00+08:00",
    "category": "combustibles_in_corridor",
    "description": "3号楼2单元楼道堆放纸箱",
    "position": {"lat": 31.24806, "lon": 121.58741, "crs": "gcj02"},
    "photos": [SHA],
    "unit_id": "U-0012",
}


def run(doc: dict[str, Any] | bytes, terminal: str = "T1") -> Any:
    raw = doc if isinstance(doc, bytes) else json.dumps(doc, ensure_ascii=False).encode()
    return decode(raw, terminal_id=terminal, received_at=RECEIVED, policy=DecodePolicy())


def with_(**changes: Any) -> dict[str, Any]:
    doc = dict(EXAMPLE)
    for key, value in changes.items():
        if value is ...:
            doc.pop(key)
        else:
            doc[key] = value
    return doc


def test_contract_example_is_decoded_with_its_position_in_wgs84() -> None:
    report = run(EXAMPLE)
    assert report.report_id == EXAMPLE["report_id"]
    assert report.terminal_id == "T1"
    assert report.ts == datetime(2026, 11, 25, 23, 12, tzinfo=UTC)
    assert (report.category, report.description) == (
        "combustibles_in_corridor",
        "3号楼2单元楼道堆放纸箱",
    )
    assert (report.photos, report.unit_id) == ([SHA], "U-0012")
    assert report.lat is not None
    assert report.lon is not None
    # GCJ-02 is some 500 m from WGS-84 here; converting back lands on the sent point.
    assert haversine_m(report.lat, report.lon, 31.24806, 121.58741) > 300
    back = from_wgs84(report.lat, report.lon, Crs.GCJ02)
    assert haversine_m(*back, 31.24806, 121.58741) < 0.05


def test_domain_test_vector_converts_in_under_half_a_metre() -> None:
    report = run(
        with_(position={"lat": 31.278648624428175, "lon": 120.60109998322247, "crs": "gcj02"})
    )
    assert haversine_m(report.lat, report.lon, 31.280844, 120.596931) < 0.5


def test_wgs84_is_the_default_crs_and_bd09_is_converted() -> None:
    plain = run(with_(position={"lat": 31.25, "lon": 121.59}))
    assert (plain.lat, plain.lon) == (31.25, 121.59)
    bd = from_wgs84(31.25, 121.59, Crs.BD09)
    baidu = run(with_(position={"lat": bd[0], "lon": bd[1], "crs": "bd09"}))
    assert haversine_m(baidu.lat, baidu.lon, 31.25, 121.59) < 0.5


def test_position_description_photos_and_unit_are_optional() -> None:
    report = run(with_(position=..., description=..., photos=..., unit_id=...))
    assert (report.lat, report.lon, report.description, report.photos, report.unit_id) == (
        None,
        None,
        "",
        [],
        None,
    )


def test_ids_and_hashes_are_canonicalised() -> None:
    report = run(
        with_(report_id=EXAMPLE["report_id"].upper(), photos=[SHA.upper(), SHA, "cd" * 32])
    )
    assert report.report_id == EXAMPLE["report_id"]
    assert report.photos == [SHA, "cd" * 32]


@pytest.mark.parametrize("report_id", ["R-20261126-0001", "SHMK.report_7", "42"])
def test_a_vendor_report_number_is_kept_as_sent(report_id: str) -> None:
    assert run(with_(report_id=report_id)).report_id == report_id


def test_unix_millis_time_and_matching_terminal_id_are_accepted() -> None:
    when = datetime(2026, 11, 25, 23, 12, tzinfo=UTC)
    report = run(with_(ts=int(when.timestamp() * 1000), terminal_id="T1"))
    assert report.ts == when


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (b"", "empty_payload"),
        (b"{not json", "bad_json"),
        (b"[1, 2]", "not_an_object"),
        (with_(report_id=...), "missing_field"),
        (with_(report_id="R 1"), "bad_report_id"),
        (with_(report_id="R" * 65), "bad_report_id"),
        (with_(report_id="报告1"), "bad_report_id"),
        (with_(report_id=12), "bad_report_id"),
        (with_(ts=...), "missing_field"),
        (with_(ts="2026-11-26T07:12:00"), "time_without_offset"),
        (with_(ts="yesterday"), "bad_time"),
        (with_(ts=(RECEIVED + timedelta(hours=1)).isoformat()), "future_time"),
        (with_(ts="1999-01-01T00:00:00Z"), "time_too_old"),
        (with_(category=...), "missing_field"),
        (with_(category="arson"), "bad_category"),
        (with_(position=[31.2, 121.5]), "bad_position"),
        (with_(position={"lat": 31.2, "lon": 121.5, "crs": "utm"}), "bad_crs"),
        (with_(position={"lat": 91.0, "lon": 121.5}), "bad_position"),
        (with_(position={"lat": 31.2}), "bad_position"),
        (with_(position={"lat": True, "lon": 121.5}), "bad_position"),
        (with_(position={"lat": "31.2", "lon": 121.5}), "bad_position"),
        (with_(photos=SHA), "bad_photos"),
        (with_(photos=["abc"]), "bad_photos"),
        (with_(photos=["ab" * 32] * 21), "bad_photos"),
        (with_(unit_id="U 12"), "bad_unit_id"),
        (with_(description="x" * 4001), "bad_field"),
        (with_(description="a\x00b"), "bad_field"),
        (with_(terminal_id="T2"), "terminal_mismatch"),
    ],
)
def test_invalid_reports_are_rejected_with_their_reason(doc: Any, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        run(doc)
    assert caught.value.reason == reason


def test_nan_coordinates_are_rejected() -> None:
    raw = json.dumps(EXAMPLE).replace("31.24806", "NaN").encode()
    with pytest.raises(DecodeError) as caught:
        run(raw)
    assert caught.value.reason == "bad_position"


@settings(max_examples=200, deadline=None)
@given(
    lat=st.floats(min_value=18.0, max_value=53.0),
    lon=st.floats(min_value=74.0, max_value=134.0),
    crs=st.sampled_from([Crs.WGS84, Crs.GCJ02, Crs.BD09]),
)
def test_any_point_in_china_round_trips_through_any_crs(lat: float, lon: float, crs: Crs) -> None:
    shown = from_wgs84(lat, lon, crs)
    report = run(with_(position={"lat": shown[0], "lon": shown[1], "crs": crs.value}))
    assert haversine_m(report.lat, report.lon, lat, lon) < 0.5
