"""The escalation ladder: who a case climbs to when a deadline passes. Pure.

A case's ``escalation_level`` is the rung (index on the configured ladder) it was escalated to;
0 while it never was. The next rung is the one above both that level and the current
assignee's own rung (a case first given to a grid head climbs to the community handler). A rung
nobody holds for the case's area is skipped, and the skip is said in the history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dispatch.models import Actor, Case
from grids.codes import in_area

__all__ = ["Climb", "climb", "holder"]


@dataclass(frozen=True, slots=True)
class Climb:
    """Where the case goes: the rung, its holder (None: top of the ladder), the rungs skipped."""

    level: int
    staff: Actor | None
    skipped: tuple[str, ...]


def holder(staff: Sequence[Actor], role: str, case: Case) -> Actor | None:
    """Return who holds ``role`` for the case's place: the narrowest area, then lowest id."""
    fits = [
        s
        for s in staff
        if s.role == role
        and s.area
        and in_area(
            s.area, grid=case.grid_code, community=case.community_code, street=case.street_code
        )
    ]
    if not fits:
        return None
    return min(fits, key=lambda s: (-len(s.area or ""), s.staff_id))


def climb(
    case: Case, *, ladder: Sequence[str], staff: Sequence[Actor], assignee_role: str | None
) -> Climb:
    """Return the next rung above the case's level and its assignee's rung, and who holds it."""
    own = ladder.index(assignee_role) if assignee_role in ladder else 0
    start = max(case.escalation_level, own) + 1
    skipped: list[str] = []
    for level in range(start, len(ladder)):
        who = holder(staff, ladder[level], case)
        if who is not None:
            return Climb(level, who, tuple(skipped))
        skipped.append(ladder[level])
    return Climb(max(case.escalation_level, own), None, tuple(skipped))
