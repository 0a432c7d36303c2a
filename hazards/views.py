"""Hazards as integrators and operators see them (CONTRACT §4): the REST answers and the live
feed show a stored hazard the same way, through ``hazard_view``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from devices.geo import Crs, from_wgs84
from hazards.models import Hazard, HazardStatus, Severity


class Subject(BaseModel):
    """What a hazard is about."""

    type: str  # device, unit, grid, terminal, report
    id: str


class HazardView(BaseModel):
    """A hazard as the API shows it: CONTRACT §4's fields, then FireGrid's extensions."""

    id: int
    rule: str
    kind: str
    severity: Severity
    status: HazardStatus
    device_id: str | None
    unit_id: str | None
    grid_code: str | None
    community_code: str | None
    street_code: str | None
    lat: float | None
    lon: float | None
    opened_at: datetime
    cleared_at: datetime | None
    occurrences: int
    # Extensions (CONTRACT allows optional fields): the subject, episode and state.
    subject: Subject
    episode: int
    grid_version: int | None
    placement: str  # placed, outside, no_grids, no_position
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledged_note: str | None = None
    last_value: float | None
    flapping: bool
    detail: dict[str, Any]
    updated_at: datetime


def hazard_view(hazard: Hazard, crs: Crs) -> HazardView:
    """Show a stored hazard, its point in ``crs``."""
    lat, lon = hazard.lat, hazard.lon
    if lat is not None and lon is not None:
        lat, lon = from_wgs84(lat, lon, crs)
    return HazardView(
        id=hazard.id,
        rule=hazard.rule_id,
        kind=hazard.kind,
        severity=hazard.severity,
        status=hazard.status,
        device_id=hazard.device_id,
        unit_id=hazard.unit_id,
        grid_code=hazard.grid_code,
        community_code=hazard.community_code,
        street_code=hazard.street_code,
        lat=lat,
        lon=lon,
        opened_at=hazard.opened_at,
        cleared_at=hazard.cleared_at,
        occurrences=hazard.occurrences,
        subject=Subject(type=hazard.subject_type, id=hazard.subject_id),
        episode=hazard.episode,
        grid_version=hazard.grid_version,
        placement=hazard.placement,
        acknowledged_at=hazard.acknowledged_at,
        acknowledged_by=hazard.acknowledged_by,
        acknowledged_note=hazard.acknowledged_note,
        last_value=hazard.last_value,
        flapping=hazard.flapping,
        detail=hazard.detail,
        updated_at=hazard.updated_at,
    )
