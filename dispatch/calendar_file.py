"""The local calendar file: a district's own days off, working days and hours (YAML).

::

    version: 1
    hours:                          # weekly hours; weekdays not named keep the defaults
      mon: ["09:00-12:00", "13:30-17:30"]
      sat: ["09:00-12:00"]
    adjusted_day_hours: ["09:00-12:00", "13:30-18:00"]   # 调休 days, working_days without hours
    holidays:                       # a date, or a range of dates, not worked
      - 2026-12-24
      - {from: 2026-12-28, to: 2026-12-30, note: 区运动会}
    working_days:                   # a date worked whatever the national calendar says
      - 2026-12-27
      - {date: 2026-12-31, hours: ["09:00-12:00"], note: half day}
    china_calendar: true            # false: ignore national holidays and 调休

Every problem is reported at once with its line (``calendar.yaml:7: holidays[1].to: ...``).
"""

from __future__ import annotations

import contextlib
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Final

import yaml

from dispatch.calendar import DEFAULT_HOURS, Hours, WorkCalendar, check_hours
from dispatch.config_file import Reader, compose_file, read_bytes

__all__ = ["WEEKDAYS", "load_calendar", "parse_calendar"]

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TOP: Final = frozenset(
    {"version", "hours", "adjusted_day_hours", "holidays", "working_days", "china_calendar"}
)
_INTERVAL: Final = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")
# A range longer than this is almost certainly a typo in a year.
_MAX_RANGE_DAYS: Final = 366


def _read_hours(r: Reader, node: yaml.Node, where: str) -> Hours | None:
    out: list[tuple[timedelta, timedelta]] = []
    n_before = len(r.problems)
    for i, item in enumerate(r.sequence(node, where)):
        raw = r.value(item)
        m = _INTERVAL.fullmatch(raw.strip()) if isinstance(raw, str) else None
        if m is None:
            r.problem(item, f"{where}[{i}]", 'must be a text like "09:00-12:00"')
            continue
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if m1 > 59 or m2 > 59:
            r.problem(item, f"{where}[{i}]", "minutes must be 00-59")
            continue
        out.append((timedelta(hours=h1, minutes=m1), timedelta(hours=h2, minutes=m2)))
    if len(r.problems) > n_before:
        return None
    hours = tuple(out)
    problem = check_hours(hours)
    if problem is not None:
        r.problem(node, where, problem)
        return None
    return hours


def _date(r: Reader, node: yaml.Node, where: str) -> date | None:
    value = r.value(node)
    # YAML reads 2026-12-24 as a date; a quoted "2026-12-24" is accepted too.
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = date.fromisoformat(value)
    if not isinstance(value, date):
        r.problem(node, where, "must be a date like 2026-12-24")
        return None
    return value


def _read_holidays(r: Reader, node: yaml.Node) -> dict[date, yaml.Node]:
    out: dict[date, yaml.Node] = {}
    for i, item in enumerate(r.sequence(node, "holidays")):
        where = f"holidays[{i}]"
        if not isinstance(item, yaml.MappingNode):
            d = _date(r, item, where)
            if d is not None:
                out[d] = item
            continue
        entry = r.mapping(item, where, frozenset({"from", "to", "note"}))
        if "from" not in entry or "to" not in entry:
            r.problem(item, where, "a range needs from: and to:")
            continue
        first = _date(r, entry["from"][1], f"{where}.from")
        last = _date(r, entry["to"][1], f"{where}.to")
        if first is None or last is None:
            continue
        if not timedelta(0) <= last - first <= timedelta(days=_MAX_RANGE_DAYS):
            r.problem(entry["to"][1], f"{where}.to", "must be on or after from:, within a year")
            continue
        for n in range((last - first).days + 1):
            out[first + timedelta(days=n)] = item
    return out


def _read_working_days(r: Reader, node: yaml.Node) -> dict[date, tuple[Hours, yaml.Node]]:
    out: dict[date, tuple[Hours, yaml.Node]] = {}
    for i, item in enumerate(r.sequence(node, "working_days")):
        where = f"working_days[{i}]"
        hours: Hours | None = ()  # empty: the adjusted-day hours
        if isinstance(item, yaml.MappingNode):
            entry = r.mapping(item, where, frozenset({"date", "hours", "note"}))
            if "date" not in entry:
                r.problem(item, where, "date: is required")
                continue
            d = _date(r, entry["date"][1], f"{where}.date")
            if "hours" in entry:
                hours = _read_hours(r, entry["hours"][1], f"{where}.hours")
                if hours == ():
                    r.problem(entry["hours"][1], f"{where}.hours", "must not be empty")
                    hours = None
        else:
            d = _date(r, item, where)
        if d is not None and hours is not None:
            out[d] = (hours, item)
    return out


def parse_calendar(text: str | bytes, *, source: str = "calendar.yaml") -> WorkCalendar:
    """Parse and validate a local calendar file, raising ConfigFileError with every problem."""
    raw = text.encode() if isinstance(text, str) else text
    root = compose_file(raw, source)
    r = Reader(source)
    top = r.mapping(root, "file", _TOP)
    if "version" not in top or r.value(top["version"][1]) != 1:
        r.problem(top.get("version", (root, root))[1], "version", "must be 1")
    weekly = dict(DEFAULT_HOURS)
    if "hours" in top:
        for name, (_, node) in r.mapping(top["hours"][1], "hours", frozenset(WEEKDAYS)).items():
            hours = _read_hours(r, node, f"hours.{name}")
            if hours is not None:
                weekly[WEEKDAYS.index(name)] = hours
    adjusted = None
    if "adjusted_day_hours" in top:
        adjusted = _read_hours(r, top["adjusted_day_hours"][1], "adjusted_day_hours")
    holidays = _read_holidays(r, top["holidays"][1]) if "holidays" in top else {}
    working = _read_working_days(r, top["working_days"][1]) if "working_days" in top else {}
    for d in holidays.keys() & working.keys():
        r.problem(working[d][1], "working_days", f"{d} is also listed under holidays")
    use_package = True
    if "china_calendar" in top:
        use_package = r.value(top["china_calendar"][1])
        if not isinstance(use_package, bool):
            r.problem(top["china_calendar"][1], "china_calendar", "must be true or false")
    r.raise_if_any()
    return WorkCalendar(
        weekly=weekly,
        adjusted_day_hours=adjusted,
        local_holidays=frozenset(holidays),
        local_days={d: hours for d, (hours, _) in working.items()},
        use_package=bool(use_package),
    )


def load_calendar(path: str | Path | None = None) -> WorkCalendar:
    """Read a local calendar file; without one, the default calendar (national days, 9-18)."""
    if path is None:
        return WorkCalendar()
    p = Path(path)
    return parse_calendar(read_bytes(p), source=p.name)
