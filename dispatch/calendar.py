"""The work calendar: working hours per weekday, China's holidays and adjusted working days.

Deadlines of the case workflow count working time (DOMAIN.md §2). A day's working hours come,
most specific first, from:

1. the local calendar file (``dispatch.calendar_file``): a district's own days off, its own
   working days, different hours on a date;
2. China's statutory holidays and adjusted working days (调休: a Saturday or Sunday worked in
   exchange for a bridged holiday), from the ``chinesecalendar`` package;
3. the weekly hours (default Mon–Fri 09:00–12:00 and 13:30–18:00).

An adjusted working day, or a local working day on a day without weekly hours, is worked with
``adjusted_day_hours`` (default: Monday's). The calendar is China time (UTC+8, no DST since
1991); every datetime in and out is aware, and results are UTC. A year the package does not
cover falls back to the weekly hours and the fixed-date statutory holidays (1 January, 1-2 May,
1-3 October), with one warning per year: the package's new release, or the local file, then
has to supply that year's lunar holidays and adjusted working days.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Final

import chinese_calendar

__all__ = ["CHINA", "DEFAULT_HOURS", "Interval", "WorkCalendar"]

log = logging.getLogger(__name__)

CHINA: Final = timezone(timedelta(hours=8), "CST")

# A working interval of a day: (start, end) as offsets from local midnight, end may be 24:00.
Interval = tuple[timedelta, timedelta]
Hours = tuple[Interval, ...]

_MORNING: Final = (timedelta(hours=9), timedelta(hours=12))
_AFTERNOON: Final = (timedelta(hours=13, minutes=30), timedelta(hours=18))
_WEEKDAY_HOURS: Final[Hours] = (_MORNING, _AFTERNOON)
# Monday (0) .. Sunday (6); the default office week of a street or community service centre.
DEFAULT_HOURS: Final[Mapping[int, Hours]] = {
    **dict.fromkeys(range(5), _WEEKDAY_HOURS),
    5: (),
    6: (),
}

# The statutory holidays on fixed Gregorian dates (全国年节及纪念日放假办法, 2024 revision, in
# force since 2025): New Year's Day, Labour Day (2 days), National Day (3 days). Kept for a year
# the package does not cover; the lunar holidays and the 调休 of such a year are unknown.
FIXED_STATUTORY: Final = frozenset({(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)})

# A calendar whose days have no working hours at all would loop for ever looking for time.
_MAX_IDLE_DAYS: Final = 400


@functools.cache
def _package_years() -> tuple[int, int]:
    """Return the first and last year the chinesecalendar package has holidays for."""
    years = [d.year for d in chinese_calendar.holidays]
    return min(years), max(years)


def check_hours(hours: Hours) -> str | None:
    """Return why a day's intervals are invalid (unsorted, overlapping, outside the day)."""
    end_of_previous = timedelta(0)
    for start, end in hours:
        if not timedelta(0) <= start < end <= timedelta(days=1):
            return "each interval must start before it ends, within 00:00-24:00"
        if start < end_of_previous:
            return "intervals must be in order and must not overlap"
        end_of_previous = end
    return None


