"""The deadline table: DOMAIN §2 defaults, most-specific rows, wall-clock fires, reminders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.models import REPORT_CATEGORIES
from dispatch.calendar import CHINA
from dispatch.calendar_file import load_calendar
from dispatch.deadlines import (
    AREA_TYPES,
    STAGES,
    URGENCIES,
    DeadlineTable,
    NoDeadlineError,
    Stage,
)
from dispatch.deadlines_file import load_deadlines, parse_deadlines, table_from

TABLE = load_deadlines()
TUE_10 = datetime(2026, 12, 8, 10, 0, tzinfo=CHINA)


def cst(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A China-time instant: cst(2026, 12, 8, 17, 30)."""
    return datetime(year, month, day, hour, minute, tzinfo=CHINA)


def due(
    stage: Stage, start: datetime, category: str, urgency: str, area: str = "urban"
) -> datetime:
    return TABLE.due(stage, start, category=category, urgency=urgency, area_type=area)


def test_published_defaults_of_domain_section_2() -> None:
    assert due("file", TUE_10, "blocked_exit", "urgent") == cst(2026, 12, 8, 10, 10)
    assert due("file", TUE_10, "blocked_exit", "normal") == cst(2026, 12, 8, 10, 30)
    assert due("sign", TUE_10, "other", "normal") == cst(2026, 12, 8, 11, 0)
    assert due("sign", TUE_10, "other", "urgent") == cst(2026, 12, 8, 11, 0)
    assert due("verify", TUE_10, "other", "normal", "urban") == cst(2026, 12, 8, 11, 0)
    assert due("verify", TUE_10, "other", "normal", "rural") == cst(2026, 12, 8, 12, 0)


def test_handling_time_by_category_and_urgency() -> None:
    # One working day for a normal case: same time on the next working day.
    assert due("handle", TUE_10, "combustibles_in_corridor", "normal") == cst(2026, 12, 9, 10, 0)
    assert due("handle", TUE_10, "crowded_rental", "normal") == cst(2026, 12, 15, 10, 0)
    # Urgent beats the category's normal time: the category rows name urgency normal.
    assert due("handle", TUE_10, "crowded_rental", "urgent") == cst(2026, 12, 8, 15, 30)


def test_a_sign_deadline_across_a_night_and_a_weekend() -> None:
    assert due("sign", cst(2026, 12, 8, 17, 30), "other", "normal") == cst(2026, 12, 9, 9, 30)
    assert due("sign", cst(2026, 12, 4, 17, 30), "other", "normal") == cst(2026, 12, 7, 9, 30)


def test_a_handle_deadline_across_national_day_and_the_adjusted_saturday() -> None:
    # Wednesday 30 September 2026, 14:00 + 7h30 of work: 4h that day, the rest on 8 October.
    assert due("handle", cst(2026, 9, 30, 14, 0), "other", "normal") == cst(2026, 10, 8, 14, 0)
    # From Friday 9 October: Saturday 10 October is worked (调休).
    assert due("sign", cst(2026, 10, 9, 17, 30), "other", "normal") == cst(2026, 10, 10, 9, 30)


def test_a_confirmed_fire_at_three_in_the_morning_counts_wall_clock() -> None:
    night = cst(2026, 12, 6, 3, 0)  # a Sunday: no working hours at all
    assert due("file", night, "fire", "urgent") == cst(2026, 12, 6, 3, 5)
    assert due("sign", night, "fire", "urgent") == cst(2026, 12, 6, 3, 10)
    assert due("handle", night, "fire", "urgent", "rural") == cst(2026, 12, 6, 5, 0)
    assert due("sign", night, "fire", "urgent").tzinfo is UTC
    lim = TABLE.limit("sign", category="fire", urgency="urgent", area_type="rural")
    assert lim.wall_clock
    # The same night, a fire report that is not urgent waits for Monday morning.
    assert due("sign", night, "fire", "normal") == cst(2026, 12, 7, 10, 0)


def test_reminder_at_three_quarters_of_the_stage_in_working_time() -> None:
    start = cst(2026, 12, 8, 11, 30)
    deadline = due("sign", start, "other", "normal")  # 11:30-12:00 + 13:30-14:00
    assert deadline == cst(2026, 12, 8, 14, 0)
    remind = TABLE.remind_at(
        "sign", deadline, start=start, category="other", urgency="normal", area_type="urban"
    )
    assert remind == cst(2026, 12, 8, 13, 45)


def test_reminder_follows_an_extended_deadline() -> None:
    start, extended = TUE_10, cst(2026, 12, 9, 10, 0)  # one working day instead of one hour
    remind = TABLE.remind_at(
        "sign", extended, start=start, category="other", urgency="normal", area_type="urban"
    )
    assert (
        TABLE.calendar.working_time_between(start, remind) == timedelta(hours=7, minutes=30) * 0.75
    )


def test_reminder_of_a_wall_clock_fire_is_half_way() -> None:
    start = cst(2026, 12, 6, 3, 0)
    deadline = due("sign", start, "fire", "urgent")
    remind = TABLE.remind_at(
        "sign", deadline, start=start, category="fire", urgency="urgent", area_type="urban"
    )
    assert remind == cst(2026, 12, 6, 3, 5)


