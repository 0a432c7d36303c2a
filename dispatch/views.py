"""Cases as the API, the event log and the messages show them (CONTRACT §4): one shape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, field_serializer

from devices.geo import Crs, from_wgs84
from dispatch.models import Case, CaseStep

__all__ = ["CaseView", "StepView", "case_view", "rfc3339", "step_view"]


def rfc3339(at: datetime | None) -> str | None:
    """Return ``at`` as RFC 3339 UTC with ``Z`` (None stays None)."""
    if at is None:
        return None
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


class StepView(BaseModel):
    """One step of a case's history."""

    seq: int
    action: str
    from_status: str | None
    to_status: str
    actor: str | None
    at: datetime
    note: str
    photos: list[str]
    lat: float | None
    lon: float | None
    detail: dict[str, Any]

    @field_serializer("at")
    def _at(self, value: datetime) -> str | None:
        return rfc3339(value)


class CaseView(BaseModel):
    """A case: CONTRACT §4's fields, then FireGrid's extensions; ``history`` on request."""

    id: str
    hazard_ids: list[int]
    report_ids: list[str]
    category: str
    urgency: str
    status: str
    grid_code: str | None
    community_code: str | None
    street_code: str | None
    unit_id: str | None
    lat: float | None
    lon: float | None
    assignee: str | None
    assignee_reason: str
    escalation_level: int
    stage: str | None
    deadline: datetime | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    handled_by: str | None
    rework: int
    area_type: str
    version: int
    # 挂账: the clock is paused since then (``deadline`` is null until ``resume``).
    suspended_since: datetime | None = None
    history: list[StepView] | None = None

    @field_serializer("deadline", "created_at", "updated_at", "closed_at", "suspended_since")
    def _times(self, value: datetime | None) -> str | None:
        return rfc3339(value)


def step_view(step: CaseStep, crs: Crs = Crs.WGS84) -> StepView:
    """Show one step, where it was taken in ``crs`` (stored in WGS-84)."""
    view = StepView.model_validate(step.model_dump())
    if crs is Crs.WGS84 or view.lat is None or view.lon is None:
        return view
    lat, lon = from_wgs84(view.lat, view.lon, crs)
    return view.model_copy(update={"lat": lat, "lon": lon})


def case_view(case: Case, *, steps: list[CaseStep] | None = None, crs: Crs = Crs.WGS84) -> CaseView:
    """Show a case (with its history when ``steps`` is given), its points in ``crs``."""
    lat, lon = case.lat, case.lon
    if lat is not None and lon is not None:
        lat, lon = from_wgs84(lat, lon, crs)
    return CaseView(
        id=case.case_id,
        hazard_ids=case.hazard_ids,
        report_ids=case.report_ids,
        category=case.category,
        urgency=case.urgency,
        status=case.status,
        grid_code=case.grid_code,
        community_code=case.community_code,
        street_code=case.street_code,
        unit_id=case.unit_id,
        lat=lat,
        lon=lon,
        assignee=case.assignee,
        assignee_reason=case.assignee_reason,
        escalation_level=case.escalation_level,
        stage=case.stage,
        deadline=case.deadline,
        created_at=case.created_at,
        updated_at=case.updated_at,
        closed_at=case.closed_at,
        handled_by=case.handled_by,
        rework=case.rework,
        area_type=case.area_type,
        version=case.version,
        suspended_since=case.suspended_since,
        history=None if steps is None else [step_view(s, crs) for s in steps],
    )
