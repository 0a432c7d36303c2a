"""The ``dispatch`` settings section."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from dispatch.models import AreaType

__all__ = ["DispatchSettings"]


class DispatchSettings(BaseModel):
    """How cases are opened, checked and polled for."""

    case_rules: Path | None = Field(
        default=None, description="a local case rules file (default: dispatch/case_rules.yaml)"
    )
    area_type: AreaType = Field(
        default="urban", description="deadlines' area type (per-community overrides: later)"
    )
    verify_max_distance_m: float = Field(
        default=50.0, gt=0, description="a verification's position (and photos') from the case"
    )
    poll_s: float = Field(default=1.0, gt=0, description="fallback poll of the event log")
    events_per_tx: int = Field(default=100, ge=1, description="log events handled per transaction")
