"""Patrol segments of a handheld terminal (issue 3 §5), as rebuilt from its accepted fixes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Caller, Conn
from api.errors import ERROR_RESPONSES, ApiError
from api.pagination import MAX_LIMIT, Page, cursor_time, decode_cursor, page
from api.routes.grids import Locator
from api.scope import require_device
from patrols.models import Segment
from patrols.service import list_segments

router = APIRouter(prefix="/api/v1", tags=["patrols"], responses=ERROR_RESPONSES)


@router.get("/terminals/{terminal_id}/patrols")
def get_patrols(
    *,  # FastAPI passes every parameter by name
    terminal_id: str,
    conn: Conn,
    caller: Caller,
    locator: Locator,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
    cursor: str | None = None,
) -> Page[Segment]:
    """Return the terminal's patrol segments overlapping [from, to], oldest first."""
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise ApiError(400, "invalid_time", f"{name} needs a UTC offset (e.g. ...Z)")
    require_device(conn, caller, device_id=terminal_id, locator=locator)
    after = decode_cursor(cursor, lambda p: cursor_time(p["started_at"]))
    rows = list_segments(
        conn, terminal_id=terminal_id, start=start, end=end, after=after, limit=limit
    )
    last = {"started_at": rows[-1].started_at.isoformat()} if rows else None
    return page(rows, limit=limit, position=last)
