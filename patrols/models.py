"""Patrol segments as stored and as the API shows them (one form: the row is the answer)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class SegmentGrid(BaseModel):
    """Time a segment spent in one grid (``patrols.segments.GridVisit``, stored as JSON)."""

    model_config = ConfigDict(frozen=True)

    grid: str
    community: str
    street: str
    seconds: float
    fixes: int


class Segment(BaseModel):
    """A patrol segment: when, how far, and the grids it passed through."""

    model_config = ConfigDict(frozen=True)

    terminal_id: str
    staff_id: str | None
    started_at: datetime
    ended_at: datetime
    duration_s: float
    distance_m: float
    fixes: int
    extent_m: float
    cells: int
    grids: list[SegmentGrid]
    grid_version: int | None
    valid: bool
    reason: str | None  # why not valid; null when valid
