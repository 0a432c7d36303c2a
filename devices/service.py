"""Registry SQL: upsert imported rows, look devices, units and staff up.

Functions take an open connection and never commit: the caller owns the transaction, so an
import and whatever goes with it commit or roll back together.

Update semantics: a field not given in an imported row (empty cell, missing key) keeps the value
already stored; a given field replaces it. Threshold overrides, when given, replace the stored
set as a whole.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from devices.exceptions import RegistryError
from devices.registry import DeviceRow, StaffRow, UnitRow
from devices.views import (
    DeviceView,
    ImportCounts,
    Page,
    StaffView,
    StoredDevice,
    UnitView,
    device_view,
)
from infra.database import Conn

log = logging.getLogger(__name__)

# Rows per statement: unnest() arrays keep one round trip per chunk, and the chunk bounds the
# size of a single bind message.
_CHUNK: Final = 5_000
MAX_PAGE: Final = 1_000


def _chunks(rows: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(rows), _CHUNK):
        yield rows[start : start + _CHUNK]


def _check_unique(values: Iterable[str | None], *, field: str) -> None:
    # ON CONFLICT DO UPDATE cannot touch one row twice in a statement; say which row repeats.
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value is None:
            continue
        if value in seen:
            raise RegistryError(index + 1, field, f"{value!r} appears more than once")
        seen.add(value)


def _count(cur: psycopg.Cursor[Any], counts: ImportCounts) -> None:
    for (inserted,) in cur.fetchall():
        if inserted:
            counts.created += 1
        else:
            counts.updated += 1


_UPSERT_DEVICES = """
INSERT INTO devices AS d (device_id, kind, model, unit_id, lat, lon, installed_on,
                          manufactured_on, hydrant_class, agent, heartbeat_s, thresholds,
                          gb26875_address)
SELECT t.device_id, t.kind, t.model, t.unit_id, t.lat, t.lon, t.installed_on,
       t.manufactured_on, t.hydrant_class, t.agent, t.heartbeat_s,
       coalesce(t.thresholds, '{}'::jsonb), t.gb26875_address
FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::float8[], %s::float8[],
            %s::date[], %s::date[], %s::text[], %s::text[], %s::int4[], %s::jsonb[],
            %s::int8[])
     AS t(device_id, kind, model, unit_id, lat, lon, installed_on, manufactured_on,
          hydrant_class, agent, heartbeat_s, thresholds, gb26875_address)
ON CONFLICT (device_id) DO UPDATE SET
    kind = EXCLUDED.kind,
    model = coalesce(EXCLUDED.model, d.model),
    unit_id = coalesce(EXCLUDED.unit_id, d.unit_id),
    lat = coalesce(EXCLUDED.lat, d.lat),
    lon = coalesce(EXCLUDED.lon, d.lon),
    installed_on = coalesce(EXCLUDED.installed_on, d.installed_on),
    manufactured_on = coalesce(EXCLUDED.manufactured_on, d.manufactured_on),
    hydrant_class = coalesce(EXCLUDED.hydrant_class, d.hydrant_class),
    agent = coalesce(EXCLUDED.agent, d.agent),
    heartbeat_s = coalesce(EXCLUDED.heartbeat_s, d.heartbeat_s),
    gb26875_address = coalesce(EXCLUDED.gb26875_address, d.gb26875_address),
    updated_at = now()
