"""Ticks: the rules judged on a clock rather than on arriving data, with ``now`` passed in.

- silence (every minute): each watched device's last device and receive times against ``now``,
  grouped by unit so a unit gone quiet is one hazard;
- dates (each daily look, on the China day): extinguisher scrap age, service due, monthly check;
- patrol compliance (once per China day, for the day before): 一日双巡 per grid, from the patrol
  segments ``rebuild_segments`` keeps; then the judged days whose inputs changed since (late
  tracks, a back-dated grid import) are judged again (``rules.rejudge``).

Devices whose overrides give a rule different params are judged in a group of their own (state
key ``*:<digest>``); the rest share the key ``*``.

What a tick reads comes through a ``TickSource``: ``LIVE`` reads the registry, ``device_status``
and the stored patrol segments as they are now; ``rules.replay`` rebuilds them as of a simulated
``now`` from stored history.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from devices.timefmt import dt_to_ms
from grids.patrol_days import StaleDay, record_judged, stale_days
from hazards.lifecycle import HazardSink
from infra.database import Conn
from rules.definitions import ResolvedRule, RuleDefinition
from rules.engine.core import Engine
from rules.engine.service import MS
from rules.engine.types import StateStore
from rules.kinds.dates import DatesSnapshot
from rules.kinds.false_alarms import day_label
from rules.kinds.patrol import PatrolDay
from rules.kinds.silence import SilenceSnapshot
from rules.models import MS_PER_DAY, DeviceContext, Transition, cst_day, cst_day_start
from rules.rejudge import day_date, judge_marked, keep_ms

_DEVICES = f"""
SELECT d.device_id, d.kind, d.model, d.unit_id, d.hydrant_class, d.agent, d.thresholds,
       coalesce(d.heartbeat_s, 0), coalesce({MS.format(col="s.last_ts")}, -1),
       coalesce({MS.format(col="s.last_received_at")}, -1), {MS.format(col="d.updated_at")},
       d.manufactured_on::text, d.installed_on::text
FROM devices d LEFT JOIN device_status s USING (device_id)
WHERE d.kind = %s
"""


_SEGMENTS = f"""
SELECT {MS.format(col="started_at")}, grids, valid FROM patrol_segments
WHERE started_at >= to_timestamp(%s / 1000.0) AND started_at < to_timestamp(%s / 1000.0)
"""

# When a grid came in force: the effective day (China midnight) of the first version it appeared
# in, or that version's import when it gave none. A grid drawn today was nobody's to patrol
# yesterday, so a street just imported (the demo's at its first start) is not reported short of
# yesterday's patrols, unless its import says it was in force already.
_IN_FORCE_SINCE = (
    "coalesce((v.effective_from::timestamp - interval '8 hours') AT TIME ZONE 'UTC', v.imported_at)"
)
# The current version's grids, each with when it came in force (Unix ms).
_CURRENT_GRIDS = f"""
WITH first AS (
    SELECT code, min(version) AS version FROM grid_areas WHERE level = 'grid' GROUP BY code
)
SELECT g.code, {MS.format(col=_IN_FORCE_SINCE)} FROM grid_areas g
JOIN first f ON f.code = g.code
JOIN grid_versions v ON v.version = f.version
WHERE g.level = 'grid' AND g.version = (SELECT max(version) FROM grid_versions)
"""
# Those in force before the judged day ended.
_GRIDS_OF_DAY = _CURRENT_GRIDS + f"  AND {_IN_FORCE_SINCE} < to_timestamp(%s / 1000.0)\n"

Row = tuple[Any, ...]
# (start ms, [{grid, seconds, ...}], valid) of one patrol segment
SegmentRow = tuple[int, list[dict[str, Any]], bool]


class TickSource(Protocol):
    """What the ticks read: registry rows, last-heard times, patrol segments."""

    def devices(self, conn: Conn, kind: str) -> list[Row]:
        """Return the rows of ``_DEVICES`` (same columns) for one device kind."""
        ...

    def heard(self, rows: Sequence[Row]) -> tuple[list[int], list[int]]:
        """Return the rows' last device times and last receive times (Unix ms, -1: never)."""
        ...

    def segments(self, conn: Conn, *, start: int, end: int) -> list[SegmentRow]:
        """Return the patrol segments starting in [start, end) (Unix ms)."""
        ...

    def stale_days(self, conn: Conn, *, settle: timedelta) -> list[StaleDay]:
        """Return the judged patrol days marked as changed at least ``settle`` ago."""
        ...

    def judged(self, conn: Conn, *, day: date) -> None:
        """Note that the patrol check has judged ``day``."""
        ...


