"""Grid versions in the database: import a validated GridSet, load a version back, list areas.

Functions take a connection and leave the transaction to the caller, as every ``service``
module does. Versions are append-only (see firegrid/migrations/m0003_grids.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

import numpy as np
import shapely

from devices.geo import Crs
from grids.codes import GridLevel, parse_code
from grids.exceptions import GridError
from grids.models import GridArea, GridSet
from grids.patrol_days import mark_stale
from grids.views import GridVersion, StoredArea
from infra.database import Conn, class_row
from infra.eventlog import append

# Any constant works; it only has to be the same for every FireGrid process on one database.
_IMPORT_LOCK: Final = 0x47524944  # "GRID"

_COLUMNS: Final = (
    "version",
    "code",
    "level",
    "name",
    "parent",
    "county",
    "street",
    "community",
    "sequence",
    "source_crs",
    "wkb",
    "min_lon",
    "min_lat",
    "max_lon",
    "max_lat",
)


class GridVersionNotFound(GridError):  # noqa: N818 - reads as the condition it reports
    """No grids have been imported, or not the version asked for."""

    def __init__(self, version: int | None) -> None:
        self.version = version
        super().__init__(
            "no grid version has been imported"
            if version is None
            else f"grid version {version} does not exist"
        )


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import stored: the new version and how many areas of each level."""

    version: int
    counts: dict[str, int]


def import_grids(
    conn: Conn, *, grid_set: GridSet, source: str, effective_from: date | None = None
) -> ImportResult:
    """Store ``grid_set`` as a new version, newer than every other; return it and its counts.

    ``effective_from`` (a China day): the grids this version adds were in force since then, so
    the patrol check's days from then on that it has already judged are marked to be judged
    again (``grids.patrol_days``).
    """
    counts = grid_set.counts()
    lock_imports(conn)
    row = conn.execute(
        "INSERT INTO grid_versions (source, streets, communities, grids, effective_from) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING version",
        (source, counts["street"], counts["community"], counts["grid"], effective_from),
    ).fetchone()
    assert row is not None  # INSERT ... RETURNING always answers one row
    version = int(row[0])
    areas = [*grid_set.streets.values(), *grid_set.communities.values(), *grid_set.grids.values()]
    geoms = np.array([area.geometry for area in areas], dtype=object)
    present = np.array([g is not None for g in geoms], dtype=bool)
    wkb = np.full(len(areas), None, dtype=object)
    bounds = np.full((len(areas), 4), np.nan)
    if present.any():
        wkb[present] = shapely.to_wkb(geoms[present])
        bounds[present] = shapely.bounds(geoms[present])
    columns = ", ".join(_COLUMNS)
    with conn.cursor() as cur, cur.copy(f"COPY grid_areas ({columns}) FROM STDIN") as copy:
        for area, blob, box in zip(areas, wkb, bounds.tolist(), strict=True):
            parts = area.parts
            has = blob is not None
            copy.write_row(
                (
                    version,
                    area.code,
                    area.level.value,
                    area.name,
                    area.parent,
                    parts.county,
                    parts.street,
                    parts.community,
                    parts.sequence,
                    area.source_crs.value,
                    blob,
                    *(box if has else (None, None, None, None)),
                )
            )
    # Fresh statistics: with none, the planner walks every grid of the version per point in
    # the PostGIS lookup instead of probing the GiST index (1,000x slower, measured).
    conn.execute("ANALYZE grid_areas")
    # Whoever imports (API, CLI, simulator), every role learns of the version as it commits.
    append(conn, kind="grids.imported", subject=str(version), payload={"version": version})
    if effective_from is not None:
        mark_stale(conn, first=effective_from)
    return ImportResult(version=version, counts=counts)


def lock_imports(conn: Conn) -> None:
    """Wait for any other grid import to commit; held until this transaction ends.

    Serialised so versions are numbered in commit order ("current = newest" then always names
    the import that finished last, even when two run at once), and so a merge reads the
    version it builds on with no other import between. Taken twice in one transaction, it
    is held once more, not waited for.
    """
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_IMPORT_LOCK,))


