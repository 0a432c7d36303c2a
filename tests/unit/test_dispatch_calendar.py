"""Working time on the work calendar: nights, weekends, 2026 holidays and 调休, local days."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.calendar import CHINA, WorkCalendar
from dispatch.calendar_file import parse_calendar
from dispatch.config_file import ConfigFileError

CAL = WorkCalendar()
H = timedelta(hours=1)


def cst(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A China-time instant: cst(2026, 12, 8, 17, 30)."""
    return datetime(year, month, day, hour, minute, tzinfo=CHINA)


def test_default_hours_are_a_weekday_with_a_lunch_break() -> None:
    tue = (2026, 12, 8)
    assert CAL.is_working(cst(*tue, 9, 0))
    assert not CAL.is_working(cst(*tue, 8, 59))
    assert not CAL.is_working(cst(*tue, 12, 0))  # intervals are half-open
    assert not CAL.is_working(cst(*tue, 13, 0))
    assert CAL.is_working(cst(*tue, 13, 30))
    assert not CAL.is_working(cst(*tue, 18, 0))
    assert CAL.day_length == timedelta(hours=7, minutes=30)


def test_deadline_across_lunch_and_a_night() -> None:
    assert CAL.add_working_time(cst(2026, 12, 8, 11, 30), H) == cst(2026, 12, 8, 14, 0)
    assert CAL.add_working_time(cst(2026, 12, 8, 17, 30), H) == cst(2026, 12, 9, 9, 30)
    # Started outside working hours: the clock starts at the next opening.
    assert CAL.add_working_time(cst(2026, 12, 8, 22, 0), H) == cst(2026, 12, 9, 10, 0)


def test_results_are_utc_and_inputs_may_be_in_any_zone() -> None:
    start = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)  # 09:00 China time
    due = CAL.add_working_time(start, H)
    assert due.tzinfo is UTC
    assert due == datetime(2026, 12, 8, 2, 0, tzinfo=UTC)


def test_deadline_across_a_weekend() -> None:
    fri = cst(2026, 12, 4, 17, 0)
    assert not CAL.is_working(cst(2026, 12, 5, 10, 0))  # an ordinary Saturday
    assert CAL.add_working_time(fri, 2 * H) == cst(2026, 12, 7, 10, 0)
    assert CAL.working_time_between(fri, cst(2026, 12, 7, 10, 0)) == 2 * H


def test_deadline_across_national_day_2026() -> None:
    # 2026-10-01..07 off (the package's data); Thursday 8 October is the next working day.
    assert not CAL.is_working(cst(2026, 10, 1, 10, 0))
    assert not CAL.is_working(cst(2026, 10, 5, 10, 0))  # a Monday, but a holiday
    assert CAL.add_working_time(cst(2026, 9, 30, 17, 0), 2 * H) == cst(2026, 10, 8, 10, 0)


def test_deadline_across_spring_festival_2026_and_its_adjusted_saturday() -> None:
    # Saturday 14 February 2026 is worked (调休); 15..23 February are off.
    assert CAL.is_working(cst(2026, 2, 14, 10, 0))
    assert CAL.add_working_time(cst(2026, 2, 13, 17, 0), 2 * H) == cst(2026, 2, 14, 10, 0)
    assert CAL.add_working_time(cst(2026, 2, 14, 17, 0), 2 * H) == cst(2026, 2, 24, 10, 0)
    assert not CAL.is_working(cst(2026, 2, 16, 10, 0))  # a Monday of the festival


def test_adjusted_working_saturday_after_national_day() -> None:
    # Saturday 10 October 2026 is a working day: a deadline from Friday lands on it.
    assert CAL.is_working(cst(2026, 10, 10, 9, 0))
    assert CAL.add_working_time(cst(2026, 10, 9, 17, 0), 2 * H) == cst(2026, 10, 10, 10, 0)
    # Sunday 20 September 2026 too (Mid-Autumn).
    assert CAL.is_working(cst(2026, 9, 20, 15, 0))


def test_working_time_between_is_signed() -> None:
    a, b = cst(2026, 12, 8, 9, 0), cst(2026, 12, 9, 9, 0)
    assert CAL.working_time_between(a, b) == timedelta(hours=7, minutes=30)
    assert CAL.working_time_between(b, a) == -timedelta(hours=7, minutes=30)
    assert CAL.working_time_between(a, a) == timedelta(0)


def test_naive_datetimes_and_negative_durations_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        CAL.add_working_time(datetime(2026, 12, 8, 9, 0), H)
    with pytest.raises(ValueError, match="negative"):
        CAL.add_working_time(cst(2026, 12, 8, 9, 0), -H)