class LiveSource:
    """Read what the database holds now."""

    def devices(self, conn: Conn, kind: str) -> list[Row]:
        """Return the registry's devices of ``kind`` with their ``device_status``."""
        return conn.execute(_DEVICES, (kind,)).fetchall()

    def heard(self, rows: Sequence[Row]) -> tuple[list[int], list[int]]:
        """Return the ``device_status`` times the rows carry."""
        return [int(r[8]) for r in rows], [int(r[9]) for r in rows]

    def segments(self, conn: Conn, *, start: int, end: int) -> list[SegmentRow]:
        """Return the stored patrol segments."""
        return [
            (int(t), list(g or []), bool(v))
            for t, g, v in conn.execute(_SEGMENTS, (start, end)).fetchall()
        ]

    def stale_days(self, conn: Conn, *, settle: timedelta) -> list[StaleDay]:
        """Return the marks ``grids.patrol_days`` holds."""
        return stale_days(conn, settle=settle)

    def judged(self, conn: Conn, *, day: date) -> None:
        """Record the day in ``grids.patrol_days``, where late data can mark it."""
        record_judged(conn, day=day)


LIVE = LiveSource()


def _groups(
    conn: Conn, engine: Engine, rule: RuleDefinition, source: TickSource
) -> dict[str, tuple[ResolvedRule, list[tuple[Any, ...]]]]:
    """Return the rule's devices grouped by their effective params, keyed by state key."""
    out: dict[str, tuple[ResolvedRule, list[tuple[Any, ...]]]] = {}
    base = repr(rule.params)
    for row in source.devices(conn, rule.applies_to.device_kind):
        thresholds = {k: float(v) for k, v in (row[6] or {}).items()}
        ctx = DeviceContext(row[0], row[1], row[2], row[3], row[4], row[5], thresholds)
        if not rule.applies_to.matches(ctx):
            continue
        resolved = next((r for r in engine.resolved(ctx) if r.rule_id == rule.id), None)
        if resolved is None:  # disabled for this device
            continue
        params = repr(resolved.params)
        key = "*" if params == base else "*:" + hashlib.sha256(params.encode()).hexdigest()[:12]
        out.setdefault(key, (resolved, []))[1].append(row)
    return out


def silence(
    conn: Conn,
    engine: Engine,
    *,
    now: datetime,
    store: StateStore,
    sink: HazardSink,
    source: TickSource = LIVE,
) -> list[Transition]:
    """Judge every silence rule at ``now``."""
    now_ms, out = dt_to_ms(now), []
    for rule in (r for r in engine.rules.rules if r.kind == "silence"):
        for key, (resolved, rows) in _groups(conn, engine, rule, source).items():
            last_ts, last_received = source.heard(rows)
            snap = SilenceSnapshot.build(
                now=now_ms,
                device=[r[0] for r in rows],
                group=[r[3] or "" for r in rows],
                last_device_ts=last_ts,
                last_received=last_received,
                heartbeat_s=[r[7] for r in rows],
                since=[r[10] for r in rows],
            )
            out += engine.run_fleet(
                resolved, snap, key=key, at=now_ms, once=False, store=store, sink=sink
            )
    return out