RETURNING (xmax = 0) AS inserted
"""

# A transmission device replaced by a new one keeps its address (it is the panel's, set in the
# device): the import names the new holder, so the old one lets go (the address is UNIQUE).
_RELEASE_ADDRESSES = """
UPDATE devices AS d SET gb26875_address = NULL, updated_at = now()
FROM unnest(%s::text[], %s::int8[]) AS t(device_id, gb26875_address)
WHERE d.gb26875_address = t.gb26875_address AND d.device_id <> t.device_id
RETURNING d.device_id, t.gb26875_address
"""

# EXCLUDED cannot tell "no thresholds given" from "{}" (the insert needs a non-null value), so
# given threshold sets are written by a second statement.
_SET_THRESHOLDS = """
UPDATE devices AS d SET thresholds = t.thresholds
FROM unnest(%s::text[], %s::jsonb[]) AS t(device_id, thresholds)
WHERE d.device_id = t.device_id
"""


def upsert_devices(conn: Conn, *, rows: Sequence[DeviceRow]) -> ImportCounts:
    """Insert new devices and update existing ones; return how many of each."""
    _check_unique((r.device_id for r in rows), field="device_id")
    _check_unique(
        (None if r.gb26875_address is None else str(r.gb26875_address) for r in rows),
        field="gb26875_address",
    )
    counts = ImportCounts()
    with conn.cursor() as cur:
        holders = [r for r in rows if r.gb26875_address is not None]
        if holders:
            cur.execute(
                _RELEASE_ADDRESSES,
                ([r.device_id for r in holders], [r.gb26875_address for r in holders]),
            )
            for device_id, address in cur.fetchall():
                log.info("GB/T 26875 address %s moved away from device %s", address, device_id)
        for chunk in _chunks(rows):
            cur.execute(
                _UPSERT_DEVICES,
                (
                    [r.device_id for r in chunk],
                    [r.kind.value for r in chunk],
                    [r.model for r in chunk],
                    [r.unit_id for r in chunk],
                    [r.lat for r in chunk],
                    [r.lon for r in chunk],
                    [r.installed_on for r in chunk],
                    [r.manufactured_on for r in chunk],
                    [r.hydrant_class.value if r.hydrant_class else None for r in chunk],
                    [r.agent.value if r.agent else None for r in chunk],
                    [r.heartbeat_s for r in chunk],
                    [Jsonb(r.thresholds) if r.thresholds is not None else None for r in chunk],
                    [r.gb26875_address for r in chunk],
                ),
            )
            _count(cur, counts)
            given = [r for r in chunk if r.thresholds is not None]
            if given:
                cur.execute(
                    _SET_THRESHOLDS,
                    ([r.device_id for r in given], [Jsonb(r.thresholds) for r in given]),
                )
    return counts


_UPSERT_UNITS = """
INSERT INTO key_units AS u (unit_id, name, level, address, lat, lon, responsible)
SELECT * FROM unnest(%s::text[], %s::text[], %s::int2[], %s::text[], %s::float8[],
                     %s::float8[], %s::text[])
ON CONFLICT (unit_id) DO UPDATE SET
    name = EXCLUDED.name,
    level = coalesce(EXCLUDED.level, u.level),
    address = coalesce(EXCLUDED.address, u.address),
    lat = coalesce(EXCLUDED.lat, u.lat),
    lon = coalesce(EXCLUDED.lon, u.lon),
    responsible = coalesce(EXCLUDED.responsible, u.responsible),
    updated_at = now()
RETURNING (xmax = 0) AS inserted
"""


def upsert_units(conn: Conn, *, rows: Sequence[UnitRow]) -> ImportCounts:
    """Insert new key units and update existing ones; return how many of each."""
    _check_unique((r.unit_id for r in rows), field="unit_id")
    counts = ImportCounts()
    with conn.cursor() as cur:
        for chunk in _chunks(rows):
            cur.execute(
                _UPSERT_UNITS,
                (
                    [r.unit_id for r in chunk],
                    [r.name for r in chunk],
                    [r.level for r in chunk],
                    [r.address for r in chunk],
                    [r.lat for r in chunk],
                    [r.lon for r in chunk],
                    [r.responsible for r in chunk],
                ),
            )
            _count(cur, counts)
    return counts


# A handset handed to another worker: the import names its new holder, so whoever held it
# before lets go of it (terminal_id is UNIQUE). Logged, since it changes a row not imported.
_RELEASE_TERMINALS = """
UPDATE staff AS s SET terminal_id = NULL, updated_at = now()
FROM unnest(%s::text[], %s::text[]) AS t(staff_id, terminal_id)
WHERE s.terminal_id = t.terminal_id AND s.staff_id <> t.staff_id
RETURNING s.staff_id, t.terminal_id
"""

_UPSERT_STAFF = """
INSERT INTO staff AS s (staff_id, name, role, area, terminal_id, phone)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[])
ON CONFLICT (staff_id) DO UPDATE SET
    name = EXCLUDED.name,
    role = EXCLUDED.role,
    area = coalesce(EXCLUDED.area, s.area),
    terminal_id = coalesce(EXCLUDED.terminal_id, s.terminal_id),
    phone = coalesce(EXCLUDED.phone, s.phone),
    updated_at = now()
