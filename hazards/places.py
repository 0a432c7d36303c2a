"""Where a hazard is: locating its subject (sensor, unit, terminal, grid, report) in the grid.

A sensor takes its registered position (else its unit's), a terminal its latest fix, a grid its
own centre, and a report the place the rules stored when they took it in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from grids.locator import GridLocator
from infra.database import Conn


@dataclass(frozen=True, slots=True)
class Place:
    """Where a hazard is: WGS-84 point, its grid codes and the grid version used."""

    lat: float | None = None
    lon: float | None = None
    device_id: str | None = None
    unit_id: str | None = None
    grid_code: str | None = None
    community_code: str | None = None
    street_code: str | None = None
    grid_version: int | None = None


def locate_subject(
    conn: Conn, *, subject_type: str, subject_id: str, locator: GridLocator | None
) -> Place:
    """Locate a hazard's subject: a sensor's registered position (else its unit's), a unit's
    position, a terminal's latest fix, or the grid itself."""
    lat = lon = None
    device_id = unit_id = None
    if subject_type == "device":
        row = conn.execute(
            "SELECT d.kind, d.unit_id, coalesce(d.lat, u.lat), coalesce(d.lon, u.lon) "
            "FROM devices d LEFT JOIN key_units u USING (unit_id) WHERE d.device_id = %s",
            (subject_id,),
        ).fetchone()
        device_id = subject_id
        if row is not None:
            unit_id, lat, lon = row[1], row[2], row[3]
            if row[0] == "terminal":
                subject_type = "terminal"
    elif subject_type == "unit":
        unit_id = subject_id
        row = conn.execute(
            "SELECT lat, lon FROM key_units WHERE unit_id = %s", (subject_id,)
        ).fetchone()
        if row is not None:
            lat, lon = row
    elif subject_type == "grid":
        row = conn.execute(
            "SELECT version, (min_lat + max_lat) / 2, (min_lon + max_lon) / 2 FROM grid_areas "
            "WHERE code = %s AND level = 'grid' ORDER BY version DESC LIMIT 1",
            (subject_id,),
        ).fetchone()
        version, lat, lon = row if row is not None else (None, None, None)
        return Place(lat, lon, None, None, subject_id, subject_id[:12], subject_id[:9], version)
    if subject_type == "terminal":
        device_id = subject_id
        row = conn.execute(
            "SELECT lat, lon FROM fixes WHERE terminal_id = %s ORDER BY ts DESC LIMIT 1",
            (subject_id,),
        ).fetchone()
        if row is not None:
            lat, lon = row
    where = locator.locate(lat, lon) if locator and lat is not None and lon is not None else None
    if where is None:
        return Place(lat, lon, device_id, unit_id)
    return Place(
        lat,
        lon,
        device_id,
        unit_id,
        where.grid_code,
        where.community_code,
        where.street_code,
        where.version,
    )


_REPORT_PLACES: Final = """
SELECT report_id::text, lat, lon, terminal_id, unit_id, grid_code, community_code, street_code,
       grid_version
FROM hazard_reports WHERE report_id = ANY(%s::text[])
"""


def locate_subjects(
    conn: Conn, *, subjects: Sequence[tuple[str, str]], locator: GridLocator | None
) -> dict[tuple[str, str], Place]:
    """Locate many subjects: sensors and reports in one query each, the rest (terminals, units,
    grids) one by one; a report's hazard is where the report is, its device the terminal."""
    devices = [sid for st, sid in subjects if st == "device"]
    found: dict[str, tuple[Any, ...]] = {}
    if devices:
        for row in conn.execute(
            "SELECT d.device_id, d.kind, d.unit_id, coalesce(d.lat, u.lat), coalesce(d.lon, u.lon) "
            "FROM devices d LEFT JOIN key_units u USING (unit_id) WHERE d.device_id = ANY(%s)",
            (devices,),
        ):
            found[row[0]] = row
    out: dict[tuple[str, str], Place] = {}
    reports = [sid for st, sid in subjects if st == "report"]
    if reports:  # located when the rules took the report in, in this same transaction
        for row in conn.execute(_REPORT_PLACES, (reports,)):
            out["report", row[0]] = Place(*row[1:])
    for st, sid in subjects:
        if st == "report":
            out.setdefault((st, sid), Place())
            continue
        row = found.get(sid) if st == "device" else None
        if st != "device" or (row is not None and row[1] == "terminal"):
            out[st, sid] = locate_subject(conn, subject_type=st, subject_id=sid, locator=locator)
            continue
        unit_id, lat, lon = (row[2], row[3], row[4]) if row is not None else (None, None, None)
        where = (
            locator.locate(lat, lon) if locator and lat is not None and lon is not None else None
        )
        out[st, sid] = (
            Place(lat, lon, sid, unit_id)
            if where is None
            else Place(
                lat,
                lon,
                sid,
                unit_id,
                where.grid_code,
                where.community_code,
                where.street_code,
                where.version,
            )
        )
    return out