def dates(
    conn: Conn,
    engine: Engine,
    *,
    now: datetime,
    store: StateStore,
    sink: HazardSink,
    source: TickSource = LIVE,
) -> list[Transition]:
    """Judge every dates rule on ``now``'s China day.

    Every daily look judges the day again (not once): judging is a diff against the devices
    already open, so a repeat changes nothing, while an extinguisher registered or corrected
    during the day is judged within one look instead of the next day.
    """
    day = cst_day(dt_to_ms(now))
    today = day_label(day)
    out: list[Transition] = []
    for rule in (r for r in engine.rules.rules if r.kind == "dates"):
        for key, (resolved, rows) in _groups(conn, engine, rule, source).items():
            snap = DatesSnapshot.build(
                today=today,
                device=[r[0] for r in rows],
                agent=[r[5] for r in rows],
                manufactured_on=[r[11] for r in rows],
                installed_on=[r[12] for r in rows],
            )
            out += engine.run_fleet(
                resolved, snap, key=key, at=cst_day_start(day), once=False, store=store, sink=sink
            )
    return out


def patrol_day_of(day: int, grids: Sequence[str], segments: Sequence[SegmentRow]) -> PatrolDay:
    """Build one CST day's ``PatrolDay``: each segment counts, per grid it crossed, from its
    start for the seconds it spent there (also the indicators' patrol count)."""
    seg_grid: list[str] = []
    seg_start: list[int] = []
    seg_end: list[int] = []
    seg_valid: list[bool] = []
    for started, grid_list, valid in segments:
        for g in grid_list:
            if g.get("grid"):
                seg_grid.append(g["grid"])
                seg_start.append(int(started))
                seg_end.append(int(started) + round(float(g.get("seconds", 0)) * 1000))
                seg_valid.append(bool(valid))
    return PatrolDay.build(
        day=day, grids=grids, grid=seg_grid, start=seg_start, end=seg_end, valid=seg_valid
    )


def grids_of_day(conn: Conn, day: int) -> list[str]:
    """Return the current version's grids in force on CST day ``day``."""
    end = cst_day_start(day + 1)
    return [str(r[0]) for r in conn.execute(_GRIDS_OF_DAY, (end,)).fetchall()]


def grids_in_force(conn: Conn) -> dict[str, int]:
    """Return the current version's grids, each with the first CST day it is judged for (the
    day it came in force: ``grids_of_day`` holds it from that day on)."""
    return {str(code): cst_day(int(ms)) for code, ms in conn.execute(_CURRENT_GRIDS).fetchall()}


def patrols(
    conn: Conn,
    engine: Engine,
    *,
    now: datetime,
    store: StateStore,
    sink: HazardSink,
    source: TickSource = LIVE,
) -> list[Transition]:
    """Judge patrol compliance of the China day before ``now``'s, once; then judge again the
    judged days marked as changed since (``rules.rejudge``).

    A day with no grid in force is judged too (nothing is short): a street imported later as
    in force since then marks it, and it is judged again.
    """
    today = cst_day(dt_to_ms(now))
    rules = [r for r in engine.rules.of_subject("grid") if r.kind == "patrol_compliance"]
    if not rules:
        return []

    def day_of(day: int) -> PatrolDay:
        start = cst_day_start(day)
        segments = source.segments(conn, start=start, end=start + MS_PER_DAY)
        return patrol_day_of(day, grids_of_day(conn, day), segments)

    window = engine.config.rejudge_days
    yesterday = day_of(today - 1)
    out: list[Transition] = []
    for rule in rules:
        out += engine.run_fleet(
            rule,
            yesterday,
            key="*",
            at=cst_day_start(today),
            once=True,
            store=store,
            sink=sink,
            keep_ms=keep_ms(window),
        )
    source.judged(conn, day=day_date(today - 1))
    marks = source.stale_days(conn, settle=timedelta(milliseconds=engine.config.rejudge_settle_ms))
    if marks:
        out += judge_marked(
            conn,
            rules,
            marks=marks,
            today=today,
            window=window,
            days_of=day_of,
            store=store,
            sink=sink,
        )
    return out


TICKS: dict[str, Callable[..., list[Transition]]] = {
    "silence": silence,
    "dates": dates,
    "patrols": patrols,
}
