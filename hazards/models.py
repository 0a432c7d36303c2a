"""Hazard vocabulary shared by whoever raises, stores or shows hazards: severities,
transitions, the stored hazard."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Hazard", "HazardStatus", "Severity", "TransitionKind"]

TransitionKind = Literal["open", "update", "clear"]
HazardStatus = Literal["open", "acknowledged", "cleared"]


class Severity(StrEnum):
    """Hazard severities of CONTRACT §4, in increasing order."""

    INFO = "info"
    WARNING = "warning"
    MAJOR = "major"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Return 0 for info up to 3 for critical, for comparisons."""
        return list(Severity).index(self)


class Hazard(BaseModel):
    """A stored hazard episode: one row of ``hazards`` (``hazards.service.FIELDS``)."""

    model_config = ConfigDict(frozen=True)

    id: int
    rule_id: str
    kind: str
    severity: Severity
    status: HazardStatus
    subject_type: str  # device, unit, grid, terminal, report
    subject_id: str
    key: str
    device_id: str | None
    unit_id: str | None
    grid_code: str | None
    community_code: str | None
    street_code: str | None
    grid_version: int | None
    # placed, outside (no grid covers the point), no_grids (none imported), no_position
    placement: str
    lat: float | None  # WGS-84
    lon: float | None
    opened_at: datetime  # device time
    cleared_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledged_note: str | None = None  # m0014: what the acknowledger wrote
    occurrences: int
    episode: int
    last_value: float | None
    detail: dict[str, Any]
    flapping: bool
    created_at: datetime
    updated_at: datetime