@dataclass(frozen=True)
class WorkCalendar:
    """Working hours per weekday, China's public holidays and 调休, local days; see module doc."""

    weekly: Mapping[int, Hours] = field(default_factory=lambda: dict(DEFAULT_HOURS))
    adjusted_day_hours: Hours | None = None
    local_holidays: frozenset[date] = frozenset()
    local_days: Mapping[date, Hours] = field(default_factory=dict)
    use_package: bool = True
    _cache: dict[date, Hours] = field(default_factory=dict, init=False, repr=False, compare=False)
    _warned: set[int] = field(default_factory=set, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for day in range(7):
            problem = check_hours(self.weekly.get(day, ()))
            if problem is not None:
                raise ValueError(f"weekday {day}: {problem}")
        for d, hours in self.local_days.items():
            problem = check_hours(hours)
            if problem is not None:
                raise ValueError(f"{d}: {problem}")
        if self.adjusted_day_hours is not None and check_hours(self.adjusted_day_hours):
            raise ValueError(f"adjusted_day_hours: {check_hours(self.adjusted_day_hours)}")

    @property
    def standard_day(self) -> Hours:
        """The hours of an adjusted working day, and the day a ``wd`` duration counts."""
        if self.adjusted_day_hours is not None:
            return self.adjusted_day_hours
        return next((self.weekly[d] for d in range(7) if self.weekly.get(d)), ())

    @property
    def day_length(self) -> timedelta:
        """Working time of one standard working day (7h30min on the default calendar)."""
        return sum((end - start for start, end in self.standard_day), timedelta(0))

    def hours_on(self, day: date) -> Hours:
        """Return the working intervals of a China-time date (empty on a day off)."""
        with self._lock:
            cached = self._cache.get(day)
        if cached is not None:
            return cached
        hours = self._resolve(day)
        with self._lock:
            self._cache[day] = hours
        return hours

    def _resolve(self, day: date) -> Hours:
        if day in self.local_days:
            return self.local_days[day] or self.standard_day
        if day in self.local_holidays:
            return ()
        weekly = self.weekly.get(day.weekday(), ())
        if not self.use_package:
            return weekly
        first, last = _package_years()
        if not first <= day.year <= last:
            self._warn_uncovered(day.year, first, last)
            if (day.month, day.day) in FIXED_STATUTORY:
                weekly = ()
        elif day in chinese_calendar.holidays:
            weekly = ()
        elif day in chinese_calendar.workdays:  # 调休: a weekend day worked
            weekly = weekly or self.standard_day
        return weekly

    def _warn_uncovered(self, year: int, first: int, last: int) -> None:
        with self._lock:
            if year in self._warned:
                return
            self._warned.add(year)
        log.warning(
            "work calendar: chinesecalendar %s has holidays for %d-%d only; %d counts weekly "
            "hours and the fixed-date holidays (1 Jan, 1-2 May, 1-3 Oct) only, without the "
            "lunar holidays or adjusted working days (upgrade the package or list them in the "
            "local calendar file)",
            chinese_calendar.__version__,
            first,
            last,
            year,
        )

    def _intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        midnight = datetime.combine(day, time(0), tzinfo=CHINA)
        return [(midnight + s, midnight + e) for s, e in self.hours_on(day)]

    def is_working(self, t: datetime) -> bool:
        """Tell whether ``t`` falls in working hours (intervals are half-open: 12:00 is not)."""
        local = _china(t)
        return any(s <= local < e for s, e in self._intervals(local.date()))

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """Return the UTC instant when ``duration`` of working time has passed after ``start``."""
        if duration < timedelta(0):
            raise ValueError("duration must not be negative")
        local = _china(start)
        if duration == timedelta(0):
            return local.astimezone(UTC)
        left = duration
        day, idle = local.date(), 0
        while True:
            intervals = self._intervals(day)
            for s, e in intervals:
                begin = max(s, local)
                if begin >= e:
                    continue
                if left <= e - begin:
                    return (begin + left).astimezone(UTC)
                left -= e - begin
            idle = 0 if intervals else idle + 1
            if idle > _MAX_IDLE_DAYS:
                raise ValueError(f"no working hours in the {_MAX_IDLE_DAYS} days after {day}")
            day += timedelta(days=1)

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Return the working time from ``a`` to ``b`` (negative when ``b`` is before ``a``)."""
        if b < a:
            return -self.working_time_between(b, a)
        la, lb = _china(a), _china(b)
        total = timedelta(0)
        day = la.date()
        while day <= lb.date():
            for s, e in self._intervals(day):
                overlap = min(e, lb) - max(s, la)
                if overlap > timedelta(0):
                    total += overlap
            day += timedelta(days=1)
        return total


def _china(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"work calendar needs an aware datetime, got {t.isoformat()}")
    return t.astimezone(CHINA)
