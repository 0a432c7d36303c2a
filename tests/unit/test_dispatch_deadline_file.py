"""A bad deadline table is refused with the line of every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch.config_file import ConfigFileError, parse_duration
from dispatch.deadlines_file import load_deadlines, parse_deadlines

BAD = """\
version: 1
remind: three quarters
rows:
  - match: {}
    file: 30min
    sign: 1 hour
    handle: 1wd
    verify: 1h
  - match: {category: fires, urgency: urgent}
    file: 10min
  - match: {category: fire, urgency: urgent}
    wall_clock: true
    sign: 1wd
  - match: {area_type: rural}
    verify: 2h
    verify_by: 3h
  - match: {}
    file: 20min
  - match: {urgency: normal}
"""


def test_a_bad_table_is_refused_with_every_problem_and_its_line() -> None:
    with pytest.raises(ConfigFileError) as err:
        parse_deadlines(BAD, source="deadlines.yaml")
    assert [str(p) for p in err.value.problems] == [
        'deadlines.yaml:2: remind: must be a percentage like "75%" (0-100) or like "15min before"',
        "deadlines.yaml:6: rows[0].sign: must be a duration like 30min, 1h, 7h30min or 2wd",
        "deadlines.yaml:9: rows[1].match.category: must be * or one of blocked_exit, "
        "combustibles_in_corridor, crowded_rental, damaged_facility, ebike_indoor_charging, "
        "extinguisher_problem, fire, hydrant_problem, illegal_wiring, other",
        "deadlines.yaml:13: rows[2].sign: working days (wd) cannot be counted on a wall clock",
        "deadlines.yaml:16: rows[3].verify_by: unknown key",
        "deadlines.yaml:18: rows[4].file: */*/* already gives file at line 5",
        "deadlines.yaml:19: rows[5]: gives no stage (file, sign, handle, verify)",
    ]
    assert "deadlines.yaml:2: remind" in str(err.value)


def test_a_table_missing_a_stage_for_some_case_is_refused() -> None:
    text = "version: 1\nrows:\n  - match: {urgency: urgent}\n    file: 10min\n"
    with pytest.raises(ConfigFileError, match=r"deadlines.yaml:3: rows: no row gives file"):
        parse_deadlines(text)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("version: 1\nrows: [\n", "deadlines.yaml:3: file: not YAML"),
        ("", "deadlines.yaml:1: file: is empty"),
        ("version: 2\nrows: []\n", "deadlines.yaml:1: version: must be 1"),
        ("version: 1\nrows: {}\n", "deadlines.yaml:2: rows: must be a list"),
    ],
)
def test_files_that_are_not_tables(text: str, shown: str) -> None:
    with pytest.raises(ConfigFileError, match=shown):
        parse_deadlines(text)


def test_a_bad_local_file_names_itself(tmp_path: Path) -> None:
    local = tmp_path / "district-deadlines.yaml"
    local.write_text("version: 1\nrows:\n  - match: {urgency: soon}\n    sign: 2h\n")
    with pytest.raises(ConfigFileError, match=r"district-deadlines.yaml:3: rows\[0\].match.urg"):
        load_deadlines(local=local)
    with pytest.raises(ConfigFileError, match=r"missing\.yaml:1: file: cannot read"):
        load_deadlines(local=tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30min", 1800), ("1h", 3600), ("7h30min", 27000), ("90s", 90), ("1d", 86400), ("0min", 0)],
)
def test_durations(text: str, seconds: int) -> None:
    parsed = parse_duration(text)
    assert parsed is not None
    assert parsed.total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "1 hour", "h", "30", "1.5h", "-1h"])
def test_not_durations(text: str) -> None:
    assert parse_duration(text) is None


def test_working_days_combine_and_wall_clock_days_only_on_the_wall_clock() -> None:
    text = """\
version: 1
rows:
  - match: {}
    file: 1d
    sign: 1wd4h
    handle: 1wd
    verify: 1h
  - match: {category: fire, urgency: urgent}
    wall_clock: true
    handle: 1d
"""
    with pytest.raises(ConfigFileError) as err:
        parse_deadlines(text)
    assert [str(p) for p in err.value.problems] == [
        "deadlines.yaml:4: rows[0].file: in working time, count days as working days (1wd)"
    ]
    parsed = parse_deadlines(text.replace("file: 1d", "file: 1h"))
    limits = {(str(m), s): lim for (m, s), lim in parsed.limits.items()}
    sign = limits["*/*/*", "sign"]
    assert (sign.working_days, sign.time.total_seconds()) == (1.0, 4 * 3600)
    assert limits["fire/urgent/*", "handle"].time.days == 1
