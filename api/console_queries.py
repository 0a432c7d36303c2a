"""What the operators' console lists (issue 9): key units, devices, staff, and a unit's file.

The registry rows carry no grid codes, only a position (units, devices) or an area code (staff),
so the caller's areas are applied in Python: rows are read in ID order in batches, each placed
with the grid locator (the current grid version), and the visible ones kept until a page is full.
A row without a position, or outside every grid, is seen only by tokens without areas.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from psycopg import sql
from psycopg.rows import class_row
from pydantic import BaseModel

from devices.views import StaffView, StoredDevice, UnitView
from dispatch.models import Case
from dispatch.service import FIELDS as CASE_FIELDS
from grids.codes import GridLevel, in_area, level_for_length
from grids.locator import GridLocator
from hazards.models import Hazard
from hazards.service import FIELDS as HAZARD_FIELDS
from infra.database import Conn

RowT = TypeVar("RowT", bound=BaseModel)
_BATCH = 500

_UNIT_SELECT = (
    "SELECT u.unit_id, u.name, u.level, u.address, u.lat, u.lon, u.responsible, u.updated_at,"
    " array(SELECT d.device_id FROM devices AS d WHERE d.unit_id = u.unit_id"
    " ORDER BY d.device_id) AS device_ids FROM key_units AS u"
)
_STAFF_SELECT = "SELECT staff_id, name, role, area, terminal_id, phone, updated_at FROM staff AS s"


def in_any_area(
    areas: Sequence[str], *, grid: str | None, community: str | None, street: str | None
) -> bool:
    """Tell whether a place with these codes lies in one of ``areas`` (empty: everywhere)."""
    if not areas:
        return True
    return any(in_area(a, grid=grid, community=community, street=street) for a in areas)


def area_codes(code: str | None) -> tuple[str | None, str | None, str | None]:
    """Return the (grid, community, street) codes an area code stands for (DOMAIN §1 digits).

    A staff member of a community works in it and in its street, not in one grid of it.
    """
    if code is None:
        return None, None, None
    level = level_for_length(len(code))
    if level is GridLevel.GRID:
        return code, code[:12], code[:9]
    if level is GridLevel.COMMUNITY:
        return None, code, code[:9]
    if level is GridLevel.STREET:
        return None, None, code
    return None, None, None


def placed_filter(
    locator: GridLocator, areas: Sequence[str]
) -> Callable[[Sequence[tuple[float | None, float | None]]], list[bool]]:
    """Return a batch test: is each (lat, lon) inside one of ``areas``?"""

    def test(points: Sequence[tuple[float | None, float | None]]) -> list[bool]:
        if not areas:
            return [True] * len(points)
        lats = [p[0] if p[0] is not None and p[1] is not None else float("nan") for p in points]
        lons = [p[1] if p[0] is not None and p[1] is not None else float("nan") for p in points]
        located = locator.locate_many(lats, lons)
        return [
            in_any_area(
                areas,
                grid=located.grid[i],
                community=located.community[i],
                street=located.street[i],
            )
            if located.grid[i] is not None
            else False
            for i in range(len(points))
        ]

    return test


def _batches(
    conn: Conn,
    *,
    model: type[RowT],
    select: str,
    key: str,
    where: list[tuple[str, Any]],
    after: str | None,
) -> Iterator[list[RowT]]:
    """Yield the rows matching ``where`` in ``key`` order after ``after``, a batch at a time."""
    while True:
        clauses = [clause for clause, _ in where]
        params = [value for _, value in where]
        if after is not None:
            clauses.append(f"{key} > %s")
            params.append(after)
        text = select + (" WHERE " + " AND ".join(clauses) if clauses else "")
        query = sql.SQL(text + f" ORDER BY {key} LIMIT %s")
        with conn.cursor(row_factory=class_row(model)) as cur:
            rows = cur.execute(query, [*params, _BATCH]).fetchall()
        if not rows:
            return
        yield rows
        if len(rows) < _BATCH:
            return
        after = str(getattr(rows[-1], key.rsplit(".", 1)[-1]))


def keyset_page(
    batches: Iterator[list[RowT]],
    keep: Callable[[list[RowT]], list[bool]],
    limit: int,
) -> tuple[list[RowT], bool]:
    """Take the first ``limit`` kept rows; say whether another kept row follows."""
    kept: list[RowT] = []
    for batch in batches:
        for row, ok in zip(batch, keep(batch), strict=True):
            if ok:
                if len(kept) == limit:
                    return kept, True
                kept.append(row)
    return kept, False


def list_units(
    conn: Conn,
    *,
    keep: Callable[[list[UnitView]], list[bool]],
    level: int | None,
    responsible: str | None,
    after: str | None,
    limit: int,
) -> tuple[list[UnitView], bool]:
    """Return key units in ID order that ``keep`` accepts, and whether more follow."""
    where = [(c, v) for c, v in (("u.level = %s", level), ("u.responsible = %s", responsible))]
    where = [(c, v) for c, v in where if v is not None]
    batches = _batches(
        conn, model=UnitView, select=_UNIT_SELECT, key="u.unit_id", where=where, after=after
    )
    return keyset_page(batches, keep, limit)


def list_staff(
    conn: Conn,
    *,
    areas: Sequence[str],
    role: str | None,
    area: str | None,
    after: str | None,
    limit: int,
) -> tuple[list[StaffView], bool]:
    """Return staff in ID order whose area lies in ``areas`` (and in ``area``), and whether
    more follow; a staff member without an area is seen only by tokens without areas."""
    where = [(c, v) for c, v in (("s.role = %s", role),) if v is not None]

    def keep(rows: list[StaffView]) -> list[bool]:
        out = []
        for row in rows:
            grid, community, street = area_codes(row.area)
            ok = in_any_area(areas, grid=grid, community=community, street=street)
            if area is not None:
                ok = ok and in_area(area, grid=grid, community=community, street=street)
            out.append(ok)
        return out

    batches = _batches(
        conn, model=StaffView, select=_STAFF_SELECT, key="s.staff_id", where=where, after=after
    )
    return keyset_page(batches, keep, limit)


def unit_hazards(conn: Conn, *, unit_id: str, device_ids: Sequence[str]) -> list[Hazard]:
    """Return every hazard of the unit or of one of its devices, newest first (≤ 1000)."""
    with conn.cursor(row_factory=class_row(Hazard)) as cur:
        return cur.execute(
            f"SELECT {HAZARD_FIELDS} FROM hazards WHERE unit_id = %s OR device_id = ANY(%s)"
            " ORDER BY id DESC LIMIT 1000",
            (unit_id, list(device_ids)),
        ).fetchall()


def unit_cases(conn: Conn, *, unit_id: str) -> list[Case]:
    """Return the cases filed against the unit, newest first (≤ 200)."""
    with conn.cursor(row_factory=class_row(Case)) as cur:
        return cur.execute(
            f"SELECT {CASE_FIELDS} FROM cases AS c WHERE c.unit_id = %s"
            " ORDER BY c.created_at DESC, c.case_id DESC LIMIT 200",
            (unit_id,),
        ).fetchall()


def month_of(ts: datetime) -> str:
    """Return the calendar month ``YYYY-MM`` of a UTC time (the false-alarm series' bucket)."""
    return ts.strftime("%Y-%m")


_DEVICE_SELECT = (
    "SELECT d.device_id, d.kind, d.model, d.unit_id, d.lat, d.lon, d.installed_on,"
    " d.manufactured_on, d.hydrant_class, d.agent, d.heartbeat_s, d.thresholds, d.updated_at,"
    " s.last_received_at AS last_seen, s.latest"
    " FROM devices AS d LEFT JOIN device_status AS s USING (device_id)"
)


def list_devices(
    conn: Conn,
    *,
    keep: Callable[[list[StoredDevice]], list[bool]],
    kind: str | None,
    unit_id: str | None,
    after: str | None,
    limit: int,
) -> tuple[list[StoredDevice], bool]:
    """Return devices in ID order that ``keep`` accepts, and whether more follow."""
    where = [(c, v) for c, v in (("d.kind = %s", kind), ("d.unit_id = %s", unit_id))]
    where = [(c, v) for c, v in where if v is not None]
    batches = _batches(
        conn,
        model=StoredDevice,
        select=_DEVICE_SELECT,
        key="d.device_id",
        where=where,
        after=after,
    )
    return keyset_page(batches, keep, limit)


def unit_devices(conn: Conn, *, unit_id: str) -> list[StoredDevice]:
    """Return the devices registered to a unit, in ID order."""
    with conn.cursor(row_factory=class_row(StoredDevice)) as cur:
        return cur.execute(
            _DEVICE_SELECT + " WHERE d.unit_id = %s ORDER BY d.device_id", (unit_id,)
        ).fetchall()