def current_version(conn: Conn) -> int | None:
    """Return the newest grid version, or None when none has been imported."""
    row = conn.execute("SELECT max(version) FROM grid_versions").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def list_versions(conn: Conn) -> list[GridVersion]:
    """Return every imported version, newest first."""
    rows = conn.execute(
        "SELECT version, imported_at, source, streets, communities, grids, effective_from "
        "FROM grid_versions ORDER BY version DESC"
    ).fetchall()
    return [
        GridVersion(
            version=int(r[0]),
            imported_at=r[1],
            source=r[2],
            counts={"street": r[3], "community": r[4], "grid": r[5]},
            effective_from=r[6],
        )
        for r in rows
    ]


def resolve_version(conn: Conn, *, version: int | None) -> int:
    """Return ``version`` if it exists, the current one when None; else GridVersionNotFound."""
    if version is None:
        current = current_version(conn)
        if current is None:
            raise GridVersionNotFound(None)
        return current
    row = conn.execute("SELECT 1 FROM grid_versions WHERE version = %s", (version,)).fetchone()
    if row is None:
        raise GridVersionNotFound(version)
    return version


def load_grid_set(conn: Conn, *, version: int | None = None) -> GridSet:
    """Load one version (default: the current one) back into a GridSet."""
    resolved = resolve_version(conn, version=version)
    rows = conn.execute(
        "SELECT code, level, name, parent, source_crs, wkb FROM grid_areas WHERE version = %s",
        (resolved,),
    ).fetchall()
    blobs = np.array([r[5] for r in rows], dtype=object)
    present = np.array([b is not None for b in blobs], dtype=bool)
    geoms = np.full(len(rows), None, dtype=object)
    if present.any():
        geoms[present] = shapely.from_wkb(blobs[present])
    levels: dict[GridLevel, dict[str, GridArea]] = {level: {} for level in GridLevel}
    for (code, level, name, parent, crs, _blob), geom in zip(rows, geoms, strict=True):
        grid_level = GridLevel(level)
        levels[grid_level][code] = GridArea(
            code=code,
            level=grid_level,
            name=name,
            parent=parent,
            # The code was validated on import; parsing again only splits it into its parts.
            parts=parse_code(code, grid_level),
            geometry=geom,
            source_crs=Crs(crs),
        )
    return GridSet(
        streets=levels[GridLevel.STREET],
        communities=levels[GridLevel.COMMUNITY],
        grids=levels[GridLevel.GRID],
    )


_INSIDE: Final = """(cardinality(%(areas)s::text[]) = 0 OR EXISTS (
    SELECT 1 FROM unnest(%(areas)s::text[]) AS a WHERE CASE
        WHEN length(a) IN (14, 15) THEN code = a
        WHEN length(a) = 12 THEN code = a OR (level = 'grid' AND parent = a)
        WHEN length(a) = 9 THEN code = a OR (level = 'community' AND parent = a)
            OR (level = 'grid' AND left(parent, 9) = a)
        ELSE left(code, length(a)) = a
    END))"""


def list_areas(
    conn: Conn,
    *,
    version: int,
    level: GridLevel | None = None,
    parent: str | None = None,
    after: str | None = None,
    limit: int = 1000,
    geometry: bool = False,
    areas: Sequence[str] = (),
) -> list[StoredArea]:
    """Return areas of ``version`` in code order, filtered; ``wkb`` only with ``geometry``.

    With ``areas`` only those inside one of them (``grids.codes.in_area``: each level's code
    compared whole, a shorter code as a prefix of the street code; a community's parent is its
    street, a grid's its community, and a community code begins with its street code)."""
    # One of two constant column expressions: nothing from the caller reaches the SQL text.
    wkb = "wkb" if geometry else "NULL::bytea AS wkb"
    with conn.cursor(row_factory=class_row(StoredArea)) as cur:
        return cur.execute(
            f"SELECT code, level, name, parent, {wkb} FROM grid_areas "
            "WHERE version = %(version)s "
            "AND (%(level)s::text IS NULL OR level = %(level)s) "
            "AND (%(parent)s::text IS NULL OR parent = %(parent)s) "
            "AND (%(after)s::text IS NULL OR code > %(after)s) "
            f"AND {_INSIDE} ORDER BY code LIMIT %(limit)s",
            {
                "version": version,
                "level": None if level is None else level.value,
                "parent": parent,
                "after": after,
                "limit": limit,
                "areas": list(areas),
            },
        ).fetchall()


def postgis_enabled(conn: Conn) -> bool:
    """Tell whether this database's grid_areas has the PostGIS ``geom`` column."""
    row = conn.execute(
        "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('grid_areas') "
        "AND attname = 'geom' AND NOT attisdropped"
    ).fetchone()
    return row is not None
