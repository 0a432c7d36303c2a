"""Device events to hazard episodes: one rule per episode family (smoke alarm, fault, tamper, …).

A rule names the event types that ``open`` its episode, those that ``clear`` it and those that
only ``update`` it. ``smoke_alarm`` opens, ``silenced`` updates (a silenced alarm is still an
alarm), ``alarm_cleared`` clears. An opening type arriving while the episode is open is an
``update`` (the hazard's occurrence counter), never a second episode; a clearing type while
closed, or an update while closed, changes nothing. Families without a clearing event (low
battery, tilt) stay open until a person clears the hazard.

Events are few next to readings: numpy picks the relevant ones out of the batch, then a plain
loop walks them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from devices.models import EVENT_TYPES
from rules.models import EventSeries, ParamsBase, Resolved, RuleState, Transition, check_after


@dataclass(frozen=True)
class DeviceEventParams(ParamsBase):
    """Params of a device-event rule: event types per role in the episode."""

    open: tuple[str, ...]
    clear: tuple[str, ...] = ()
    update: tuple[str, ...] = ()

    def problems(self) -> list[tuple[str, str]]:
        """Return unknown event types and types given two roles."""
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        for name in ("open", "clear", "update"):
            types_: tuple[str, ...] = getattr(self, name)
            out.extend((name, f"unknown event type {t!r}") for t in types_ if t not in EVENT_TYPES)
            out.extend((name, f"event type {t!r} has two roles") for t in types_ if t in seen)
            seen.update(types_)
        if not self.open:
            out.append(("open", "must name at least one event type"))
        return out


@dataclass(frozen=True, slots=True)
class DeviceEventState(RuleState):
    """Whether the episode is open."""

    open: bool = False


def evaluate(
    events: EventSeries, state: DeviceEventState, rule: Resolved[DeviceEventParams]
) -> tuple[DeviceEventState, list[Transition]]:
    """Evaluate one device's events in device-time order; return the new state and transitions."""
    check_after(events.key, events.ts, state.last_ts)
    if len(events) == 0:
        return state, []
    p = rule.params
    relevant = np.flatnonzero(np.isin(events.type, np.asarray(p.open + p.clear + p.update)))
    is_open = state.open
    out: list[Transition] = []
    for i in relevant.tolist():
        kind = str(events.type[i])
        ts = int(events.ts[i])
        detail = {"event": kind}
        if kind in p.open:
            out.append(
                Transition(
                    events.key,
                    rule.rule_id,
                    ts,
                    "update" if is_open else "open",
                    rule.severity,
                    None,
                    detail,
                )
            )
            is_open = True
        elif not is_open:
            continue
        elif kind in p.clear:
            out.append(
                Transition(events.key, rule.rule_id, ts, "clear", rule.severity, None, detail)
            )
            is_open = False
        else:
            out.append(
                Transition(events.key, rule.rule_id, ts, "update", rule.severity, None, detail)
            )
    return replace(state, last_ts=int(events.ts[-1]), open=is_open), out
