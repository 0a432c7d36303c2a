"""Patrol days judged again: late tracks and back-dated grid imports change a judged day.

The patrol tick judges each China day once, the day after (``rules.ticks.patrols``). A day's
inputs can change after that: a worker's phone in a basement uploads yesterday's track this
morning (store-and-forward NMEA with old timestamps), or a street is imported as in force since
an earlier day. Either marks the judged day (``grids.patrol_days``: a rebuilt patrol segment,
a grid import with ``effective_from``), and the next patrol tick judges the marked days again
once their last change is ``rejudge_settle_ms`` old, so a burst of uploads is judged once, at
its end, not hazard by hazard as it arrives.

Only the last ``rejudge_days`` China days are judged again; an older marked day is logged and
left as judged. Judging again reconciles the hazards with what the first judgements did
(``rules.kinds.patrol_again``), from the patrol state the engine keeps per judged day.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import cast

from grids.patrol_days import StaleDay, clear_stale
from hazards.lifecycle import HazardSink
from infra.database import Conn
from rules.definitions import ResolvedRule
from rules.engine.evaluate import hazard_op
from rules.engine.types import StateStore
from rules.kinds import KINDS
from rules.kinds.patrol import PatrolDay, PatrolState
from rules.kinds.patrol_again import judge_again
from rules.models import MS_PER_DAY, Transition, cst_day, cst_day_start

log = logging.getLogger(__name__)

_EPOCH = date(1970, 1, 1)


def day_number(day: date) -> int:
    """Return a China day as the day number ``rules.models.cst_day`` uses."""
    return (day - _EPOCH).days


def day_date(day: int) -> date:
    """Return the date of a ``rules.models.cst_day`` day number."""
    return _EPOCH + timedelta(days=day)


def keep_ms(days: int) -> int:
    """Return how long the patrol state is kept per judged day to judge ``days`` days again."""
    return (days + 1) * MS_PER_DAY


def judge_marked(
    conn: Conn,
    rules: Sequence[ResolvedRule],
    *,
    marks: Sequence[StaleDay],
    today: int,
    window: int,
    days_of: Callable[[int], PatrolDay],
    store: StateStore,
    sink: HazardSink,
) -> list[Transition]:
    """Judge the marked days of the last ``window`` China days before ``today`` again."""
    oldest = today - window
    old = [m for m in marks if day_number(m.day) < oldest]
    recent = [m for m in marks if oldest <= day_number(m.day) < today]
    for m in old:
        log.warning(
            "patrol day %s changed after it was judged, but it is more than %d days ago:"
            " not judged again",
            m.day.isoformat(),
            window,
        )
    out: list[Transition] = []
    if recent:
        since = cst_day_start(min(day_number(m.day) for m in recent) + 1)
        built: dict[int, PatrolDay] = {}

        def cached(day: int) -> PatrolDay:
            if day not in built:
                built[day] = days_of(day)
            return built[day]

        for rule in rules:
            out += _again(rule, since=since, days_of=cached, store=store, sink=sink)
        log.info(
            "patrol days %s judged again: %d transition(s)",
            ", ".join(m.day.isoformat() for m in recent),
            len(out),
        )
    if old or recent:
        clear_stale(conn, marks=[*old, *recent])
    return out


def _again(
    rule: ResolvedRule,
    *,
    since: int,
    days_of: Callable[[int], PatrolDay],
    store: StateStore,
    sink: HazardSink,
) -> list[Transition]:
    """Judge again the days ``rule`` judged that ended at or after ``since`` (Unix ms)."""
    spec = KINDS[rule.kind]
    ks = store.load(rule.rule_id, spec.state, ["*"]).get("*")
    if ks is None or ks.state.last_ts is None:
        return []  # this rule has judged no day yet
    kept = [(ts, cast(PatrolState, s)) for ts, s in ks.checkpoints]
    if not kept or kept[-1][0] != ks.state.last_ts:
        # Judged before states were kept per day: the current one is the last day's.
        kept.append((ks.state.last_ts, cast(PatrolState, ks.state)))
    judged = [(ts, s) for ts, s in kept if ts >= since]
    if not judged:
        return []
    before = [c for c in kept if c[0] < since]
    # A state's time is the end of its day: the day itself is the one before.
    days = [days_of(cst_day(ts) - 1) for ts, _ in judged]
    prior = before[-1][1] if before else None
    states, ops = judge_again(days, prior, [s for _, s in judged], rule)
    sink.apply([hazard_op(action, rule, t.key, t) for action, t in ops])
    ks.checkpoints = (*before, *((s.last_ts or 0, s) for s in states))
    ks.state = states[-1]
    store.save({rule.rule_id: {"*": ks}})
    return [t for action, t in ops if action == "apply"]
