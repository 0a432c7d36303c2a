"""The China days the patrol check judged, and the marks saying a judged day changed since.

It lives with the grids, the lowest layer that changes a judged day: a grid import effective
before it (``grids.service``), and above it the patrol segments rebuilt from late fixes
(``patrols.service``); the rules' patrol tick records judged days and clears the marks it
judged again (``rules.rejudge``). A mark touches only days already judged: one update by
primary key per import or rebuild, nothing for today's live data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from infra.database import Conn


@dataclass(frozen=True, slots=True)
class StaleDay:
    """A judged day whose inputs changed at ``stale_at`` (the latest change)."""

    day: date
    stale_at: datetime


def record_judged(conn: Conn, *, day: date) -> None:
    """Note that the patrol check has judged ``day`` (kept as first judged)."""
    conn.execute("INSERT INTO patrol_days (day) VALUES (%s) ON CONFLICT (day) DO NOTHING", (day,))


def mark_stale(conn: Conn, *, first: date, last: date | None = None) -> list[date]:
    """Mark the judged days in [first, last] (no end: every later one) as changed; return them.

    ``clock_timestamp``, not ``now``: a mark made while a tick judges must compare newer than
    the one the tick read, so the tick's clearing leaves it for the next look.
    """
    rows = conn.execute(
        "UPDATE patrol_days SET stale_at = clock_timestamp()"
        " WHERE day >= %s AND (%s::date IS NULL OR day <= %s) RETURNING day",
        (first, last, last),
    ).fetchall()
    return sorted(r[0] for r in rows)


def stale_days(conn: Conn, *, settle: timedelta = timedelta(0)) -> list[StaleDay]:
    """Return the marked days whose last change is at least ``settle`` old, oldest day first."""
    rows = conn.execute(
        "SELECT day, stale_at FROM patrol_days"
        " WHERE stale_at IS NOT NULL AND stale_at <= clock_timestamp() - %s ORDER BY day",
        (settle,),
    ).fetchall()
    return [StaleDay(r[0], r[1]) for r in rows]


def clear_stale(conn: Conn, *, marks: list[StaleDay]) -> None:
    """Clear the marks judged again, unless a newer change marked the day meanwhile."""
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE patrol_days SET stale_at = NULL WHERE day = %s AND stale_at = %s",
            [(m.day, m.stale_at) for m in marks],
        )
