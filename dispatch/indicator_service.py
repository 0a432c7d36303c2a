"""Indicator SQL (definitions: ``dispatch.indicators``): counts of cases due in a period per
worker or area, patrols from the stored segments, residents' ratings when they are kept.

A case's worker is who handled it (``handled_by``: gave the feedback), else its assignee.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from devices.timefmt import dt_to_ms
from dispatch.config import IndicatorWeights
from dispatch.indicators import Counts, Indicator, Level, indicator
from grids.codes import GridLevel, in_area, level_for_length
from hazards.service import area_condition
from infra.database import Conn
from rules.definitions import RuleSet
from rules.kinds.patrol import PatrolParams, count_patrols
from rules.models import MS_PER_DAY, cst_day, cst_day_start
from rules.ticks import SegmentRow, grids_in_force, patrol_day_of

__all__ = [
    "case_counts",
    "china_days",
    "indicators",
    "load_segments",
    "patrol_counts",
    "patrol_params_of",
]

_KEY: Final[dict[Level, str]] = {
    "worker": "coalesce(c.handled_by, c.assignee)",
    "grid": "c.grid_code",
    "community": "c.community_code",
    "street": "c.street_code",
}

# Steps that end a stage: each must come by the deadline it answered (``detail.due``).
_STAGE_ENDS: Final = "('sign', 'feedback', 'verify', 'close')"
# Steps that only happen once a deadline was missed.
_LATE_MARKS: Final = "('escalate', 'supervise')"
_ON_TIME: Final = "coalesce(h.at <= (h.detail->>'due')::timestamptz, false)"

# {key} and {where} are fixed SQL fragments from this module; values are parameters.
_DUE = """
WITH due AS MATERIALIZED (
    SELECT c.case_id, c.status, c.rework, {key} AS key
    FROM cases c LEFT JOIN LATERAL (
        SELECT (h.detail->>'due')::timestamptz AS due FROM case_history h
        WHERE h.case_id = c.case_id AND h.action = 'close' ORDER BY h.seq DESC LIMIT 1
    ) AS closing ON c.status = 'closed'
    WHERE {where} AND {key} IS NOT NULL
        -- every deadline comes after its case was created: later cases cannot be due
        AND c.created_at < %(end)s
        AND CASE WHEN c.status = 'closed' THEN closing.due ELSE c.deadline END >= %(start)s
        AND CASE WHEN c.status = 'closed' THEN closing.due ELSE c.deadline END < %(end)s
)
"""

_CASES = (
    _DUE
    + f"""
SELECT d.key, count(*),
    count(*) FILTER (WHERE d.status = 'closed'),
    count(*) FILTER (WHERE d.status = 'closed' AND s.stages_on_time AND s.late_marks = 0),
    count(*) FILTER (WHERE s.signs > 0 AND s.signs_on_time),
    count(*) FILTER (WHERE s.returns > 0),
    count(*) FILTER (WHERE d.status = 'closed' AND d.rework > 0),
    coalesce(sum(s.escalations), 0), coalesce(sum(s.extensions), 0)
