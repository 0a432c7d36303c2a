"""Indicators (CONTRACT §4; definitions in ``dispatch.indicators`` and docs/DISPATCH.md): per
worker, grid, community or street over [from, to), within the token's areas."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Final

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from api.deps import Caller, Config, Conn, Now
from api.errors import ERROR_RESPONSES, ApiError
from dispatch.indicator_service import indicators
from dispatch.indicators import Indicator, Level

router = APIRouter(prefix="/api/v1", tags=["indicators"], responses=ERROR_RESPONSES)

# A year and a bit: a longer period is a report to run offline, not a request.
MAX_PERIOD: Final = timedelta(days=400)


class IndicatorPage(BaseModel):
    """The contract's list shape (every item on one page) plus the period and level asked."""

    items: list[Indicator]
    next_cursor: str | None = None
    level: Level
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")


@router.get("/indicators", response_model=IndicatorPage, response_model_by_alias=True)
def get_indicators(
    *,  # FastAPI passes every parameter by name
    request: Request,
    conn: Conn,
    caller: Caller,
    config: Config,
    clock: Now,
    start: Annotated[datetime, Query(alias="from")],
    end: Annotated[datetime, Query(alias="to")],
    area: str | None = None,
    level: Level = "grid",
) -> IndicatorPage:
    """Return the indicators of each worker or area of ``level`` inside ``area`` and the
    token's areas, for cases due in [from, to)."""
    for name, value in (("from", start), ("to", end)):
        if value.tzinfo is None:
            raise ApiError(400, "invalid_time", f"{name} needs a UTC offset (e.g. ...Z)")
    if end <= start:
        raise ApiError(400, "invalid_period", "to must be after from", {"from": str(start)})
    if end - start > MAX_PERIOD:
        raise ApiError(400, "invalid_period", f"a period is at most {MAX_PERIOD.days} days")
    if area is not None and not area.isdigit():
        raise ApiError(400, "invalid_area", "area is a grid, community or street code (digits)")
    items = indicators(
        conn,
        level=level,
        start=start,
        end=end,
        areas=[[area] if area else [], list(caller.areas)],
        weights=config.dispatch.indicator_weights,
        # the rules file's 一日双巡 params, when the composition root read them
        patrol=getattr(request.app.state, "patrol_params", None),
        now=clock.now(),
    )
    return IndicatorPage(items=items, level=level, start=start, end=end)
