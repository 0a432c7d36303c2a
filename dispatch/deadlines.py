"""The deadline table: how long each stage of a case may take, and when to remind.

Rows of ``deadlines.yaml`` (the DOMAIN.md §2 defaults) and of an optional local file give, for a
match on (category, urgency, area type), the time allowed for the stages ``file`` (file and
dispatch), ``sign`` (签收), ``handle`` (处置 up to feedback) and ``verify`` (核查). Each stage is
resolved on its own: the most specific row that gives the stage wins (see ``Match.rank``), so a
row for rural areas can change ``verify`` alone. Time is working time on a ``WorkCalendar``
unless the row says ``wall_clock: true`` (confirmed fires: minutes day and night). The file
format and the loader live in ``dispatch.deadlines_file``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, get_args

from dispatch.calendar import WorkCalendar
from dispatch.exceptions import DispatchError

__all__ = [
    "AREA_TYPES",
    "STAGES",
    "URGENCIES",
    "DeadlineTable",
    "Match",
    "NoDeadlineError",
    "Reminder",
    "Stage",
    "StageLimit",
]

Stage = Literal["file", "sign", "handle", "verify"]
STAGES: Final[tuple[Stage, ...]] = get_args(Stage)
URGENCIES: Final = ("urgent", "normal")
AREA_TYPES: Final = ("urban", "rural")


class NoDeadlineError(DispatchError):
    """No row of the deadline table gives this stage for this kind of case."""

    def __init__(self, stage: str, category: str, urgency: str, area_type: str) -> None:
        self.stage, self.category, self.urgency, self.area_type = (
            stage,
            category,
            urgency,
            area_type,
        )
        super().__init__(
            f"no deadline for stage {stage} of a {urgency} {category} case in a {area_type} area"
        )


@dataclass(frozen=True, slots=True)
class Match:
    """Which cases a row is for; None is the wildcard (``*`` or the key left out)."""

    category: str | None = None
    urgency: str | None = None
    area_type: str | None = None

    def matches(self, category: str, urgency: str, area_type: str) -> bool:
        """Tell whether a case of this kind falls under the row."""
        return (
            self.category in (None, category)
            and self.urgency in (None, urgency)
            and self.area_type in (None, area_type)
        )

    @property
    def rank(self) -> tuple[int, bool, bool, bool]:
        """Specificity: more fields named wins; then category beats urgency beats area type."""
        named = (self.category is not None, self.urgency is not None, self.area_type is not None)
        return (sum(named), *named)

    def __str__(self) -> str:
        """Render as ``fire/urgent/*``."""
        return "/".join(v or "*" for v in (self.category, self.urgency, self.area_type))


@dataclass(frozen=True, slots=True)
class Reminder:
    """When to remind before a deadline: at a fraction of the stage's time, or a time before."""

    fraction: float | None = None
    before: timedelta | None = None

    def __post_init__(self) -> None:
        if (self.fraction is None) == (self.before is None):
            raise ValueError("a reminder is either a fraction or a time before the deadline")
        if self.fraction is not None and not 0 < self.fraction < 1:
            raise ValueError("a reminder fraction is between 0 and 1")
        if self.before is not None and self.before <= timedelta(0):
            raise ValueError("a reminder is a positive time before the deadline")

    def offset(self, total: timedelta) -> timedelta:
        """Return how far into a stage of ``total`` time the reminder falls (never negative)."""
        if self.fraction is not None:
            return total * self.fraction
        assert self.before is not None  # __post_init__: exactly one is set
        return max(total - self.before, timedelta(0))


DEFAULT_REMINDER: Final = Reminder(fraction=0.75)


@dataclass(frozen=True, slots=True)
class StageLimit:
    """The time one row allows one stage, where it was written, and how it is counted."""

    match: Match
    stage: Stage
    time: timedelta
    working_days: float = 0.0  # ``2wd``: counted in the calendar's standard working days
    wall_clock: bool = False
    remind: Reminder | None = None  # None: the table's default
    source: str = ""
    line: int = 0

    def allowed(self, calendar: WorkCalendar) -> timedelta:
        """Return the stage's time, working days turned into working time on ``calendar``."""
        return self.time + calendar.day_length * self.working_days


@dataclass(frozen=True)
class DeadlineTable:
    """Stage limits by (category, urgency, area type) on a work calendar; see module doc."""

    limits: tuple[StageLimit, ...]
    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    remind: Reminder = DEFAULT_REMINDER
    _cache: dict[tuple[str, str, str, str], StageLimit] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def limit(self, stage: Stage, *, category: str, urgency: str, area_type: str) -> StageLimit:
        """Return the most specific row's limit for a stage of this kind of case."""
        key = (stage, category, urgency, area_type)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        candidates = [
            lim
            for lim in self.limits
            if lim.stage == stage and lim.match.matches(category, urgency, area_type)
        ]
        if not candidates:
            raise NoDeadlineError(stage, category, urgency, area_type)
        best = max(candidates, key=lambda lim: lim.match.rank)
        with self._lock:
            self._cache[key] = best
        return best

    def due(
        self, stage: Stage, start: datetime, *, category: str, urgency: str, area_type: str
    ) -> datetime:
        """Return the deadline (UTC) of a stage that starts at ``start``."""
        lim = self.limit(stage, category=category, urgency=urgency, area_type=area_type)
        if lim.wall_clock:
            return _utc(start) + lim.time
        return self.calendar.add_working_time(start, lim.allowed(self.calendar))

    def remind_at(
        self,
        stage: Stage,
        deadline: datetime,
        *,
        start: datetime,
        category: str,
        urgency: str,
        area_type: str,
    ) -> datetime:
        """Return when to remind (UTC) of a stage running from ``start`` to ``deadline``.

        The stage's time is measured from start to the deadline as it is now, so a deadline
        moved by an approved extension moves its reminder too. Never before ``start``; a
        deadline at or before ``start`` is reminded of at the deadline.
        """
        lim = self.limit(stage, category=category, urgency=urgency, area_type=area_type)
        reminder = lim.remind or self.remind
        if deadline <= start:
            return _utc(deadline)
        if lim.wall_clock:
            return _utc(start) + reminder.offset(deadline - start)
        total = self.calendar.working_time_between(start, deadline)
        return self.calendar.add_working_time(start, reminder.offset(total))

    def time_left(
        self,
        stage: Stage,
        now: datetime,
        deadline: datetime,
        *,
        category: str,
        urgency: str,
        area_type: str,
    ) -> timedelta:
        """Return the time left before a deadline, as the stage counts it; negative if late."""
        lim = self.limit(stage, category=category, urgency=urgency, area_type=area_type)
        if lim.wall_clock:
            return deadline - now
        return self.calendar.working_time_between(now, deadline)


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"deadlines need an aware datetime, got {t.isoformat()}")
    return t.astimezone(UTC)
