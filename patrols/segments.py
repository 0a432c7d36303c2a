"""Patrol segments from a terminal's accepted fixes (一日双巡 raw material, DOMAIN.md §1).

Pure: fixes (already accepted by the NMEA decoder: quality, satellites, HDOP, speed checked)
and the grid each lies in go in; segments come out. No clock, database or network.

- **Segments** split where the terminal sent no fix for longer than ``max_gap_s``: a phone
  switched off, a worker in a basement, the end of a shift.
- **Movement** is required so a phone left on a desk does not count: GNSS noise makes a
  still receiver wander 5-30 m, and a multipath burst throws single fixes 100 m away. The
  extent is therefore measured on the central (trimmed) part of the fixes, and a segment is
  valid when that extent reaches ``min_extent_m`` *or* the fixes cover ``min_cells`` distinct
  ``cell_m`` cells (a walk that circles one courtyard has a small extent but many cells).
- **Distance** counts a step only once the worker is ``min_step_m`` from the last counted
  position, so a still receiver's noise does not add up to kilometres of "walking".
- **Time per grid**: the interval between two fixes counts for their grid when both lie in
  the same one, half to each otherwise; time outside every grid is not listed. Durations add
  up: sum of grid seconds + outside seconds = segment duration.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import numpy as np
import numpy.typing as npt

from devices.models import Fix

FloatArray = npt.NDArray[np.float64]

_EARTH_R: Final = 6_371_008.8  # mean radius, as devices.geo.haversine_m
_M_PER_DEG: Final = _EARTH_R * math.pi / 180.0

REASON_TOO_FEW_FIXES: Final = "too_few_fixes"
REASON_STATIONARY: Final = "stationary"


@dataclass(frozen=True, slots=True)
class PatrolParams:
    """Configurable defaults (DOMAIN.md §1 gives the practice, not these numbers)."""

    # A worker stepping into a stairwell loses the sky for a minute or two; five minutes of
    # silence is a break, not a patrol.
    max_gap_s: float = 300.0
    # Fewer fixes than this say nothing about movement, whatever they span.
    min_fixes: int = 10
    # Roughly a street block: a still handheld's trimmed noise stays well under it.
    min_extent_m: float = 100.0
    # Share of fixes trimmed at each end of x and y before measuring extent and cells, so
    # multipath outliers cannot fake movement.
    trim: float = 0.05
    # 20 m is about twice a handheld's typical error: noise rarely crosses many cells.
    cell_m: float = 20.0
    min_cells: int = 15
    # Above typical handheld noise (CEP ~5 m); a walker passes it in under 10 s.
    min_step_m: float = 10.0


@dataclass(frozen=True, slots=True)
class GridVisit:
    """Time a segment spent in one grid."""

    grid: str
    community: str
    street: str
    seconds: float
    fixes: int


@dataclass(frozen=True, slots=True)
class PatrolSegment:
    """A stretch of fixes without a gap, and whether it counts as a patrol."""

    started_at: datetime
    ended_at: datetime
    duration_s: float
    distance_m: float
    fixes: int
    extent_m: float
    cells: int
    grids: tuple[GridVisit, ...]
    valid: bool
    reason: str | None


def segment_fixes(
    fixes: Sequence[Fix],
    *,
    grids: Sequence[str | None] | None = None,
    params: PatrolParams | None = None,
) -> list[PatrolSegment]:
    """Split one terminal's fixes into patrol segments; ``grids[i]`` is fix i's grid code."""
    p = params or PatrolParams()
    if grids is not None and len(grids) != len(fixes):
        raise ValueError(f"{len(grids)} grid codes for {len(fixes)} fixes")
    if not fixes:
        return []
    ts = np.array([f.ts.timestamp() for f in fixes], dtype=np.float64)
    lat = np.array([f.lat for f in fixes], dtype=np.float64)
    lon = np.array([f.lon for f in fixes], dtype=np.float64)
    codes = np.array(list(grids) if grids is not None else [None] * len(fixes), dtype=object)
    # Time order, and one fix per instant: a re-sent buffer must not count twice.
    order = np.argsort(ts, kind="stable")
    ts, lat, lon, codes = ts[order], lat[order], lon[order], codes[order]
    keep = np.ones(ts.size, dtype=bool)
    keep[1:] = np.diff(ts) > 0
    ts, lat, lon, codes = ts[keep], lat[keep], lon[keep], codes[keep]
    breaks = np.flatnonzero(np.diff(ts) > p.max_gap_s) + 1
    bounds = zip(np.r_[0, breaks], np.r_[breaks, ts.size], strict=True)
    return [_segment(ts[a:b], lat[a:b], lon[a:b], codes[a:b], p) for a, b in bounds if b > a]


def _segment(
    ts: FloatArray,
    lat: FloatArray,
    lon: FloatArray,
    codes: npt.NDArray[np.object_],
    p: PatrolParams,
) -> PatrolSegment:
    x, y = _local_xy(lat, lon)
    extent, cells = _coverage(x, y, p)
    n = int(ts.size)
    if n < p.min_fixes:
        valid, reason = False, REASON_TOO_FEW_FIXES
    elif extent < p.min_extent_m and cells < p.min_cells:
        valid, reason = False, REASON_STATIONARY
    else:
        valid, reason = True, None
    return PatrolSegment(
        started_at=datetime.fromtimestamp(float(ts[0]), UTC),
        ended_at=datetime.fromtimestamp(float(ts[-1]), UTC),
        duration_s=float(ts[-1] - ts[0]),
        distance_m=_walked(lat, lon, p.min_step_m),
        fixes=n,
        extent_m=extent,
        cells=cells,
        grids=_visits(ts, codes),
        valid=valid,
        reason=reason,
    )


def _local_xy(lat: FloatArray, lon: FloatArray) -> tuple[FloatArray, FloatArray]:
    # Equirectangular metres around the first fix: exact enough over a patrol's few km.
    k = np.cos(np.radians(lat[0]))
    return (lon - lon[0]) * _M_PER_DEG * k, (lat - lat[0]) * _M_PER_DEG


def _coverage(x: FloatArray, y: FloatArray, p: PatrolParams) -> tuple[float, int]:
    """Return the trimmed extent (box diagonal, m) and distinct cells of the trimmed fixes."""
    lo_x, hi_x = np.quantile(x, [p.trim, 1.0 - p.trim])
    lo_y, hi_y = np.quantile(y, [p.trim, 1.0 - p.trim])
    extent = float(np.hypot(hi_x - lo_x, hi_y - lo_y))
    core = (x >= lo_x) & (x <= hi_x) & (y >= lo_y) & (y <= hi_y)
    cells = np.floor(np.column_stack((x[core], y[core])) / p.cell_m).astype(np.int64)
    return extent, int(np.unique(cells, axis=0).shape[0])


def _walked(lat: FloatArray, lon: FloatArray, min_step_m: float) -> float:
    """Return the distance along the fixes, counting a step once it reaches ``min_step_m``."""
    total = 0.0
    a_lat, a_lon = float(lat[0]), float(lon[0])
    # A loop, not numpy: whether a fix counts depends on the last one that counted. A day's
    # fixes of one terminal are tens of thousands at most.
    for la, lo in zip(lat[1:].tolist(), lon[1:].tolist(), strict=True):
        step = _haversine(a_lat, a_lon, la, lo)
        if step >= min_step_m:
            total += step
            a_lat, a_lon = la, lo
    return total


def _haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    # math, not numpy: called per fix from a loop, where numpy's per-call cost dominates.
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * _EARTH_R * math.asin(math.sqrt(h))


def _visits(ts: FloatArray, codes: npt.NDArray[np.object_]) -> tuple[GridVisit, ...]:
    """Return time and fixes per grid, in order of first visit."""
    seconds: dict[str, float] = {}
    counts: dict[str, int] = {}
    for code in codes.tolist():
        if code is not None:
            counts[code] = counts.get(code, 0) + 1
            seconds.setdefault(code, 0.0)
    dt = np.diff(ts)
    for d, a, b in zip(dt.tolist(), codes[:-1].tolist(), codes[1:].tolist(), strict=True):
        if a == b:
            if a is not None:
                seconds[a] += d
            continue
        if a is not None:
            seconds[a] += d / 2
        if b is not None:
            seconds[b] += d / 2
    return tuple(
        GridVisit(
            grid=code,
            community=code[:12],
            street=code[:9],
            seconds=seconds[code],
            fixes=counts[code],
        )
        for code in seconds
    )
