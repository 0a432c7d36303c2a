"""Registry import parsing: CSV and JSON in, typed rows and per-row errors out."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.geo import from_wgs84, haversine_m
from devices.models import DeviceKind
from devices.registry import (
    Agent,
    DeviceRow,
    HydrantClass,
    ParsedRows,
    Role,
    RowError,
    parse_devices,
    parse_staff,
    parse_units,
)

SUZHOU_WGS = (31.280844, 120.596931)
SUZHOU_GCJ = (31.278648624428175, 120.60109998322247)


def _fields(result: ParsedRows[DeviceRow]) -> list[tuple[int, str]]:
    return [(e.row, e.field) for e in result.errors]


def test_csv_device_row_with_every_field() -> None:
    text = (
        "device_id,kind,model,unit_id,lat,lon,crs,installed_on,manufactured_on,"
        "hydrant_class,agent,heartbeat_s,threshold.pressure_low_mpa\n"
        "SHMK19060013,hydrant,MK-P1,U-0012,31.2,121.5,wgs84,2024-03-01,2023-12-20,"
        "municipal,,3600,0.14\n"
    )
    result = parse_devices(text)
    assert result.errors == []
    assert result.rows == [
        DeviceRow(
            device_id="SHMK19060013",
            kind=DeviceKind.HYDRANT,
            model="MK-P1",
            unit_id="U-0012",
            lat=31.2,
            lon=121.5,
            installed_on=date(2024, 3, 1),
            manufactured_on=date(2023, 12, 20),
            hydrant_class=HydrantClass.MUNICIPAL,
            heartbeat_s=3600,
            thresholds={"pressure_low_mpa": 0.14},
        )
    ]


def test_empty_cells_and_missing_keys_are_not_given() -> None:
    csv_rows = parse_devices("device_id,kind,model,lat,lon,heartbeat_s\nD1,smoke, ,,,\n").rows
    json_rows = parse_devices('[{"device_id": "D1", "kind": "smoke", "model": null}]').rows
    assert csv_rows == json_rows == [DeviceRow(device_id="D1", kind=DeviceKind.SMOKE)]
    assert csv_rows[0].thresholds is None


@pytest.mark.parametrize("bom", [b"\xef\xbb\xbf", b""])
def test_utf8_with_or_without_bom(bom: bytes) -> None:
    data = bom + "unit_id,name,level\nU-1,金桥三村第7网格物业,2\n".encode()
    result = parse_units(data)
    assert result.errors == []
    assert [(r.unit_id, r.name, r.level) for r in result.rows] == [
        ("U-1", "金桥三村第7网格物业", 2)
    ]
    assert parse_units(bom + b'[{"unit_id": "U-1", "name": "x"}]').rows[0].unit_id == "U-1"


def test_bom_in_decoded_text_is_dropped() -> None:
    assert parse_units("\ufeffunit_id,name\nU-1,x\n").rows[0].unit_id == "U-1"


def test_bad_rows_are_reported_beside_good_ones_csv() -> None:
    text = (
        "device_id,kind,heartbeat_s\n"
        "D1,smoke,86400\n"
        "D 2,smoke,60\n"  # space is not allowed in an ID
        "D3,boiler,60\n"
        "D4,smoke,0\n"
        "D5,hydrant,\n"
    )
    result = parse_devices(text)
    assert [r.device_id for r in result.rows] == ["D1", "D5"]
    assert _fields(result) == [(2, "device_id"), (3, "kind"), (4, "heartbeat_s")]


def test_bad_rows_are_reported_beside_good_ones_json() -> None:
    items = [
        {"device_id": "D1", "kind": "smoke"},
        "not an object",
        {"device_id": "D3"},
        {"device_id": "D4", "kind": "smoke", "colour": "red"},
        {"device_id": "D5", "kind": "smoke", "heartbeat_s": True},
    ]
    result = parse_devices(json.dumps(items))
    assert [r.device_id for r in result.rows] == ["D1"]
    assert _fields(result) == [(2, ""), (3, "kind"), (4, "colour"), (5, "heartbeat_s")]
    assert result.errors[2].message == "unknown field"


def test_csv_row_numbers_follow_file_lines() -> None:
    text = 'device_id,kind,model\nD1,smoke,"two\nlines"\n\nD2,nope,\n'
    result = parse_devices(text)
    assert [r.model for r in result.rows] == ["two\nlines"]
    # D2 is on line 5 of the file: row 4 once the header line is taken off.
    assert _fields(result) == [(4, "kind")]


def test_more_cells_than_columns_is_a_row_error() -> None:
    result = parse_devices("device_id,kind\nD1,smoke,extra\nD2,smoke\n")
    assert [r.device_id for r in result.rows] == ["D2"]
    assert _fields(result) == [(1, "")]


def test_duplicate_ids_keep_the_first_row() -> None:
    result = parse_devices("device_id,kind\nD1,smoke\nD2,smoke\nD1,hydrant\n")
    assert [(r.device_id, r.kind) for r in result.rows] == [
        ("D1", DeviceKind.SMOKE),
        ("D2", DeviceKind.SMOKE),
    ]
    assert result.errors == [
        RowError(row=3, field="device_id", message="duplicate of row 1; the first is kept")
    ]


@pytest.mark.parametrize(
    "data",
    [
        "",
        "\n\n",
        b"\xff\xfe\x00d",
        '{"device_id": "D1", "kind": "smoke"}',
        "[{",
        "device_id,kind,colour\nD1,smoke,red\n",
        "device_id,model\nD1,x\n",
        "device_id,kind,kind\nD1,smoke,smoke\n",
        'device_id,kind\n"D1"x,smoke\n',
    ],
    ids=[
        "empty",
        "blank",
        "not-utf8",
        "json-object",
        "bad-json",
        "unknown-column",
        "missing-required-column",
        "duplicate-column",
        "bad-quoting",
    ],
)
def test_unusable_input_is_one_error_at_row_zero(data: str | bytes) -> None:
    result = parse_devices(data)
    assert result.rows == []
    assert len(result.errors) == 1
    assert result.errors[0].row == 0


def test_explicit_format_overrides_sniffing() -> None:
    result = parse_devices("device_id,kind\nD1,smoke\n", fmt="json")
    assert result.rows == []
    assert result.errors[0].row == 0


def test_header_is_case_and_space_insensitive() -> None:
    result = parse_devices(" Device_ID , KIND \nD1,Smoke\n")
    assert result.rows == [DeviceRow(device_id="D1", kind=DeviceKind.SMOKE)]


@pytest.mark.parametrize("kind", list(DeviceKind))
def test_every_device_kind(kind: DeviceKind) -> None:
    result = parse_devices(f"device_id,kind\nD1,{kind.value.upper()}\n")
    assert result.rows[0].kind is kind


@pytest.mark.parametrize("agent", list(Agent))
def test_every_agent(agent: Agent) -> None:
    rows = parse_devices(f"device_id,kind,agent\nE1,extinguisher,{agent.value}\n").rows
    assert rows[0].agent is agent


@pytest.mark.parametrize("hydrant_class", list(HydrantClass))
def test_every_hydrant_class(hydrant_class: HydrantClass) -> None:
    rows = parse_devices(f"device_id,kind,hydrant_class\nH1,hydrant,{hydrant_class.value}\n").rows
    assert rows[0].hydrant_class is hydrant_class


def test_enum_values_outside_their_sets_are_errors() -> None:
    text = (
        "device_id,kind,agent,hydrant_class\n"
        "E1,extinguisher,foam,\n"
        "H1,hydrant,,underground\n"
        "S1,smoke,water,\n"  # agent belongs to extinguishers only
        "S2,smoke,,indoor\n"  # hydrant_class belongs to hydrants only
    )
    result = parse_devices(text)
    assert result.rows == []
    assert _fields(result) == [
        (1, "agent"),
        (2, "hydrant_class"),
        (3, "agent"),
        (4, "hydrant_class"),
    ]


@pytest.mark.parametrize("role", list(Role))
def test_every_staff_role(role: Role) -> None:
    rows = parse_staff(f"staff_id,name,role\nW1,张三,{role.value}\n").rows
    assert rows[0].role is role


def test_staff_fields_and_their_errors() -> None:
    text = (
        "staff_id,name,role,area,terminal_id,phone\n"
        "W1,张三,grid_worker,310115005003007,T-860001,138 0013 8000\n"
        "W2,李四,grid_head,310115005003,,+86-21-5888 1234\n"
        "W3,王五,mayor,,,\n"
        "W4,赵六,grid_worker,31011500,,\n"
        "W5,钱七,grid_worker,,T 1,\n"
        "W6,孙八,grid_worker,,,call me\n"
        "W7,,grid_worker,,,\n"
    )
    result = parse_staff(text)
    assert [r.staff_id for r in result.rows] == ["W1", "W2"]
    assert result.rows[0].terminal_id == "T-860001"
    assert [(e.row, e.field) for e in result.errors] == [
        (3, "role"),
        (4, "area"),
        (5, "terminal_id"),
        (6, "phone"),
        (7, "name"),
    ]


@pytest.mark.parametrize("length", [6, 9, 12, 14, 15])
def test_area_code_lengths(length: int) -> None:
    code = "310115005003007"[:length].ljust(length, "1")
    assert parse_staff(f"staff_id,name,role,area\nW1,x,operator,{code}\n").rows[0].area == code


def test_json_numbers_are_accepted_as_ids_and_phones() -> None:
    result = parse_staff(
        '[{"staff_id": 1001, "name": "x", "role": "operator", "phone": 13800138000}]'
    )
    assert result.rows[0].staff_id == "1001"
    assert result.rows[0].phone == "13800138000"


@pytest.mark.parametrize("level", ["1", "2", "3"])
def test_unit_levels(level: str) -> None:
    assert parse_units(f"unit_id,name,level\nU1,x,{level}\n").rows[0].level == int(level)


@pytest.mark.parametrize("level", ["0", "4", "一级", "1.5"])
def test_unit_level_outside_one_to_three(level: str) -> None:
    result = parse_units(f"unit_id,name,level\nU1,x,{level}\n")
    assert [(e.row, e.field) for e in result.errors] == [(1, "level")]


def test_unit_name_is_required() -> None:
    result = parse_units('[{"unit_id": "U1", "level": 1}]')
    assert [(e.row, e.field) for e in result.errors] == [(1, "name")]


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
    assert _fields(result) == [(1, "lat"), (2, "lon"), (3, "lon"), (4, "crs"), (5, "lat")]


def test_crs_is_not_a_staff_column() -> None:
    result = parse_staff("staff_id,name,role,crs\nW1,x,operator,wgs84\n")
    assert result.errors[0].row == 0


def test_dates_must_be_iso_and_in_order() -> None:
    text = (
        "device_id,kind,installed_on,manufactured_on\n"
        "D1,smoke,2024-03-01,2024-03-01\n"
        "D2,smoke,2024/03/01,\n"
        "D3,smoke,2024-02-30,\n"
        "D4,smoke,2024-03-01,2024-04-01\n"
    )
    result = parse_devices(text)
    assert [r.device_id for r in result.rows] == ["D1"]
    assert _fields(result) == [(2, "installed_on"), (3, "installed_on"), (4, "manufactured_on")]


def test_json_dates_must_be_strings() -> None:
    result = parse_devices('[{"device_id": "D1", "kind": "smoke", "installed_on": 20240301}]')
    assert _fields(result) == [(1, "installed_on")]


@pytest.mark.parametrize("value", ["0", "-60", "abc", "60.5", "99999999999"])
def test_heartbeat_must_be_a_positive_int(value: str) -> None:
    result = parse_devices(f"device_id,kind,heartbeat_s\nD1,smoke,{value}\n")
    assert _fields(result) == [(1, "heartbeat_s")]


def test_id_pattern_and_length() -> None:
    ok = "A" * 64
    text = f"device_id,kind\n{ok},smoke\n{ok}B,smoke\nD/1,smoke\n864123456789012,smoke\n"
    result = parse_devices(text)
    assert [r.device_id for r in result.rows] == [ok, "864123456789012"]
    assert _fields(result) == [(2, "device_id"), (3, "device_id")]


def test_thresholds_from_csv_columns() -> None:
    text = (
        "device_id,kind,threshold.pressure_low_mpa,threshold.pressure_high_mpa\n"
        "H1,hydrant,0.14,1.2\n"
        "H2,hydrant,0.10,\n"
        "H3,hydrant,,\n"
        "H4,hydrant,low,\n"
    )
    result = parse_devices(text)
    assert [r.thresholds for r in result.rows] == [
        {"pressure_low_mpa": 0.14, "pressure_high_mpa": 1.2},
        {"pressure_low_mpa": 0.10},
        None,
    ]
    assert _fields(result) == [(4, "threshold.pressure_low_mpa")]


def test_thresholds_from_json_object_and_keys() -> None:
    items = [
        {"device_id": "H1", "kind": "hydrant", "thresholds": {"pressure_low_mpa": 0.14}},
        {"device_id": "H2", "kind": "hydrant", "threshold.pressure_low_mpa": "0.2"},
        {"device_id": "H3", "kind": "hydrant", "thresholds": {"Bad-Name": 1}},
        {"device_id": "H4", "kind": "hydrant", "thresholds": {"x": "Infinity"}},
        {"device_id": "H5", "kind": "hydrant", "thresholds": [0.14]},
    ]
    result = parse_devices(json.dumps(items))
    assert [r.thresholds for r in result.rows] == [
        {"pressure_low_mpa": 0.14},
        {"pressure_low_mpa": 0.2},
    ]
    assert _fields(result) == [(3, "threshold.Bad-Name"), (4, "threshold.x"), (5, "thresholds")]


def test_threshold_columns_are_only_for_devices() -> None:
    assert parse_units("unit_id,name,threshold.x\nU1,x,1\n").errors[0].row == 0


_ids = st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True)
_device_rows = st.builds(
    DeviceRow,
    device_id=_ids,
    kind=st.sampled_from(DeviceKind),
    model=st.none()
    | st.text(st.characters(codec="utf-8", exclude_categories=["C", "Z"]), min_size=1, max_size=20),
    unit_id=st.none() | _ids,
    installed_on=st.none() | st.dates(),
    heartbeat_s=st.none() | st.integers(1, 2**31 - 1),
    thresholds=st.none()
    | st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
        st.floats(allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=3,
    ),
)


def _to_csv(rows: list[DeviceRow]) -> str:
    names = sorted({name for r in rows for name in r.thresholds or {}})
    columns = ["device_id", "kind", "model", "unit_id", "installed_on", "heartbeat_s"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns + [f"threshold.{n}" for n in names])
    for r in rows:
        plain = [getattr(r, c) for c in columns]
        limits = [(r.thresholds or {}).get(n) for n in names]
        writer.writerow(
            ["" if v is None else repr(v) if isinstance(v, float) else v for v in plain + limits]
        )
    return out.getvalue()


@given(st.lists(_device_rows, max_size=8, unique_by=lambda r: r.device_id))
def test_rows_survive_csv_and_json(rows: list[DeviceRow]) -> None:
    as_json = json.dumps([r.model_dump(mode="json", exclude_none=True) for r in rows])
    assert parse_devices(as_json) == ParsedRows(rows=rows)
    assert parse_devices(_to_csv(rows)) == ParsedRows(rows=rows)