RETURNING (xmax = 0) AS inserted
"""


def upsert_staff(conn: Conn, *, rows: Sequence[StaffRow]) -> ImportCounts:
    """Insert new staff and update existing ones, moving terminals to their new holders."""
    _check_unique((r.staff_id for r in rows), field="staff_id")
    _check_unique((r.terminal_id for r in rows), field="terminal_id")
    counts = ImportCounts()
    with conn.cursor() as cur:
        holders = [r for r in rows if r.terminal_id is not None]
        if holders:
            cur.execute(
                _RELEASE_TERMINALS,
                ([r.staff_id for r in holders], [r.terminal_id for r in holders]),
            )
            for staff_id, terminal_id in cur.fetchall():
                log.info("terminal %s moved away from staff %s", terminal_id, staff_id)
        for chunk in _chunks(rows):
            cur.execute(
                _UPSERT_STAFF,
                (
                    [r.staff_id for r in chunk],
                    [r.name for r in chunk],
                    [r.role.value for r in chunk],
                    [r.area for r in chunk],
                    [r.terminal_id for r in chunk],
                    [r.phone for r in chunk],
                ),
            )
            _count(cur, counts)
    return counts


def known_device_ids(conn: Conn, *, ids: Sequence[str]) -> set[str]:
    """Return which of ``ids`` are registered devices."""
    if not ids:
        return set()
    cur = conn.execute("SELECT device_id FROM devices WHERE device_id = ANY(%s)", (list(ids),))
    return {device_id for (device_id,) in cur.fetchall()}


def known_unit_ids(conn: Conn, *, ids: Sequence[str]) -> set[str]:
    """Return which of ``ids`` are registered key units."""
    if not ids:
        return set()
    cur = conn.execute("SELECT unit_id FROM key_units WHERE unit_id = ANY(%s)", (list(ids),))
    return {unit_id for (unit_id,) in cur.fetchall()}


def devices_by_gb26875_address(conn: Conn, *, addresses: Sequence[int]) -> dict[int, str]:
    """Return the registered device ID of each of ``addresses`` that has one."""
    if not addresses:
        return {}
    cur = conn.execute(
        "SELECT gb26875_address, device_id FROM devices WHERE gb26875_address = ANY(%s)",
        (list(addresses),),
    )
    return {int(address): device_id for address, device_id in cur.fetchall()}


def known_terminal_ids(conn: Conn, *, ids: Sequence[str]) -> set[str]:
    """Return which of ``ids`` are known terminals: held by staff or registered as devices."""
    if not ids:
        return set()
    cur = conn.execute(
        "SELECT terminal_id FROM staff WHERE terminal_id = ANY(%(ids)s)"
        " UNION SELECT device_id FROM devices WHERE kind = 'terminal' AND device_id = ANY(%(ids)s)",
        {"ids": list(ids)},
    )
    return {terminal_id for (terminal_id,) in cur.fetchall()}


_DEVICE_SELECT = sql.SQL(
    "SELECT d.device_id, d.kind, d.model, d.unit_id, d.lat, d.lon, d.installed_on,"
    " d.manufactured_on, d.hydrant_class, d.agent, d.heartbeat_s, d.thresholds, d.updated_at,"
    " s.last_received_at AS last_seen, s.latest"
    " FROM devices AS d LEFT JOIN device_status AS s USING (device_id)"
)


def get_device(
    conn: Conn,
    *,
    device_id: str,
    now: datetime,
    missed_heartbeats: float = 3,
    default_heartbeat_s: Mapping[str, int] | None = None,
) -> DeviceView | None:
    """Return a device with its status at ``now``, last receive time and latest values."""
    with conn.cursor(row_factory=class_row(StoredDevice)) as cur:
        cur.execute(_DEVICE_SELECT + sql.SQL(" WHERE d.device_id = %s"), (device_id,))
        row = cur.fetchone()
    if row is None:
        return None
    return device_view(
        row, now=now, missed_heartbeats=missed_heartbeats, default_heartbeat_s=default_heartbeat_s
    )


def list_devices(
    conn: Conn,
    *,
    limit: int,
    cursor: str | None = None,
    kind: str | None = None,
    unit_id: str | None = None,
    now: datetime,
    missed_heartbeats: float = 3,
    default_heartbeat_s: Mapping[str, int] | None = None,
) -> Page[DeviceView]:
    """Return one page of devices ordered by ID; ``cursor`` is the previous page's last ID."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    where: list[sql.Composable] = []
    params: list[Any] = []
    for clause, value in (
        ("d.device_id > %s", cursor),
        ("d.kind = %s", kind),
        ("d.unit_id = %s", unit_id),
    ):
        if value is not None:
            where.append(sql.SQL(clause))
            params.append(value)
    query: sql.Composable = _DEVICE_SELECT
    if where:
        query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where)
    # One extra row says whether another page exists without a count(*).
    query += sql.SQL(" ORDER BY d.device_id LIMIT %s")
    params.append(limit + 1)
    with conn.cursor(row_factory=class_row(StoredDevice)) as cur:
        cur.execute(query, params)
        rows = cur.fetchall()
    items = [
        device_view(
            row,
            now=now,
            missed_heartbeats=missed_heartbeats,
            default_heartbeat_s=default_heartbeat_s,
        )
        for row in rows[:limit]
    ]
    next_cursor = items[-1].device_id if len(rows) > limit else None
    return Page[DeviceView](items=items, next_cursor=next_cursor)


