"""False alarms per unit per day: more than ``max_per_day`` → a hazard for the unit.

GB 50440 practice: more than 5 false alarms a day at one unit calls for a handling plan
(DOMAIN §3). A false alarm is a ``smoke_alarm`` followed by ``alarm_cleared`` from the SAME
device within ``clear_within_s``, with no confirmation (a ``confirm`` type, such as the
confirmed-fire correlation fed in as an event, or an operator's confirmation) in the unit
between them.

Day boundary: midnight China Standard Time (UTC+8, no daylight saving), and a false alarm counts
on the day its ALARM went off. The units, their duty shifts and the "per day" of the handling
plan are local; counting by UTC would split a Chinese day at 08:00. An alarm at 23:59 cleared at
00:01 still belongs to the day it rang.

The episode opens at the clear that makes the count exceed the limit, is updated by each
further false alarm of that day, and clears once device time has passed that day's end plus
``clear_within_s`` (no later clear can add to the day any more): it says "this unit had too many
false alarms on day D", and the case it starts carries on after it clears.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from rules.models import (
    MS_PER_DAY,
    MS_PER_S,
    EventSeries,
    ParamsBase,
    Resolved,
    RuleState,
    Transition,
    check_after,
    cst_day,
    cst_day_start,
)


@dataclass(frozen=True)
class FalseAlarmParams(ParamsBase):
    """Params of a false-alarm rule."""

    max_per_day: int = 5
    clear_within_s: float = 600.0
    alarm: tuple[str, ...] = ("smoke_alarm",)
    cleared: tuple[str, ...] = ("alarm_cleared",)
    confirm: tuple[str, ...] = ()

    def problems(self) -> list[tuple[str, str]]:
        """Return out-of-range params."""
        out: list[tuple[str, str]] = []
        if self.max_per_day < 0:
            out.append(("max_per_day", "must be zero or more"))
        if self.clear_within_s <= 0:
            out.append(("clear_within_s", "must be more than zero"))
        return out


@dataclass(frozen=True, slots=True)
class FalseAlarmState(RuleState):
    """Pending alarms ``(device, ts, confirmed)``, counts per CST day, and the open day."""

    pending: tuple[tuple[str, int, bool], ...] = ()
    counts: tuple[tuple[int, int], ...] = ()
    open_day: int | None = None


def day_label(day: int) -> str:
    """Return a CST day number as an ISO date."""
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


def evaluate(
    events: EventSeries, state: FalseAlarmState, rule: Resolved[FalseAlarmParams]
) -> tuple[FalseAlarmState, list[Transition]]:
    """Evaluate one unit's events in device-time order; return the new state and transitions."""
    check_after(events.key, events.ts, state.last_ts)
    if len(events) == 0:
        return state, []
    p = rule.params
    within = round(p.clear_within_s * MS_PER_S)
    wanted = np.asarray(sorted(set(p.alarm) | set(p.cleared) | set(p.confirm)), dtype=object)
    pending = {dev: (ts, conf) for dev, ts, conf in state.pending}
    counts = dict(state.counts)
    open_day = state.open_day
    out: list[Transition] = []

    def close_day_if_final(now: int) -> None:
        nonlocal open_day
        if open_day is not None:
            final_at = cst_day_start(open_day) + MS_PER_DAY + within
            if now >= final_at:
                out.append(
                    Transition(
                        events.key,
                        rule.rule_id,
                        final_at,
                        "clear",
                        rule.severity,
                        counts.get(open_day, 0),
                        {"day": day_label(open_day)},
                    )
                )
                open_day = None

    for i in np.flatnonzero(np.isin(events.type, wanted)).tolist():
        ts, kind, dev = int(events.ts[i]), str(events.type[i]), str(events.device[i])
        close_day_if_final(ts)
        # An alarm not cleared in time was not a false alarm; forget it.
        pending = {d: v for d, v in pending.items() if ts - v[0] <= within}
        if kind in p.confirm:
            pending = {d: (t, True) for d, (t, _) in pending.items()}
        elif kind in p.alarm:
            pending.setdefault(dev, (ts, False))  # a re-alarm keeps the first alarm's time
        elif kind in p.cleared and dev in pending:
            alarm_ts, confirmed = pending.pop(dev)
            if confirmed:
                continue
            day = cst_day(alarm_ts)
            counts[day] = counts.get(day, 0) + 1
            if counts[day] <= p.max_per_day:
                continue
            detail = {"day": day_label(day), "count": counts[day], "device": dev}
            if open_day == day:
                out.append(
                    Transition(
                        events.key, rule.rule_id, ts, "update", rule.severity, counts[day], detail
                    )
                )
            elif open_day is None or open_day < day:
                # A new day over the limit while the last one is not final yet (a storm just
                # after midnight): end the old day's episode first; one episode at a time.
                if open_day is not None:
                    out.append(
                        Transition(
                            events.key,
                            rule.rule_id,
                            ts,
                            "clear",
                            rule.severity,
                            counts.get(open_day, 0),
                            {"day": day_label(open_day)},
                        )
                    )
                out.append(
                    Transition(
                        events.key, rule.rule_id, ts, "open", rule.severity, counts[day], detail
                    )
                )
                open_day = day
            # An earlier day going over while a later day's episode is open (an alarm before
            # midnight cleared after six false alarms after it) is counted, not raised: one
            # episode per key at a time, and the unit already has its hazard.
    last_ts = int(events.ts[-1])
    close_day_if_final(last_ts)
    # Counts older than yesterday can no longer change: keep the state small.
    today = cst_day(last_ts)
    kept = tuple(sorted((d, c) for d, c in counts.items() if d >= today - 1))
    pend = tuple(sorted((d, t, c) for d, (t, c) in pending.items()))
    return FalseAlarmState(last_ts, pend, kept, open_day), out
