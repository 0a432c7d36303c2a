"""Hazards as integrators and operators see them (CONTRACT §4): list, one, acknowledge."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import Caller, Conn, require_role
from api.errors import ApiError
from api.pagination import MAX_LIMIT, decode_cursor, page
from api.tokens import Principal
from devices.geo import Crs, from_wgs84
from hazards.service import ack_hazard, get_hazard, list_hazards

router = APIRouter(prefix="/api/v1", tags=["hazards"])

Status = Literal["open", "acknowledged", "cleared"]


class AckBody(BaseModel):
    """Optional body of an acknowledgement: who acknowledges (default: the token's role)."""

    by: str | None = None


def _visible(caller: Principal, row: dict[str, Any]) -> bool:
    return caller.sees_place(
        grid=row["grid_code"], community=row["community_code"], street=row["street_code"]
    )


def _item(row: dict[str, Any], crs: Crs) -> dict[str, Any]:
    lat, lon = row["lat"], row["lon"]
    if lat is not None and lon is not None:
        lat, lon = from_wgs84(lat, lon, crs)
    return {
        "id": row["id"],
        "rule": row["rule_id"],
        "kind": row["kind"],
        "severity": row["severity"],
        "status": row["status"],
        "device_id": row["device_id"],
        "unit_id": row["unit_id"],
        "grid_code": row["grid_code"],
        "community_code": row["community_code"],
        "street_code": row["street_code"],
        "lat": lat,
        "lon": lon,
        "opened_at": row["opened_at"],
        "cleared_at": row["cleared_at"],
        "occurrences": row["occurrences"],
        # Extensions (CONTRACT allows optional fields): the subject, episode and state.
        "subject": {"type": row["subject_type"], "id": row["subject_id"]},
        "episode": row["episode"],
        "grid_version": row["grid_version"],
        "placement": row["placement"],
        "acknowledged_at": row["acknowledged_at"],
        "acknowledged_by": row["acknowledged_by"],
        "last_value": row["last_value"],
        "flapping": row["flapping"],
        "detail": row["detail"],
        "updated_at": row["updated_at"],
    }


@router.get("/hazards")
def get_hazards(
    *,  # FastAPI passes every parameter by name
    conn: Conn,
    caller: Caller,
    status: Status | None = None,
    grid: str | None = None,
    since: datetime | None = None,
    rule: str | None = None,
    device_id: str | None = None,
    unit_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: str | None = None,
    crs: Crs = Crs.WGS84,
) -> dict[str, Any]:
    """List hazards, newest first; ``grid`` takes a grid, community or street code."""
    if since is not None and since.tzinfo is None:
        raise ApiError(400, "invalid_time", "since needs a UTC offset (e.g. ...Z)")
    position = decode_cursor(cursor)
    try:
        before = int(position["id"]) if position else None
    except (KeyError, TypeError, ValueError) as exc:
        raise ApiError(400, "invalid_cursor", "cursor is not one this API issued") from exc
    rows = list_hazards(
        conn,
        status=status,
        area=grid,
        since=since,
        rule=rule,
        device_id=device_id,
        unit_id=unit_id,
        areas=caller.areas,
        before_id=before,
        limit=limit,
    )
    items = [_item(r, crs) for r in rows]
    return page(items, limit=limit, position={"id": rows[-1]["id"]} if rows else None)


def _one(conn: Conn, caller: Principal, hazard_id: int) -> dict[str, Any]:
    row = get_hazard(conn, hazard_id=hazard_id)
    # A hazard outside the caller's areas is answered like a missing one: no existence leak.
    if row is None or not _visible(caller, row):
        raise ApiError(404, "not_found", f"no hazard {hazard_id}")
    return row


@router.get("/hazards/{hazard_id}")
def get_one_hazard(hazard_id: int, conn: Conn, caller: Caller, crs: Crs = Crs.WGS84) -> Any:
    """Return one hazard."""
    return _item(_one(conn, caller, hazard_id), crs)


@router.post("/hazards/{hazard_id}/ack")
def acknowledge(
    hazard_id: int, conn: Conn, caller: Caller, body: AckBody | None = None
) -> dict[str, Any]:
    """Acknowledge a hazard; again is a no-op, a cleared one is a 409 ``hazard_cleared``."""
    require_role(caller, "admin", "operator", "grid_worker")
    _one(conn, caller, hazard_id)
    by = (body.by if body else None) or caller.role
    outcome, row = ack_hazard(conn, hazard_id=hazard_id, by=by, now=datetime.now(UTC))
    if row is None:
        raise ApiError(404, "not_found", f"no hazard {hazard_id}")
    if outcome == "cleared":
        raise ApiError(
            409,
            "hazard_cleared",
            f"hazard {hazard_id} is cleared and can no longer be acknowledged",
            {"id": hazard_id, "status": row["status"], "cleared_at": str(row["cleared_at"])},
        )
    return _item(row, Crs.WGS84)
