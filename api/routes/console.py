"""The operators' console lists (issue 9): key units, devices, staff; a key unit's file (一户一档).

Each list is scoped to the token's areas like the hazards are: a unit or device by the grid its
position lies in, a staff member by their area. The queries are in ``api.console_queries``.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.console_queries import (
    list_devices,
    list_staff,
    list_units,
    month_of,
    placed_filter,
    unit_cases,
    unit_devices,
    unit_hazards,
)
from api.deps import Caller, Config, Conn, Now
from api.errors import ERROR_RESPONSES, ApiError
from api.pagination import MAX_LIMIT, Page, cursor_text, decode_cursor, page
from api.routes.grids import Locator
from devices.geo import Crs
from devices.service import get_unit
from devices.views import DeviceView, StaffView, Status, StoredDevice, UnitView, device_view
from dispatch.views import CaseView, case_view
from hazards.models import HazardStatus
from hazards.views import HazardView, hazard_view

T = TypeVar("T")

router = APIRouter(prefix="/api/v1", tags=["console"], responses=ERROR_RESPONSES)

# The rules whose hazards the unit file reads: kinds, so renamed or added rules count too.
FALSE_ALARM_KIND = "false_alarms"
MONTHLY_CHECK_RULE = "extinguisher_monthly_check"


class MonthCount(BaseModel):
    """How many false-alarm hazards opened in one calendar month (UTC)."""

    month: str  # YYYY-MM
    count: int


class Inspection(BaseModel):
    """One overdue extinguisher monthly check: opened when overdue, cleared when done."""

    hazard_id: int
    device_id: str | None
    overdue_since: datetime
    checked_at: datetime | None  # the hazard's clearing: the check was recorded
    status: HazardStatus


class UnitFile(BaseModel):
    """A key unit's file: registry, devices with status, hazards, cases, false alarms, checks."""

    unit: UnitView
    devices: list[DeviceView]
    open_hazards: list[HazardView]
    cases: list[CaseView]
    false_alarms: list[MonthCount]
    inspections: list[Inspection]


def _after(cursor: str | None) -> str | None:
    return decode_cursor(cursor, lambda p: cursor_text(p["id"]))


@router.get("/units", response_model=Page[UnitView])
def get_units(
    *,  # FastAPI passes every parameter by name
    conn: Conn,
    caller: Caller,
    locator: Locator,
    level: Annotated[int | None, Query(ge=1, le=3)] = None,
    responsible: str | None = None,
    grid: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: str | None = None,
) -> Page[UnitView]:
    """List key units by ID; ``grid`` takes a grid, community or street code."""
    in_areas = placed_filter(locator, caller.areas)
    in_grid = placed_filter(locator, [grid] if grid else [])

    def keep(rows: list[UnitView]) -> list[bool]:
        points = [(r.lat, r.lon) for r in rows]
        return [a and b for a, b in zip(in_areas(points), in_grid(points), strict=True)]

    rows, more = list_units(
        conn, keep=keep, level=level, responsible=responsible, after=_after(cursor), limit=limit
    )
    return _page(rows, [r.unit_id for r in rows], more, limit)


@router.get("/devices", response_model=Page[DeviceView])
def get_devices(
    *,  # FastAPI passes every parameter by name
    conn: Conn,
    caller: Caller,
    locator: Locator,
    settings: Config,
    clock: Now,
    kind: str | None = None,
    unit_id: str | None = None,
    status: Status | None = None,
    grid: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: str | None = None,
) -> Page[DeviceView]:
    """List registered devices by ID with their status; ``grid`` takes any area code."""
    in_areas = placed_filter(locator, caller.areas)
    in_grid = placed_filter(locator, [grid] if grid else [])
    now = clock.now()

    def view(row: StoredDevice) -> DeviceView:
        cfg = settings.devices
        return device_view(
            row,
            now=now,
            missed_heartbeats=cfg.missed_heartbeats,
            default_heartbeat_s=cfg.default_heartbeat_s,
        )

    def keep(rows: list[StoredDevice]) -> list[bool]:
        points = [(r.lat, r.lon) for r in rows]
        placed = [a and b for a, b in zip(in_areas(points), in_grid(points), strict=True)]
        # Status is computed from silence at request time, so it filters here, not in SQL.
        wanted = [status is None or view(r).status == status for r in rows]
        return [a and b for a, b in zip(placed, wanted, strict=True)]

    rows, more = list_devices(
        conn, keep=keep, kind=kind, unit_id=unit_id, after=_after(cursor), limit=limit
    )
    return _page([view(r) for r in rows], [r.device_id for r in rows], more, limit)


@router.get("/staff", response_model=Page[StaffView])
def get_staff(
    *,  # FastAPI passes every parameter by name
    conn: Conn,
    caller: Caller,
    role: str | None = None,
    area: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: str | None = None,
) -> Page[StaffView]:
    """List staff by ID; ``area`` keeps those whose area lies in that code."""
    rows, more = list_staff(
        conn, areas=caller.areas, role=role, area=area, after=_after(cursor), limit=limit
    )
    return _page(rows, [r.staff_id for r in rows], more, limit)


def _page(items: list[T], ids: list[str], more: bool, limit: int) -> Page[T]:
    # The query looked one visible row ahead, so a full last page gets no cursor to an empty one.
    return page(items, limit=limit, position={"id": ids[-1]} if ids and more else None)


@router.get("/units/{unit_id}", response_model=UnitFile)
def get_unit_file(
    unit_id: str,
    *,
    conn: Conn,
    caller: Caller,
    locator: Locator,
    settings: Config,
    clock: Now,
    crs: Crs = Crs.WGS84,
) -> UnitFile:
    """Return a key unit's file: level, responsible person, devices and their status, open
    hazards, its cases, false alarms per month and the extinguishers' monthly checks."""
    unit = get_unit(conn, unit_id=unit_id)
    # A unit outside the caller's areas is answered like a missing one: no existence leak.
    if unit is None or not placed_filter(locator, caller.areas)([(unit.lat, unit.lon)])[0]:
        raise ApiError(404, "not_found", f"no key unit {unit_id!r}")
    now = clock.now()
    cfg = settings.devices
    devices = [
        device_view(
            row,
            now=now,
            missed_heartbeats=cfg.missed_heartbeats,
            default_heartbeat_s=cfg.default_heartbeat_s,
        )
        for row in unit_devices(conn, unit_id=unit_id)
    ]
    hazards = unit_hazards(conn, unit_id=unit_id, device_ids=[d.device_id for d in devices])
    false_alarms = Counter(month_of(h.opened_at) for h in hazards if h.kind == FALSE_ALARM_KIND)
    return UnitFile(
        unit=unit,
        devices=devices,
        open_hazards=[hazard_view(h, crs) for h in hazards if h.status != "cleared"],
        cases=[case_view(c, crs=crs) for c in unit_cases(conn, unit_id=unit_id)],
        false_alarms=[MonthCount(month=m, count=n) for m, n in sorted(false_alarms.items())],
        inspections=[
            Inspection(
                hazard_id=h.id,
                device_id=h.device_id,
                overdue_since=h.opened_at,
                checked_at=h.cleared_at,
                status=h.status,
            )
            for h in hazards
            if h.rule_id == MONTHLY_CHECK_RULE
        ],
    )
