"""Point → (street, community, grid), in process, vectorised over numpy arrays.

The grids' polygons go into one shapely 2 ``STRtree`` sorted by grid code, and a batch of points
is answered by one bulk ``STRtree.query``; no Python runs per point. PostGIS is optional in
FireGrid (DESIGN.md), so this is the lookup a plain PostgreSQL deployment relies on.

Rules, stated once and tested:

- A point belongs to a grid that *covers* it: interior **or boundary** (vertices included).
- A point covered by several grids — on an edge two grids share, on a corner four share, or in
  an overlap a sloppy survey left — belongs to the one with the **lowest grid code** (plain
  string order; a 14- and a 15-digit code compare as strings). Neighbours therefore never both
  claim it, and the answer does not depend on file order or tree layout.
- A point covered by no grid is **outside** (index ``OUTSIDE`` = -1, code None), even when it
  lies in a community's or street's polygon: the index never guesses the nearest grid. A point
  with a NaN or infinite coordinate is outside too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely

from devices.geo import Crs, to_wgs84_array
from grids.models import GridArea, GridSet

OUTSIDE: Final = -1

# Large batches (a replay, a bulk import) are split across cores; small ones (an ingest batch
# of a few fixes) stay whole on the calling thread.
_WORKERS: Final = max(1, min(4, os.cpu_count() or 1))
_MIN_CHUNK: Final = 20_000
_POOL: Final = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="grid-locate")

IndexArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class GridHit:
    """The codes of the grid a point lies in and of its community and street."""

    grid: str
    community: str
    street: str


class GridIndex:
    """Locate WGS-84 points in a set of grids; see the module docstring for the rules."""

    __slots__ = ("_community", "_geometries", "_grid", "_street", "_tree")

    def __init__(self, grids: Iterable[GridArea]) -> None:
        """Index ``grids`` (a GridSet's ``grids.values()``); their codes must be unique."""
        # Sorted by code so a tree index *is* the code's rank: the lowest index among several
        # matches is the lowest code, which is the tie rule.
        ordered = sorted(grids, key=lambda area: area.code)
        codes = [area.code for area in ordered]
        if len(set(codes)) != len(codes):
            raise ValueError("grid codes must be unique")
        self._grid = np.array(codes, dtype=object)
        self._community = np.array([code[:12] for code in codes], dtype=object)
        self._street = np.array([code[:9] for code in codes], dtype=object)
        self._geometries = np.array([area.geometry for area in ordered], dtype=object)
        self._tree = shapely.STRtree(self._geometries)

    @classmethod
    def from_gridset(cls, grid_set: GridSet) -> GridIndex:
        """Index every grid of ``grid_set``."""
        return cls(grid_set.grids.values())

    def __len__(self) -> int:
        """Return the number of grids indexed."""
        return len(self._grid)

    @property
    def grid_codes(self) -> npt.NDArray[np.object_]:
        """Return the grid codes in index order (ascending); ``locate`` indexes into it."""
        return self._grid.copy()

    def locate(
        self, lat: npt.ArrayLike, lon: npt.ArrayLike, *, crs: Crs | str = Crs.WGS84
    ) -> IndexArray:
        """Return, per point, the index of its grid in ``grid_codes``, or OUTSIDE (-1)."""
        la, lo = _as_points(lat, lon)
        if Crs(crs) is not Crs.WGS84:
            la, lo = to_wgs84_array(la, lo, crs)
        found = np.full(la.shape, OUTSIDE, dtype=np.intp)
        finite = np.flatnonzero(np.isfinite(la) & np.isfinite(lo))
        if finite.size == 0 or len(self._grid) == 0:
            return found
        lons, lats = _chunks(lo[finite]), _chunks(la[finite])
        if len(lons) == 1:  # a small batch: no hand-off to the pool
            best = self._lowest_covering(lons[0], lats[0])
        else:
            best = np.concatenate(list(_POOL.map(self._lowest_covering, lons, lats)))
        hit = best < len(self._grid)
        found[finite[hit]] = best[hit]
        return found

    def _lowest_covering(self, lon: FloatArray, lat: FloatArray) -> IndexArray:
        """Return, per point, the lowest index of a grid covering it, or len(grids) for none."""
        points = shapely.points(lon, lat)
        # For a point, "intersects" is exactly "covered by" (interior or boundary), and GEOS
        # answers it from prepared polygons faster than the covered_by predicate.
        point_i, grid_i = self._tree.query(points, predicate="intersects")
        best = np.full(lon.size, len(self._grid), dtype=np.intp)
        np.minimum.at(best, point_i, grid_i)
        return best

    def codes(
        self, index: IndexArray
    ) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.object_], npt.NDArray[np.object_]]:
        """Return (grid, community, street) code arrays for ``locate``'s result, None outside."""
        outside = index == OUTSIDE
        safe = np.where(outside, 0, index)
        result = []
        for table in (self._grid, self._community, self._street):
            picked = table[safe] if len(table) else np.empty(index.shape, dtype=object)
            picked[outside] = None
            result.append(picked)
        return result[0], result[1], result[2]

    def locate_one(self, lat: float, lon: float, *, crs: Crs | str = Crs.WGS84) -> GridHit | None:
        """Return the grid one point lies in, or None when it is outside every grid."""
        i = int(self.locate(np.array([lat]), np.array([lon]), crs=crs)[0])
        if i == OUTSIDE:
            return None
        return GridHit(
            grid=str(self._grid[i]),
            community=str(self._community[i]),
            street=str(self._street[i]),
        )

    def geometry(self, index: int) -> Any:
        """Return the WGS-84 polygon of the grid at ``index`` (for maps and tests)."""
        return self._geometries[index]


def _chunks(values: FloatArray) -> list[FloatArray]:
    """Cut a large batch into one piece per core: GEOS releases the GIL while it queries."""
    pieces = min(_WORKERS, max(1, values.size // _MIN_CHUNK))
    return np.array_split(values, pieces)


def _as_points(lat: npt.ArrayLike, lon: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    la = np.asarray(lat, dtype=np.float64)
    lo = np.asarray(lon, dtype=np.float64)
    if la.ndim != 1 or la.shape != lo.shape:
        raise ValueError(f"lat and lon must be 1-D and equal in length, got {la.shape}, {lo.shape}")
    return la, lo