FROM due d CROSS JOIN LATERAL (
    -- one case's steps, through the history's primary key: a due case has a handful
    SELECT
        bool_and({_ON_TIME}) FILTER (WHERE h.action IN {_STAGE_ENDS}) AS stages_on_time,
        count(*) FILTER (WHERE h.action IN {_LATE_MARKS}) AS late_marks,
        count(*) FILTER (WHERE h.action = 'sign') AS signs,
        bool_and({_ON_TIME}) FILTER (WHERE h.action = 'sign') AS signs_on_time,
        count(*) FILTER (WHERE h.action = 'return') AS returns,
        count(*) FILTER (WHERE h.action = 'escalate') AS escalations,
        count(*) FILTER (WHERE h.action = 'extend') AS extensions
    FROM case_history h WHERE h.case_id = d.case_id
) AS s
GROUP BY d.key
"""
)

# Residents' ratings (issue 8 point 8): one row per rating given (migration 13).
_RATINGS = (
    _DUE
    + "SELECT d.key, avg(r.rating)::float8, count(*) FROM due d"
    + (" JOIN case_ratings r USING (case_id) GROUP BY d.key")
)

_SEGMENTS = """
SELECT (extract(epoch FROM started_at) * 1000)::bigint, grids, valid, staff_id
FROM patrol_segments WHERE started_at >= %s AND started_at < %s
"""


def _where(areas: Sequence[Sequence[str]]) -> tuple[str, dict[str, Any]]:
    """Return the SQL for cases inside every one of ``areas`` (each a list of codes, any of
    which may hold the case; an empty list restricts nothing), as named parameters."""
    where, args = ["true"], {}
    for i, codes in enumerate(areas):
        if not codes:
            continue
        condition, values = area_condition(codes)
        for j, value in enumerate(values):
            condition = condition.replace("%s", f"%(a{i}_{j})s", 1)
            args[f"a{i}_{j}"] = value
        where.append(condition)  # unqualified codes are the case's: the one table
    return " AND ".join(where), args


def case_counts(
    conn: Conn, *, level: Level, start: datetime, end: datetime, areas: Sequence[Sequence[str]]
) -> dict[str, dict[str, Any]]:
    """Return, per worker or area code, the case counts of ``Counts`` for cases due in
    [start, end) inside ``areas`` (every list of codes must hold the case)."""
    where, args = _where(areas)
    params = {**args, "start": start, "end": end}
    out: dict[str, dict[str, Any]] = {}
    # Compiling this query costs more than it saves (a third of its time on 100,000 cases);
    # LOCAL: only this transaction.
    conn.execute("SET LOCAL jit = off")
    sql = _CASES.format(key=_KEY[level], where=where)
    for row in conn.execute(sql, params).fetchall():
        names = ("due", "closed", "closed_on_time", "signed_on_time", "returned", "rework")
        out[str(row[0])] = dict(zip(names, (int(v) for v in row[1:7]), strict=True)) | {
            "escalations": int(row[7]),
            "extensions": int(row[8]),
        }
    sql = _RATINGS.format(key=_KEY[level], where=where)
    for key, mean, n in conn.execute(sql, params).fetchall():
        out.setdefault(str(key), {}).update(rating_mean=float(mean), ratings=int(n))
    return out


def patrol_params_of(rules: RuleSet) -> PatrolParams:
    """Return the params of the rules file's patrol-compliance rule (the shipped defaults when
    it has none), so the indicators count 一日双巡 as the rule judges it."""
    for rule in rules.rules:
        if rule.kind == "patrol_compliance" and isinstance(rule.params, PatrolParams):
            return rule.params
    return PatrolParams()


def china_days(start: datetime, end: datetime) -> range:
    """Return the China days (``rules.models.cst_day`` numbers) starting in [start, end)."""
    lo, hi = dt_to_ms(start), dt_to_ms(end)
    first = cst_day(lo) + (cst_day_start(cst_day(lo)) < lo)
    last = cst_day(hi - 1)
    return range(first, max(first, last + 1))


def load_segments(conn: Conn, *, days: range) -> list[tuple[SegmentRow, str | None]]:
    """Return the patrol segments starting on ``days`` (China days), each with its staff."""
    if not days:
        return []
    lo, hi = cst_day_start(days[0]), cst_day_start(days[-1]) + MS_PER_DAY
    rows = conn.execute(_SEGMENTS, (_datetime_of(lo), _datetime_of(hi))).fetchall()
    return [((int(ms), list(g or []), bool(v)), staff) for ms, g, v, staff in rows]


def patrol_counts(
    segments: Sequence[tuple[SegmentRow, str | None]],
    *,
    grids: Sequence[str],
    days: range,
    staff_id: str | None = None,
    params: PatrolParams | None = None,
) -> dict[str, int]:
    """Return valid patrols per grid over ``days`` (only ``staff_id``'s segments when given),
    counted as the patrol rule counts."""
    p = params or PatrolParams()
    done = dict.fromkeys(grids, 0)
    by_day: dict[int, list[SegmentRow]] = defaultdict(list)
    for row, staff in segments:
        if staff_id is None or staff == staff_id:
            by_day[cst_day(row[0])].append(row)
    for day in days:
        if not grids or day not in by_day:
            continue
        patrol_day = patrol_day_of(day, grids, by_day[day])
        for grid, n in zip(
            patrol_day.grids.tolist(), count_patrols(patrol_day, p).tolist(), strict=True
        ):
            done[grid] += int(n)
    return done


def required_days(in_force: int | None, days: range, today: int) -> int:
    """Return how many of ``days`` a grid had to be patrolled on: those up to ``today`` (a
    period reaching into the future asks nothing of days not yet come) from the day it came
    in force (``in_force``, a CST day; None: not a current grid)."""
    if in_force is None:
        return 0
    return max(0, min(days.stop, today + 1) - max(days.start, in_force))


def _datetime_of(ms: int) -> datetime:
    """Return Unix ``ms`` as a UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _places(code: str) -> dict[str, str | None]:
    """Return the grid, community and street codes a registry code stands for (DOMAIN §1)."""
    level = level_for_length(len(code))
    if level is GridLevel.GRID:
        return {"grid": code, "community": code[:12], "street": code[:9]}
    if level is GridLevel.COMMUNITY:
        return {"grid": None, "community": code, "street": code[:9]}
    return {"grid": None, "community": None, "street": code}


def _inside(code: str, areas: Sequence[Sequence[str]]) -> bool:
    return all(not codes or any(in_area(a, **_places(code)) for a in codes) for codes in areas)


def indicators(
    conn: Conn,
    *,
    level: Level,
    start: datetime,
    end: datetime,
    areas: Sequence[Sequence[str]],
    weights: IndicatorWeights,
    patrol: PatrolParams | None = None,
    now: datetime | None = None,
) -> list[Indicator]:
    """Return the indicators of every worker or area of ``level`` inside ``areas``, by code.

    Patrols required count the China days of the period up to ``now``'s (all of them when
    None) on which each grid was in force, as the daily patrol check judges them.
    """
    p = patrol or PatrolParams()
    counts = case_counts(conn, level=level, start=start, end=end, areas=areas)
    in_force = grids_in_force(conn)
    all_grids = sorted(in_force)
    grids = [g for g in all_grids if _inside(g, areas)]
    patrols: dict[str, tuple[int, int]] = {}
    days = china_days(start, end)
    today = days.stop - 1 if now is None else cst_day(dt_to_ms(now))

    def required(grid: str) -> int:
        return p.min_patrols * required_days(in_force.get(grid), days, today)

    segments = load_segments(conn, days=days)  # once: every worker's count filters it
    if level == "worker":
        staff = conn.execute("SELECT staff_id, role, area FROM staff ORDER BY staff_id").fetchall()
        for staff_id, role, area in staff:
            if area is None or not _inside(str(area), areas):
                continue
            counts.setdefault(str(staff_id), {})
            if role == "grid_worker" and area in all_grids:
                done = patrol_counts(segments, grids=[area], days=days, staff_id=staff_id, params=p)
                patrols[str(staff_id)] = (done[area], required(str(area)))
    else:
        done = patrol_counts(segments, grids=grids, days=days, params=p)
        for code in sorted({str(_places(g)[level]) for g in grids}):
            mine = [g for g in grids if _places(g)[level] == code]
            patrols[code] = (sum(done[g] for g in mine), sum(required(g) for g in mine))
            counts.setdefault(code, {})
    out = []
    for code in sorted(counts):
        extra: dict[str, Any] = {}
        if code in patrols:
            extra = {"patrols_done": patrols[code][0], "patrols_required": patrols[code][1]}
        out.append(indicator(level, code, Counts(**counts[code], **extra), weights))
    return out
