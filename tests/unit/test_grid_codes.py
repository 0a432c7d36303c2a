"""Grid codes: lengths per level, parts, and the errors a malformed code gets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grids.codes import GridLevel, level_for_length, parse_code, parse_level
from grids.exceptions import GridCodeError, GridError


def test_street_code_parts() -> None:
    code = parse_code("310115005")
    assert code.level is GridLevel.STREET
    assert (code.county, code.street, code.community, code.sequence) == (
        "310115",
        "005",
        None,
        None,
    )
    assert code.length == 9
    assert code.parent == "310115"
    assert code.street_code == "310115005"
    assert code.community_code is None
    assert code.street_kind == "subdistrict"


def test_community_code_parts() -> None:
    code = parse_code("310115125003", "community")
    assert code.level is GridLevel.COMMUNITY
    assert code.community == "003"
    assert code.parent == "310115125"
    assert code.community_code == "310115125003"
    assert code.street_kind == "town"


@pytest.mark.parametrize(
    ("raw", "sequence"), [("310115005003007", "007"), ("31011520500307", "07")]
)
def test_both_grid_lengths_are_accepted(raw: str, sequence: str) -> None:
    code = parse_code(raw, GridLevel.GRID)
    assert code.level is GridLevel.GRID
    assert code.length == len(raw)
    assert code.sequence == sequence
    assert code.community_code == raw[:12]
    assert code.parent == raw[:12]
    assert code.street_code == raw[:9]


def test_street_kinds_follow_the_hundreds_digit() -> None:
    kinds = [parse_code(f"110105{s}").street_kind for s in ("012", "101", "201", "305", "401")]
    assert kinds == ["subdistrict", "town", "township", "township", "other"]


@pytest.mark.parametrize(
    ("raw", "level", "reason"),
    [
        ("3101150050", None, "code_length"),
        ("3101150050030", None, "code_length"),
        ("3101150050030071", None, "code_length"),
        ("", None, "code_not_digits"),
        ("310115005003", "grid", "code_length"),
        ("310115005003007", "community", "code_length"),
        ("31011500500300", "street", "code_length"),
        ("31011500500300A", None, "code_not_digits"),
        ("３１０１１５００５", None, "code_not_digits"),  # full-width digits
        (" 310115005", None, "code_not_digits"),
        (310115005, None, "code_not_string"),
        (None, None, "code_not_string"),
        ("990115005", None, "county_unknown"),
        ("310000005", None, "county_unknown"),
        ("310115000", None, "code_zero_part"),
        ("310115005000", None, "code_zero_part"),
        ("310115005003000", None, "code_zero_part"),
        ("31011500500300", None, "code_zero_part"),
    ],
)
def test_malformed_codes_are_refused_with_a_reason(
    raw: object, level: str | None, reason: str
) -> None:
    with pytest.raises(GridCodeError) as caught:
        parse_code(raw, level)
    assert caught.value.reason == reason
    assert caught.value.code == raw
    assert isinstance(caught.value, GridError)


def test_error_message_names_the_code_and_the_rule() -> None:
    with pytest.raises(
        GridCodeError, match=r"'310115005003'.*grid code has 14 or 15 digits, not 12"
    ):
        parse_code("310115005003", "grid")


def test_unknown_level_is_refused() -> None:
    with pytest.raises(GridCodeError) as caught:
        parse_level("village")
    assert caught.value.reason == "level_unknown"
    with pytest.raises(GridCodeError):
        parse_code("310115005", "village")


def test_level_for_length() -> None:
    assert [level_for_length(n) for n in (9, 12, 14, 15, 13)] == [
        GridLevel.STREET,
        GridLevel.COMMUNITY,
        GridLevel.GRID,
        GridLevel.GRID,
        None,
    ]


_part = st.integers(min_value=1, max_value=999)


@given(
    province=st.sampled_from(["11", "31", "44", "65"]),
    county=st.integers(min_value=101, max_value=9999),
    street=_part,
    community=_part,
    sequence=st.integers(min_value=1, max_value=99),
    wide=st.booleans(),
)
def test_parts_rebuild_the_code(
    province: str, county: int, street: int, community: int, sequence: int, wide: bool
) -> None:
    raw = f"{province}{county:04d}{street:03d}{community:03d}{sequence:0{3 if wide else 2}d}"
    code = parse_code(raw)
    assert code.county + code.street + (code.community or "") + (code.sequence or "") == raw
    assert parse_code(code.parent).level is GridLevel.COMMUNITY
    assert parse_code(parse_code(code.parent).parent).level is GridLevel.STREET
