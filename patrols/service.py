"""Patrol segments in the database: rebuilt from stored fixes, listed per terminal.

``rebuild_segments`` is idempotent: it widens the asked window to whole chains of fixes (no
gap longer than ``max_gap_s``), so a segment is never cut by the window's edges, then replaces
every stored segment within the widened window by what the fixes say now. Running it twice, or
over overlapping windows, or after late fixes arrive, gives what one run over all time would.
A rebuild reaching into China days the patrol check already judged marks them to be judged
again (``grids.patrol_days``): one update per rebuild, which finds no row for today's data.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Final

import numpy as np
from psycopg.types.json import Jsonb

from devices.models import Fix
from grids.effective import china_day
from grids.locator import GridLocator
from grids.patrol_days import mark_stale
from infra.database import Conn, class_row
from patrols.models import Segment
from patrols.segments import PatrolParams, PatrolSegment, segment_fixes

# The furthest a window is widened to find where a chain of fixes starts or ends: no real
# patrol runs without a five-minute break for this long, and it bounds the scan.
_MAX_CHAIN: Final = timedelta(hours=24)

# Start of the chain containing ``at``: the latest fix at or before it that follows a gap, or
# the first fix of the lookback.
_CHAIN_START_LATEST = """
SELECT max(ts) FROM (
    SELECT ts, lag(ts) OVER (ORDER BY ts) AS prev
    FROM fixes WHERE terminal_id = %(terminal)s AND ts <= %(at)s AND ts >= %(at)s - %(back)s
) AS f WHERE prev IS NULL OR ts - prev > %(gap)s
"""

# End of the chain containing ``at``: the earliest fix at or after it followed by a gap.
_CHAIN_END_EARLIEST = """
SELECT min(ts) FROM (
    SELECT ts, lead(ts) OVER (ORDER BY ts) AS next
    FROM fixes WHERE terminal_id = %(terminal)s AND ts >= %(at)s AND ts <= %(at)s + %(back)s
) AS f WHERE next IS NULL OR next - ts > %(gap)s
"""

_INSERT = """
INSERT INTO patrol_segments (terminal_id, staff_id, started_at, ended_at, duration_s,
    distance_m, fixes, extent_m, cells, grids, grid_version, valid, reason)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


def _chain_bounds(
    conn: Conn,
    *,
    terminal_id: str,
    since: datetime,
    until: datetime,
    gap: timedelta,
) -> tuple[datetime, datetime]:
    """Widen [since, until] to the start and end of the chains of fixes crossing its edges."""
    args = {"terminal": terminal_id, "gap": gap, "back": _MAX_CHAIN}
    start = conn.execute(_CHAIN_START_LATEST, {**args, "at": since}).fetchone()
    end = conn.execute(_CHAIN_END_EARLIEST, {**args, "at": until}).fetchone()
    lo = start[0] if start and start[0] is not None else since
    hi = end[0] if end and end[0] is not None else until
    return min(lo, since), max(hi, until)


def load_fixes(conn: Conn, *, terminal_id: str, start: datetime, end: datetime) -> list[Fix]:
    """Return a terminal's accepted fixes with start <= ts <= end, in time order."""
    rows = conn.execute(
        "SELECT terminal_id, ts, lat, lon, quality, satellites, hdop, altitude_m, speed_mps "
        "FROM fixes WHERE terminal_id = %s AND ts >= %s AND ts <= %s ORDER BY ts",
        (terminal_id, start, end),
    ).fetchall()
    return [Fix(*row) for row in rows]


def rebuild_segments(
    conn: Conn,
    *,
    terminal_id: str,
    since: datetime,
    until: datetime,
    locator: GridLocator,
    params: PatrolParams | None = None,
) -> list[PatrolSegment]:
    """Recompute a terminal's segments touching [since, until] from its stored fixes."""
    p = params or PatrolParams()
    if until < since:
        raise ValueError("until is before since")
    # One rebuild per terminal at a time: two interleaved delete+insert runs could otherwise
    # both insert the same segment and fail on its unique key.
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"patrol:{terminal_id}",)
    )
    gap = timedelta(seconds=p.max_gap_s)
    start, end = _chain_bounds(conn, terminal_id=terminal_id, since=since, until=until, gap=gap)
    fixes = load_fixes(conn, terminal_id=terminal_id, start=start, end=end)
    located = locator.locate_many(
        np.array([f.lat for f in fixes], dtype=np.float64),
        np.array([f.lon for f in fixes], dtype=np.float64),
    )
    segments = segment_fixes(fixes, grids=located.grid.tolist(), params=p)
    staff = conn.execute(
        "SELECT staff_id FROM staff WHERE terminal_id = %s", (terminal_id,)
    ).fetchone()
    conn.execute(
        "DELETE FROM patrol_segments "
        "WHERE terminal_id = %s AND started_at <= %s AND ended_at >= %s",
        (terminal_id, end, start),
    )
    with conn.cursor() as cur:
        cur.executemany(
            _INSERT,
            [
                (
                    terminal_id,
                    staff[0] if staff else None,
                    s.started_at,
                    s.ended_at,
                    s.duration_s,
                    s.distance_m,
                    s.fixes,
                    s.extent_m,
                    s.cells,
                    Jsonb([asdict(v) for v in s.grids]),
                    located.version,
                    s.valid,
                    s.reason,
                )
                for s in segments
            ],
        )
    # A segment belongs to the day it starts in; the window holds every one replaced or added.
    mark_stale(conn, first=china_day(start), last=china_day(end))
    return segments


def terminals_with_fixes(conn: Conn, *, since: datetime, until: datetime) -> list[str]:
    """Return the terminals that have fixes in [since, until], for a periodic rebuild."""
    rows = conn.execute(
        "SELECT DISTINCT terminal_id FROM fixes WHERE ts >= %s AND ts <= %s ORDER BY 1",
        (since, until),
    ).fetchall()
    return [r[0] for r in rows]


def list_segments(
    conn: Conn,
    *,
    terminal_id: str,
    start: datetime | None = None,
    end: datetime | None = None,
    after: datetime | None = None,
    limit: int = 1000,
) -> list[Segment]:
    """Return a terminal's stored segments overlapping [start, end], oldest first."""
    with conn.cursor(row_factory=class_row(Segment)) as cur:
        return cur.execute(
            "SELECT terminal_id, staff_id, started_at, ended_at, duration_s, distance_m, fixes, "
            "extent_m, cells, grids, grid_version, valid, reason FROM patrol_segments "
            "WHERE terminal_id = %(terminal)s "
            "AND (%(end)s::timestamptz IS NULL OR started_at <= %(end)s) "
            "AND (%(start)s::timestamptz IS NULL OR ended_at >= %(start)s) "
            "AND (%(after)s::timestamptz IS NULL OR started_at > %(after)s) "
            "ORDER BY started_at LIMIT %(limit)s",
            {"terminal": terminal_id, "start": start, "end": end, "after": after, "limit": limit},
        ).fetchall()
