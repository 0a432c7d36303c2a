"""Deadlines in plain wall-clock minutes: for tests, and until the working-time table is wired.

Engineer Z's ``dispatch.deadlines.DeadlineTable`` is the real ``Deadlines`` (working hours,
holidays, 调休); this one uses DOMAIN.md §2's published examples counted day and night.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from dispatch.models import Stage

__all__ = ["WallClockDeadlines"]

_MINUTES: Final[dict[tuple[Stage, str], float]] = {
    ("file", "urgent"): 10,
    ("file", "normal"): 30,
    ("sign", "urgent"): 60,
    ("sign", "normal"): 60,
    ("handle", "urgent"): 4 * 60,
    ("handle", "normal"): 24 * 60,
    ("verify", "urgent"): 60,
    ("verify", "normal"): 60,
}


class WallClockDeadlines:
    """``Deadlines`` counting wall-clock minutes; rural verification gets twice the time."""

    def due(
        self, stage: Stage, start: datetime, *, category: str, urgency: str, area_type: str
    ) -> datetime:
        """Return ``start`` plus the stage's minutes."""
        del category  # one table for every category here
        minutes = _MINUTES[(stage, "urgent" if urgency == "urgent" else "normal")]
        if stage == "verify" and area_type == "rural":
            minutes *= 2
        return start + timedelta(minutes=minutes)
