"""Registry files as cities keep them: encodings detected, every row located by its file line."""

from __future__ import annotations

import codecs

import pytest

from devices.registry import parse_devices, parse_units
from devices.registry_files import FileError, decode

UNITS = "unit_id,name,address\r\nU-1,金桥大厦,浦东新区金桥路1号\r\nU-2,张江中心,\r\n"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (UNITS.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + UNITS.encode("utf-8"), "utf-8-sig"),
        (UNITS.encode("gb18030"), "gb18030"),
        (UNITS.encode("gbk"), "gb18030"),  # GBK is a subset of GB 18030
    ],
)
def test_each_encoding_is_detected_and_the_names_survive(data: bytes, encoding: str) -> None:
    assert decode(data) == (UNITS, encoding)
    parsed = parse_units(data)
    assert (parsed.encoding, parsed.format, parsed.errors) == (encoding, "csv", [])
    assert [u.name for u in parsed.rows] == ["金桥大厦", "张江中心"]
    assert parsed.places == [(1, 2), (2, 3)]


def test_a_file_in_no_known_encoding_says_where_and_what_to_do() -> None:
    data = b"unit_id,name\nU-1,ok\n" + b"U-2,\xff\xff\xff\n"
    with pytest.raises(FileError) as caught:
        decode(data)
    assert caught.value.line == 3
    assert "neither UTF-8 nor GB 18030" in str(caught.value)
    assert "CSV UTF-8" in str(caught.value)
    parsed = parse_units(data)
    assert [(e.row, e.line) for e in parsed.errors] == [(0, 3)]
    assert parsed.rows == []


def test_utf16_from_excel_unicode_text_is_named() -> None:
    with pytest.raises(FileError, match="UTF-16"):
        decode(codecs.BOM_UTF16_LE + UNITS.encode("utf-16-le"))


def test_csv_errors_carry_the_line_a_record_starts_on() -> None:
    # Line 1 header, 2 good, 3-4 a quoted two-line model, 5 blank, 6 bad kind, 7 good,
    # 8 too many cells.
    text = (
        "device_id,kind,model\r\n"
        "D1,smoke,S1\r\n"
        'D2,smoke,"two\r\nlines"\r\n'
        "\r\n"
        "D3,toaster,\r\n"
        "D4,hydrant,\r\n"
        "D5,smoke,x,extra\r\n"
    )
    parsed = parse_devices(text.encode("gb18030"))
    assert [(e.row, e.line, e.field) for e in parsed.errors] == [(5, 6, "kind"), (7, 8, "")]
    assert parsed.places == [(1, 2), (2, 3), (6, 7)]


def test_json_items_carry_the_line_they_start_on() -> None:
    text = '[\n  {"device_id": "J1", "kind": "smoke"},\n\n  {"device_id": "J2",\n   "kind": "x"}\n]'
    parsed = parse_devices(text.encode())
    assert parsed.format == "json"
    assert [(e.row, e.line, e.field) for e in parsed.errors] == [(2, 4, "kind")]
    assert parsed.places == [(1, 2)]
    broken = parse_devices(b'[\n{"device_id": "J1", "kind": "smoke"}\n{"device_id": "J2"}]')
    assert [(e.row, e.line) for e in broken.errors] == [(0, 3)]
    assert "expected , or ]" in broken.errors[0].message