def test_a_year_the_package_does_not_cover_falls_back_to_weekdays_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cal = WorkCalendar()
    with caplog.at_level(logging.WARNING, logger="dispatch.calendar"):
        # Thursday 1 January 2099 is a fixed-date statutory holiday; Friday the 2nd is worked.
        assert not cal.is_working(cst(2099, 1, 1, 10, 0))
        assert cal.add_working_time(cst(2098, 12, 31, 17, 0), 2 * H) == cst(2099, 1, 2, 10, 0)
        assert cal.add_working_time(cst(2099, 1, 2, 17, 0), 2 * H) == cst(2099, 1, 5, 10, 0)
        # National Day's three days are known; the rest of the week is counted as work.
        assert not cal.is_working(cst(2099, 10, 2, 10, 0))
        assert cal.is_working(cst(2099, 10, 5, 10, 0))
    warnings = [r for r in caplog.records if "2099" in r.getMessage()]
    assert len(warnings) == 1
    assert "weekly hours and the fixed-date holidays" in warnings[0].getMessage()


LOCAL = """\
version: 1
hours:
  sat: ["09:00-12:00"]
holidays:
  - 2026-12-24
  - {from: 2026-12-28, to: 2026-12-29, note: 区运动会}
working_days:
  - 2026-10-03
  - {date: 2026-12-27, hours: ["10:00-11:00"]}
"""


def test_local_file_adds_a_district_holiday_and_working_days() -> None:
    cal = parse_calendar(LOCAL)
    assert not cal.is_working(cst(2026, 12, 24, 10, 0))  # a Thursday, the district's day off
    assert cal.add_working_time(cst(2026, 12, 23, 17, 0), 2 * H) == cst(2026, 12, 25, 10, 0)
    assert not cal.is_working(cst(2026, 12, 28, 10, 0))
    assert not cal.is_working(cst(2026, 12, 29, 10, 0))
    # Its own hours: Saturdays mornings, and one Sunday 10-11.
    assert cal.is_working(cst(2026, 12, 5, 11, 0))
    assert not cal.is_working(cst(2026, 12, 5, 14, 0))
    assert cal.is_working(cst(2026, 12, 27, 10, 30))
    assert not cal.is_working(cst(2026, 12, 27, 9, 30))
    # A local working day beats a national holiday, with the standard day's hours.
    assert cal.is_working(cst(2026, 10, 3, 14, 0))


def test_local_file_can_ignore_the_national_calendar() -> None:
    cal = parse_calendar("version: 1\nchina_calendar: false\n")
    assert cal.is_working(cst(2026, 10, 1, 10, 0))  # a Thursday like any other
    assert not cal.is_working(cst(2026, 10, 10, 10, 0))  # no 调休 either


def test_a_bad_calendar_file_is_refused_with_every_line() -> None:
    bad = """\
version: 1
hours:
  mon: ["09:00-12:00", "11:00-18:00"]
  sunday: []
holidays:
  - 2026-13-01
  - {from: 2026-12-30, to: 2026-12-01}
working_days:
  - {date: 2026-12-26, hours: ["9-12"]}
"""
    with pytest.raises(ConfigFileError) as err:
        parse_calendar(bad, source="district.yaml")
    shown = [str(p) for p in err.value.problems]
    assert shown == [
        "district.yaml:3: hours.mon: intervals must be in order and must not overlap",
        "district.yaml:4: hours.sunday: unknown key",
        "district.yaml:6: holidays[0]: must be a date like 2026-12-24",
        "district.yaml:7: holidays[1].to: must be on or after from:, within a year",
        'district.yaml:9: working_days[0].hours[0]: must be a text like "09:00-12:00"',
    ]


def test_a_day_listed_as_holiday_and_working_day_is_refused() -> None:
    text = "version: 1\nholidays: [2026-12-24]\nworking_days: [2026-12-24]\n"
    with pytest.raises(ConfigFileError, match=r"calendar.yaml:3: .*also listed under holidays"):
        parse_calendar(text)


# Starts from late 2025 to early 2027: across the package's last year and the fallback after it.
starts = st.datetimes(
    min_value=datetime(2025, 12, 1),
    max_value=datetime(2027, 1, 31),
    timezones=st.just(CHINA),
)
durations = st.integers(min_value=1, max_value=80 * 3600 * 1_000_000).map(
    lambda us: timedelta(microseconds=us)
)


DISTRICT = parse_calendar(LOCAL)


@given(cal=st.sampled_from([CAL, DISTRICT]), start=starts, duration=durations)
def test_working_time_round_trips(cal: WorkCalendar, start: datetime, duration: timedelta) -> None:
    due = cal.add_working_time(start, duration)
    assert due >= start
    assert cal.working_time_between(start, due) == duration
    # The deadline falls in working hours: the instant before it was working time.
    assert cal.is_working(due - timedelta(microseconds=1))


@given(start=starts, a=durations, b=durations)
def test_adding_is_monotonic_and_additive(start: datetime, a: timedelta, b: timedelta) -> None:
    first = CAL.add_working_time(start, a)
    both = CAL.add_working_time(start, a + b)
    assert first <= both
    assert CAL.add_working_time(first, b) == both


def test_a_deadline_may_fall_at_the_end_of_an_interval_and_zero_is_now() -> None:
    assert CAL.add_working_time(cst(2026, 12, 8, 11, 0), H) == cst(2026, 12, 8, 12, 0)
    sunday_night = cst(2026, 12, 6, 23, 0)
    assert CAL.add_working_time(sunday_night, timedelta(0)) == sunday_night