def test_time_left_counts_as_the_stage_does() -> None:
    kind = {"category": "other", "urgency": "normal", "area_type": "urban"}
    deadline = cst(2026, 12, 9, 10, 0)
    assert TABLE.time_left("handle", cst(2026, 12, 8, 17, 0), deadline, **kind) == 2 * timedelta(
        hours=1
    )
    assert TABLE.time_left("handle", cst(2026, 12, 9, 11, 0), deadline, **kind) == -timedelta(
        hours=1
    )
    fire = {"category": "fire", "urgency": "urgent", "area_type": "urban"}
    assert TABLE.time_left("sign", cst(2026, 12, 8, 22, 0), deadline, **fire) == timedelta(hours=12)


LOCAL_TABLE = """\
version: 1
remind: 15min before
rows:
  - match: {}
    sign: 2h            # this district gives two hours to sign
  - match: {category: hydrant_problem, urgency: normal, area_type: rural}
    handle: 5wd
"""

DISTRICT_CALENDAR = """\
version: 1
holidays:
  - 2026-12-24          # the district's own day off (a Thursday)
"""


def test_local_files_override_the_table_and_the_calendar(tmp_path: Path) -> None:
    (tmp_path / "local.yaml").write_text(LOCAL_TABLE)
    (tmp_path / "calendar.yaml").write_text(DISTRICT_CALENDAR)
    table = load_deadlines(
        local=tmp_path / "local.yaml", calendar=load_calendar(tmp_path / "calendar.yaml")
    )
    kind = {"category": "other", "urgency": "normal", "area_type": "urban"}
    start = cst(2026, 12, 23, 17, 0)
    sign = table.due("sign", start, **kind)
    assert sign == cst(2026, 12, 25, 10, 0)  # 17-18 on the 23rd, the 24th off, 9-10 on the 25th
    assert table.remind_at("sign", sign, start=start, **kind) == cst(2026, 12, 25, 9, 45)
    # Stages the local row does not give keep the defaults.
    assert table.due("file", TUE_10, **kind) == cst(2026, 12, 8, 10, 30)
    rural = {"category": "hydrant_problem", "urgency": "normal", "area_type": "rural"}
    assert table.due("handle", TUE_10, **rural) == cst(2026, 12, 15, 10, 0)
    assert table.limit("sign", **kind).source == "local.yaml"


def test_every_kind_of_case_has_every_stage_in_the_defaults() -> None:
    for stage in STAGES:
        for category in REPORT_CATEGORIES:
            for urgency in URGENCIES:
                for area in AREA_TYPES:
                    assert due(stage, TUE_10, category, urgency, area) > TUE_10


def test_a_stage_no_row_gives_is_an_error() -> None:
    partial = parse_deadlines("version: 1\nrows:\n  - match: {}\n    sign: 1h\n", complete=False)
    table = table_from(partial, TABLE.calendar)
    with pytest.raises(NoDeadlineError, match="no deadline for stage verify"):
        table.due("verify", TUE_10, category="other", urgency="normal", area_type="urban")


kinds = st.tuples(
    st.sampled_from(STAGES),
    st.sampled_from(sorted(REPORT_CATEGORIES)),
    st.sampled_from(URGENCIES),
    st.sampled_from(AREA_TYPES),
)
starts = st.datetimes(
    min_value=datetime(2026, 1, 1),
    max_value=datetime(2026, 12, 20),
    timezones=st.just(UTC),
)


def _check(table: DeadlineTable, kind: tuple[Stage, str, str, str], start: datetime) -> None:
    stage, category, urgency, area = kind
    k = {"category": category, "urgency": urgency, "area_type": area}
    lim = table.limit(stage, **k)
    deadline = table.due(stage, start, **k)
    remind = table.remind_at(stage, deadline, start=start, **k)
    assert start <= remind <= deadline
    if lim.wall_clock:
        assert deadline - start == lim.time
    else:
        assert table.calendar.working_time_between(start, deadline) == lim.allowed(table.calendar)
        assert table.calendar.is_working(deadline - timedelta(microseconds=1))


@given(kind=kinds, start=starts)
def test_deadlines_are_after_their_start_and_measure_back(
    kind: tuple[Stage, str, str, str], start: datetime
) -> None:
    _check(TABLE, kind, start)


def test_a_reminder_longer_than_the_stage_falls_at_its_start(tmp_path: Path) -> None:
    (tmp_path / "local.yaml").write_text("version: 1\nremind: 2h before\n")
    table = load_deadlines(local=tmp_path / "local.yaml")
    kind = {"category": "other", "urgency": "normal", "area_type": "urban"}
    deadline = table.due("sign", TUE_10, **kind)
    assert table.remind_at("sign", deadline, start=TUE_10, **kind) == TUE_10
    # A deadline already at the start: reminded of at the deadline itself.
    assert table.remind_at("sign", TUE_10, start=TUE_10, **kind) == TUE_10
