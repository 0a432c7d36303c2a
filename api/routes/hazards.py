"""Hazards as integrators and operators see them (CONTRACT §4): list, one, acknowledge."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import Caller, Conn, Now
from api.errors import ERROR_RESPONSES, ApiError, documented
from api.pagination import MAX_LIMIT, Page, cursor_int, decode_cursor, page
from api.permissions import allow
from api.tokens import Principal
from devices.geo import Crs
from hazards.models import Hazard, HazardStatus, Severity
from hazards.service import ack_hazard, get_hazard, list_hazards
from hazards.views import HazardView, hazard_view

router = APIRouter(prefix="/api/v1", tags=["hazards"], responses=ERROR_RESPONSES)


class AckBody(BaseModel):
    """Optional body of an acknowledgement: a note. The acknowledger is the token's actor."""

    # Accepted for old callers and ignored: the actor is the token's (issue 9 point 3).
    by: str | None = Field(default=None, deprecated=True)
    note: str | None = Field(default=None, max_length=500)


def visible(caller: Principal, hazard: Hazard) -> bool:
    """Say whether ``caller``'s areas include the hazard's place (the live feed asks too)."""
    return caller.sees_place(
        grid=hazard.grid_code, community=hazard.community_code, street=hazard.street_code
    )


@router.get("/hazards", response_model=Page[HazardView])
def get_hazards(
    *,  # FastAPI passes every parameter by name
    conn: Conn,
    caller: Caller,
    status: HazardStatus | None = None,
    severity: Severity | None = None,
    kind: str | None = None,
    grid: str | None = None,
    since: datetime | None = None,
    rule: str | None = None,
    device_id: str | None = None,
    unit_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: str | None = None,
    crs: Crs = Crs.WGS84,
) -> Page[HazardView]:
    """List hazards, newest first; ``grid`` takes a grid, community or street code."""
    if since is not None and since.tzinfo is None:
        raise ApiError(400, "invalid_time", "since needs a UTC offset (e.g. ...Z)")
    before = decode_cursor(cursor, lambda p: cursor_int(p["id"]))
    rows = list_hazards(
        conn,
        status=status,
        severity=severity,
        kind=kind,
        area=grid,
        since=since,
        rule=rule,
        device_id=device_id,
        unit_id=unit_id,
        areas=caller.areas,
        before_id=before,
        limit=limit,
    )
    items = [hazard_view(r, crs) for r in rows]
    return page(items, limit=limit, position={"id": rows[-1].id} if rows else None)


def _one(conn: Conn, caller: Principal, hazard_id: int) -> Hazard:
    row = get_hazard(conn, hazard_id=hazard_id)
    # A hazard outside the caller's areas is answered like a missing one: no existence leak.
    if row is None or not visible(caller, row):
        raise ApiError(404, "not_found", f"no hazard {hazard_id}")
    return row


@router.get("/hazards/{hazard_id}", response_model=HazardView)
def get_one_hazard(hazard_id: int, conn: Conn, caller: Caller, crs: Crs = Crs.WGS84) -> HazardView:
    """Return one hazard."""
    return hazard_view(_one(conn, caller, hazard_id), crs)


@router.post(
    "/hazards/{hazard_id}/ack",
    response_model=HazardView,
    responses={409: documented("the hazard is cleared")},
)
def acknowledge(
    hazard_id: int, conn: Conn, caller: Caller, clock: Now, body: AckBody | None = None
) -> HazardView:
    """Acknowledge a hazard; again is a no-op, a cleared one is a 409 ``hazard_cleared``.

    The acknowledgement is committed before this answers (``api.deps.get_conn``).
    """
    allow(caller, "hazards.ack")
    _one(conn, caller, hazard_id)
    note = body.note if body else None
    outcome, row = ack_hazard(
        conn, hazard_id=hazard_id, by=caller.actor, now=clock.now(), note=note
    )
    if row is None:
        raise ApiError(404, "not_found", f"no hazard {hazard_id}")
    if outcome == "cleared":
        raise ApiError(
            409,
            "hazard_cleared",
            f"hazard {hazard_id} is cleared and can no longer be acknowledged",
            {"id": hazard_id, "status": row.status, "cleared_at": str(row.cleared_at)},
        )
    return hazard_view(row, Crs.WGS84)
