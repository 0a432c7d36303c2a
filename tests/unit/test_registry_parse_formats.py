"""Registry import parsing, file level: CSV and JSON in, encodings, row numbers, per-row errors
beside good rows, unusable input, and rows surviving a CSV and JSON round trip.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.models import DeviceKind
from devices.registry import (
    DeviceRow,
    HydrantClass,
    RowError,
    parse_devices,
    parse_units,
)
from tests.unit.registry_support import error_fields


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
    assert error_fields(result) == [(2, "device_id"), (3, "kind"), (4, "heartbeat_s")]


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
    assert error_fields(result) == [(2, ""), (3, "kind"), (4, "colour"), (5, "heartbeat_s")]
    assert result.errors[2].message == "unknown field"


def test_csv_row_numbers_follow_file_lines() -> None:
    text = 'device_id,kind,model\nD1,smoke,"two\nlines"\n\nD2,nope,\n'
    result = parse_devices(text)
    assert [r.model for r in result.rows] == ["two\nlines"]
    # D2 is on line 5 of the file: row 4 once the header line is taken off.
    assert error_fields(result) == [(4, "kind")]


def test_more_cells_than_columns_is_a_row_error() -> None:
    result = parse_devices("device_id,kind\nD1,smoke,extra\nD2,smoke\n")
    assert [r.device_id for r in result.rows] == ["D2"]
    assert error_fields(result) == [(1, "")]


def test_duplicate_ids_keep_the_first_row() -> None:
    result = parse_devices("device_id,kind\nD1,smoke\nD2,smoke\nD1,hydrant\n")
    assert [(r.device_id, r.kind) for r in result.rows] == [
        ("D1", DeviceKind.SMOKE),
        ("D2", DeviceKind.SMOKE),
    ]
    assert result.errors == [
        RowError(
            row=3,
            line=4,
            field="device_id",
            message="duplicate of row 1 (line 2); the first is kept",
        )
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
    for text in (as_json, _to_csv(rows)):
        parsed = parse_devices(text)
        assert (parsed.rows, parsed.errors) == (rows, [])
