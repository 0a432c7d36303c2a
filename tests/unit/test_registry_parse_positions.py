"""Registry import parsing of positions: GCJ-02 and BD-09 stored as WGS-84, and position errors."""

from __future__ import annotations

import json

from devices.geo import from_wgs84, haversine_m
from devices.registry import parse_devices, parse_staff, parse_units
from tests.unit.registry_support import error_fields

SUZHOU_WGS = (31.280844, 120.596931)
SUZHOU_GCJ = (31.278648624428175, 120.60109998322247)


def test_gcj02_coordinates_are_stored_as_wgs84() -> None:
    lat, lon = SUZHOU_GCJ
    row = parse_units(f"unit_id,name,lat,lon,crs\nU1,x,{lat},{lon},GCJ02\n").rows[0]
    assert row.lat is not None
    assert row.lon is not None
    assert haversine_m(row.lat, row.lon, *SUZHOU_WGS) < 0.5


def test_bd09_coordinates_are_stored_as_wgs84() -> None:
    lat, lon = from_wgs84(*SUZHOU_WGS, "bd09")
    items = [{"device_id": "D1", "kind": "smoke", "lat": lat, "lon": lon, "crs": "bd09"}]
    row = parse_devices(json.dumps(items)).rows[0]
    assert row.lat is not None
    assert row.lon is not None
    assert haversine_m(row.lat, row.lon, *SUZHOU_WGS) < 0.5
    # Without the conversion the point would be about 1 km off (DOMAIN §5).
    assert haversine_m(lat, lon, *SUZHOU_WGS) > 500


def test_mixed_systems_in_one_file_each_convert_their_own_rows() -> None:
    gcj = SUZHOU_GCJ
    bd = from_wgs84(*SUZHOU_WGS, "bd09")
    text = (
        "device_id,kind,lat,lon,crs\n"
        f"D1,smoke,{gcj[0]},{gcj[1]},gcj02\n"
        f"D2,smoke,{SUZHOU_WGS[0]},{SUZHOU_WGS[1]},\n"
        f"D3,nope,{gcj[0]},{gcj[1]},gcj02\n"
        f"D1,smoke,{bd[0]},{bd[1]},bd09\n"
        f"D4,smoke,{bd[0]},{bd[1]},bd09\n"
    )
    result = parse_devices(text)
    assert [r.device_id for r in result.rows] == ["D1", "D2", "D4"]
    for row in result.rows:
        assert row.lat is not None
        assert row.lon is not None
        assert haversine_m(row.lat, row.lon, *SUZHOU_WGS) < 0.5


def test_wgs84_is_the_default_crs() -> None:
    row = parse_devices(f"device_id,kind,lat,lon\nD1,smoke,{SUZHOU_WGS[0]},{SUZHOU_WGS[1]}\n")
    assert (row.rows[0].lat, row.rows[0].lon) == SUZHOU_WGS


def test_position_errors() -> None:
    text = (
        "device_id,kind,lat,lon,crs\n"
        "D1,smoke,91,120,\n"
        "D2,smoke,31,181,\n"
        "D3,smoke,31,,\n"
        "D4,smoke,31,120,mercator\n"
        "D5,smoke,nan,120,\n"
        "D6,smoke,,,gcj02\n"
    )
    result = parse_devices(text)
    assert [r.device_id for r in result.rows] == ["D6"]
    assert error_fields(result) == [(1, "lat"), (2, "lon"), (3, "lon"), (4, "crs"), (5, "lat")]


def test_crs_is_not_a_staff_column() -> None:
    result = parse_staff("staff_id,name,role,crs\nW1,x,operator,wgs84\n")
    assert result.errors[0].row == 0
