"""Where a hazard is: locating its subject (sensor, unit, terminal, grid, report) in the grid.

A sensor takes its registered position (else its unit's), a terminal its latest fix, a grid its
own centre, and a report the place the rules stored when they took it in.

``place_with_current_grids`` runs first in every rules transaction: it pins the grid version
committed at that moment and places the open hazards that still have a point but no grid under
it, so a hazard raised just before (or during) an import does not stay unplaced for good.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from grids.locator import GridLocator
from hazards.events import record_hazard_events
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
    return _place(lat, lon, device_id, unit_id, locator)


def _place(
    lat: float | None,
    lon: float | None,
    device_id: str | None,
    unit_id: str | None,
    locator: GridLocator | None,
) -> Place:
    """Place a point; outside every grid it keeps the version it was judged under, so the
    stored hazard says ``outside`` rather than ``no_grids`` (see m0009's ``placement``)."""
    if locator is None or lat is None or lon is None:
        return Place(lat, lon, device_id, unit_id)
    located = locator.locate_many([lat], [lon])
    where = located.at(0)
    if where is None:
        return Place(lat, lon, device_id, unit_id, grid_version=located.version)
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
        out[st, sid] = _place(lat, lon, sid, unit_id, locator)
    return out


# Open hazards with a point and no grid, judged under an older version (or none): the partial
# index hazards_unplaced (m0009) holds only these, so the common answer "none" costs one probe.
_UNPLACED: Final = """
SELECT id, rule_id, subject_type, subject_id, lat, lon FROM hazards
WHERE status <> 'cleared' AND grid_code IS NULL AND lat IS NOT NULL AND lon IS NOT NULL
  AND (grid_version IS NULL OR grid_version < %s)
ORDER BY id
"""
_PLACE: Final = """
UPDATE hazards AS h SET grid_code = u.g, community_code = u.c, street_code = u.s,
    grid_version = %s, updated_at = CASE WHEN u.g IS NULL THEN h.updated_at ELSE now() END
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[]) AS u(id, g, c, s)
WHERE h.id = u.id AND h.grid_code IS NULL
"""
_PLACE_REPORTS: Final = """
UPDATE hazard_reports AS r SET grid_code = u.g, community_code = u.c, street_code = u.s,
    grid_version = %s
FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS u(id, g, c, s)
WHERE r.report_id = u.id AND r.grid_code IS NULL
"""


def place_with_current_grids(conn: Conn, *, locator: GridLocator) -> int:
    """Pin the grid version committed now and place open hazards left without a grid under an
    older one; return how many found a grid. Call it first in the caller's transaction."""
    version = locator.sync(conn)
    if version is None:
        return 0
    # Run every time, not only when the version changed: a transaction that placed hazards and
    # then rolled back must not leave them unplaced until the next import.
    rows = conn.execute(_UNPLACED, (version,)).fetchall()
    if not rows:
        return 0
    located = locator.locate_many([r[4] for r in rows], [r[5] for r in rows], version=version)
    ids = [int(r[0]) for r in rows]
    grid, community, street = (
        located.grid.tolist(),
        located.community.tolist(),
        located.street.tolist(),
    )
    conn.execute(_PLACE, (version, ids, grid, community, street))
    placed = [i for i, g in enumerate(grid) if g is not None]
    if not placed:
        return 0
    reports = [i for i in placed if rows[i][2] == "report"]
    if reports:  # the report shows the same codes as its hazard
        conn.execute(
            _PLACE_REPORTS,
            (
                version,
                [rows[i][3] for i in reports],
                [grid[i] for i in reports],
                [community[i] for i in reports],
                [street[i] for i in reports],
            ),
        )
    # Said as an update, so the live feed and area-limited operators learn of it now.
    record_hazard_events(
        conn,
        hazard_ids=[ids[i] for i in placed],
        types=["hazard.updated"] * len(placed),
        changes=[
            {
                "rule": rows[i][1],
                "placement": "placed",
                "grid_code": grid[i],
                "grid_version": version,
            }
            for i in placed
        ],
    )
    return len(placed)
