"""Point → (street, community, grid) under a stored grid version: in process, or in PostGIS.

``GridLocator`` keeps a ``GridIndex`` per version it has loaded. A caller working in a
transaction calls ``sync(conn)`` first: one index-only query on that connection pins the
version committed at that moment, so an import made anywhere (API, CLI, simulator) is used from
the next transaction on. Callers that never sync fall back to asking at most every
``refresh_s`` seconds on a connection of their own. ``locate_in_db`` answers
the same question with one SQL statement where the PostGIS column exists; it applies the rules
of ``grids.index`` (covered = interior or boundary; several: the lowest grid code; none:
outside) so both paths agree point for point.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from devices.geo import Crs, to_wgs84_array
from grids.exceptions import GridError
from grids.index import GridIndex
from grids.service import (
    GridVersionNotFound,
    current_version,
    load_grid_set,
    postgis_enabled,
    resolve_version,
)
from infra.database import Conn

ConnectFn = Callable[[], AbstractContextManager[Conn]]
ObjectArray = npt.NDArray[np.object_]

# Two versions cover the moment of a switch (events in flight under the old one) without
# keeping every historical city in memory.
_KEEP_VERSIONS: Final = 2

# A grouped join, not "ORDER BY code LIMIT 1" per point: that form lets the planner walk the
# primary key in code order testing every grid, where the join probes the GiST index.
_LOCATE_SQL: Final = """
SELECT min(a.code)
FROM unnest(%(lat)s::float8[], %(lon)s::float8[]) WITH ORDINALITY AS p(lat, lon, i)
LEFT JOIN grid_areas AS a
    ON a.version = %(version)s AND a.level = 'grid'
   AND ST_Covers(a.geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326))
GROUP BY p.i
ORDER BY p.i
"""


class PostgisUnavailable(GridError):  # noqa: N818 - reads as the condition it reports
    """The database has no PostGIS geometry for grids; use the in-process path."""


@dataclass(frozen=True, slots=True)
class Location:
    """Where one point lies under grid ``version``."""

    version: int
    street_code: str
    community_code: str
    grid_code: str


@dataclass(frozen=True, slots=True, eq=False)
class LocatedArrays:
    """Per point: grid, community and street codes (None: outside every grid), and the version.

    ``version`` is None only when no grids have been imported at all; every point is then
    outside.
    """

    version: int | None
    grid: ObjectArray
    community: ObjectArray
    street: ObjectArray

    @property
    def outside(self) -> npt.NDArray[np.bool_]:
        """Return a mask of the points outside every grid."""
        return np.array([g is None for g in self.grid], dtype=bool)

    def at(self, i: int) -> Location | None:
        """Return point ``i``'s Location, or None when it is outside."""
        grid = self.grid[i]
        if grid is None or self.version is None:
            return None
        return Location(self.version, str(self.street[i]), str(self.community[i]), str(grid))


class GridLocator:
    """Locate points under the current grid version (or a named one), in process."""

    def __init__(
        self,
        *,
        connect: ConnectFn,
        refresh_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Use ``connect()`` (e.g. ``pool.connection``) to read versions and grids."""
        self._connect = connect
        self._refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._indexes: OrderedDict[int, GridIndex] = OrderedDict()
        self._current: int | None = None
        self._checked_at: float | None = None

    def sync(self, conn: Conn) -> int | None:
        """Pin the version committed now, read on ``conn``, and return it (None: no grids)."""
        version = current_version(conn)
        with self._lock:
            self._current, self._checked_at = version, self._clock()
        return version

    def refresh(self) -> None:
        """Ask the database for the current version on the next call (after an import)."""
        with self._lock:
            self._checked_at = None

    def current_version(self) -> int | None:
        """Return the current version, asking the database at most every ``refresh_s``."""
        with self._lock:
            now = self._clock()
            if self._checked_at is None or now - self._checked_at >= self._refresh_s:
                with self._connect() as conn:
                    self._current = current_version(conn)
                self._checked_at = now
            return self._current

    def index(self, version: int | None = None) -> tuple[int | None, GridIndex | None]:
        """Return (version, its GridIndex), loading it on first use; None, None: no grids."""
        wanted = self.current_version() if version is None else version
        if wanted is None:
            return None, None
        with self._lock:
            cached = self._indexes.get(wanted)
            if cached is not None:
                self._indexes.move_to_end(wanted)
                return wanted, cached
            # Loaded under the lock: a burst of callers right after an import builds it once.
            with self._connect() as conn:
                index = GridIndex.from_gridset(load_grid_set(conn, version=wanted))
            self._indexes[wanted] = index
            while len(self._indexes) > _KEEP_VERSIONS:
                self._indexes.popitem(last=False)
            return wanted, index

    def locate_many(
        self,
        lat: npt.ArrayLike,
        lon: npt.ArrayLike,
        *,
        crs: Crs | str = Crs.WGS84,
        version: int | None = None,
    ) -> LocatedArrays:
        """Locate a batch of points; one vectorised lookup, no Python per point."""
        la = np.asarray(lat, dtype=np.float64)
        resolved, index = self.index(version)
        if index is None:
            empty = np.full(la.shape, None, dtype=object)
            return LocatedArrays(None, empty, empty.copy(), empty.copy())
        grid, community, street = index.codes(index.locate(la, lon, crs=crs))
        return LocatedArrays(resolved, grid, community, street)

    def locate(
        self, lat: float, lon: float, *, crs: Crs | str = Crs.WGS84, version: int | None = None
    ) -> Location | None:
        """Locate one point; None when it is outside every grid (or none are imported)."""
        return self.locate_many([lat], [lon], crs=crs, version=version).at(0)


def locate_in_db(
    conn: Conn,
    *,
    lat: npt.ArrayLike,
    lon: npt.ArrayLike,
    crs: Crs | str = Crs.WGS84,
    version: int | None = None,
) -> LocatedArrays:
    """Locate points with PostGIS ``ST_Covers``; raise PostgisUnavailable without PostGIS."""
    if not postgis_enabled(conn):
        raise PostgisUnavailable("grid_areas has no PostGIS geometry on this database")
    try:
        resolved = resolve_version(conn, version=version)
    except GridVersionNotFound:
        if version is not None:
            raise
        resolved = None
    la = np.asarray(lat, dtype=np.float64)
    lo = np.asarray(lon, dtype=np.float64)
    if Crs(crs) is not Crs.WGS84:
        la, lo = to_wgs84_array(la, lo, crs)
    grid = np.full(la.shape, None, dtype=object)
    # NaN would make ST_MakePoint an empty-ish point with undefined answers: outside, as
    # GridIndex says, without asking the database.
    finite = np.flatnonzero(np.isfinite(la) & np.isfinite(lo))
    if resolved is not None and finite.size:
        rows = conn.execute(
            _LOCATE_SQL,
            {"version": resolved, "lat": la[finite].tolist(), "lon": lo[finite].tolist()},
        ).fetchall()
        grid[finite] = [r[0] for r in rows]
    inside = np.array([g is not None for g in grid], dtype=bool)
    community = np.full(la.shape, None, dtype=object)
    street = np.full(la.shape, None, dtype=object)
    community[inside] = [g[:12] for g in grid[inside]]
    street[inside] = [g[:9] for g in grid[inside]]
    return LocatedArrays(resolved, grid, community, street)