def get_unit(conn: Conn, *, unit_id: str) -> UnitView | None:
    """Return a key unit with the IDs of the devices registered to it."""
    with conn.cursor(row_factory=class_row(UnitView)) as cur:
        cur.execute(
            "SELECT u.unit_id, u.name, u.level, u.address, u.lat, u.lon, u.responsible,"
            " u.updated_at, array(SELECT d.device_id FROM devices AS d"
            " WHERE d.unit_id = u.unit_id ORDER BY d.device_id) AS device_ids"
            " FROM key_units AS u WHERE u.unit_id = %s",
            (unit_id,),
        )
        return cur.fetchone()


def get_staff(conn: Conn, *, staff_id: str) -> StaffView | None:
    """Return a staff member by ID."""
    with conn.cursor(row_factory=class_row(StaffView)) as cur:
        cur.execute(
            "SELECT staff_id, name, role, area, terminal_id, phone, updated_at"
            " FROM staff WHERE staff_id = %s",
            (staff_id,),
        )
        return cur.fetchone()


def staff_for_terminal(conn: Conn, *, terminal_id: str) -> StaffView | None:
    """Return the staff member who carries ``terminal_id``, if anyone does."""
    with conn.cursor(row_factory=class_row(StaffView)) as cur:
        cur.execute(
            "SELECT staff_id, name, role, area, terminal_id, phone, updated_at"
            " FROM staff WHERE terminal_id = %s",
            (terminal_id,),
        )
        return cur.fetchone()
