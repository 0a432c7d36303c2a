"""A deadline with its reminder, and a stage's time left and put back (suspension).

The working-time ``DeadlineTable`` knows reminders and time left; any other ``Deadlines``
(``WallClockDeadlines`` in tests) counts wall-clock time with the table's default reminder at
75 % of the stage. ``remind_at`` is computed once, when the deadline is set, and stored.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from dispatch.deadlines import DEFAULT_REMINDER, DeadlineTable
from dispatch.models import Case, Deadlines, Stage

__all__ = ["ASKS", "deadline_changes", "kind_of", "put_back", "remind_at", "time_left"]

# What each stage asks of the assignee (the inbox's ``asks``).
ASKS: Final[dict[str, str]] = {
    "file": "dispatch",
    "sign": "sign",
    "handle": "feedback",
    "verify": "verify",
}


def _kind(case: Case) -> dict[str, str]:
    return {"category": case.category, "urgency": case.urgency, "area_type": case.area_type}


def remind_at(
    deadlines: Deadlines, stage: Stage, deadline: datetime, *, start: datetime, kind: dict[str, str]
) -> datetime:
    """Return when the reminder before ``deadline`` of a stage running from ``start`` is due."""
    if isinstance(deadlines, DeadlineTable):
        return deadlines.remind_at(stage, deadline, start=start, **kind)
    if deadline <= start:
        return deadline
    return start + DEFAULT_REMINDER.offset(deadline - start)


def deadline_changes(
    deadlines: Deadlines, stage: Stage | None, start: datetime, *, kind: dict[str, str]
) -> dict[str, Any]:
    """Return the case columns of a stage begun at ``start``: its deadline and reminder."""
    if stage is None:
        return {"deadline": None, "remind_at": None}
    due = deadlines.due(stage, start, **kind)
    return {"deadline": due, "remind_at": remind_at(deadlines, stage, due, start=start, kind=kind)}


def time_left(deadlines: Deadlines, case: Case, now: datetime) -> timedelta:
    """Return the case's stage time left at ``now``, as its stage counts it (never negative)."""
    assert case.stage is not None
    assert case.deadline is not None
    if isinstance(deadlines, DeadlineTable):
        left = deadlines.time_left(case.stage, now, case.deadline, **_kind(case))
    else:
        left = case.deadline - now
    return max(left, timedelta(0))


def put_back(deadlines: Deadlines, case: Case, start: datetime, left: timedelta) -> datetime:
    """Return the deadline ``left`` of the case's stage time after ``start`` (a resumption)."""
    assert case.stage is not None
    if isinstance(deadlines, DeadlineTable):
        lim = deadlines.limit(case.stage, **_kind(case))
        if not lim.wall_clock:
            return deadlines.calendar.add_working_time(start, left)
    return start + left


def kind_of(case: Case) -> dict[str, str]:
    """Return the (category, urgency, area type) keywords the deadline table takes."""
    return _kind(case)
