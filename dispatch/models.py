"""Case vocabulary: statuses, categories, urgency, the case, its steps, an action, deadlines."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CATEGORIES",
    "CLOCK_ACTIONS",
    "OPEN_STATUSES",
    "ActionKind",
    "Actor",
    "AreaType",
    "Case",
    "CaseAction",
    "CaseStatus",
    "CaseStep",
    "Deadlines",
    "Stage",
    "Urgency",
]

CaseStatus = Literal[
    "reported", "filed", "dispatched", "signed", "handled", "verified", "closed", "returned"
]
OPEN_STATUSES: Final = frozenset(
    {"reported", "filed", "dispatched", "signed", "handled", "verified", "returned"}
)
Urgency = Literal["urgent", "normal"]
AreaType = Literal["urban", "rural"]
Stage = Literal["file", "sign", "handle", "verify"]
# CONTRACT §1 actions, plus ``dispatch``: the community handler re-dispatches a returned case;
# and the clock's (issue 8 point 7): ask for more time or a pause, resume, approve or refuse.
ActionKind = Literal[
    "sign",
    "feedback",
    "return",
    "verify",
    "dispatch",
    "extend",
    "suspend",
    "resume",
    "approve",
    "refuse",
]
CLOCK_ACTIONS: Final = frozenset({"extend", "suspend", "resume", "approve", "refuse"})

# CONTRACT §1 report categories: a case's category is one of them.
CATEGORIES: Final = frozenset(
    {
        "fire",
        "blocked_exit",
        "combustibles_in_corridor",
        "ebike_indoor_charging",
        "illegal_wiring",
        "damaged_facility",
        "hydrant_problem",
        "extinguisher_problem",
        "crowded_rental",
        "other",
    }
)


class Deadlines(Protocol):
    """When a stage started at ``start`` is due (engineer Z's ``DeadlineTable`` is the real one)."""

    def due(
        self, stage: Stage, start: datetime, *, category: str, urgency: str, area_type: str
    ) -> datetime:
        """Return the deadline of ``stage`` begun at ``start``."""
        ...


class Case(BaseModel):
    """A stored case: one row of ``cases`` with its hazards and reports."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    category: str
    urgency: Urgency
    status: CaseStatus
    unit_id: str | None
    grid_code: str | None
    community_code: str | None
    street_code: str | None
    lat: float | None
    lon: float | None
    area_type: AreaType
    assignee: str | None
    assignee_reason: str
    escalation_level: int
    deadline: datetime | None
    stage: Stage | None
    handled_by: str | None
    rework: int
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    version: int
    # When the reminder of the current deadline is due, which deadline was reminded of and
    # which escalated (the sweep's idempotence), and the paused clock (m0012).
    remind_at: datetime | None = None
    reminded_for: datetime | None = None
    escalated_for: datetime | None = None
    suspended_since: datetime | None = None
    paused_left: timedelta | None = None
    hazard_ids: list[int] = Field(default_factory=list)
    report_ids: list[str] = Field(default_factory=list)


class CaseStep(BaseModel):
    """One step of a case's history."""

    model_config = ConfigDict(frozen=True)

    seq: int
    action: str
    from_status: str | None
    to_status: str
    actor: str | None
    at: datetime
    note: str = ""
    photos: list[str] = Field(default_factory=list)
    lat: float | None = None
    lon: float | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class Actor(BaseModel):
    """Who acts: a staff member, their role and area (CONTRACT §3 staff)."""

    model_config = ConfigDict(frozen=True)

    staff_id: str
    role: str
    area: str | None = None
    terminal_id: str | None = None


class CaseAction(BaseModel):
    """A case action (CONTRACT §1), from a terminal or the API; position in WGS-84.

    ``result`` extends ``verify``: ``pass`` (default) confirms the fix, ``fail`` sends it back.
    """

    model_config = ConfigDict(frozen=True)

    action_id: str = Field(min_length=1, max_length=64)
    case_id: str
    action: ActionKind
    ts: datetime | None = None
    note: str = Field(default="", max_length=4000)
    photos: list[str] = Field(default_factory=list, max_length=20)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    result: Literal["pass", "fail"] | None = None
    # A re-dispatch names the new assignee (else the case's assignment is looked up again).
    assignee: str | None = None
    # ``extend``: the deadline asked for; ``approve`` / ``refuse``: the request's action_id.
    until: datetime | None = None
    request_id: str | None = Field(default=None, max_length=64)
