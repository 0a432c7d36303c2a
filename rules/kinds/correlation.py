"""Correlation: two signals from distinct devices of one unit within a window → a unit hazard.

- Confirmed fire: ``first: [smoke_alarm]``, ``second: [smoke_alarm]``, ``window_s: 120`` — two
  DIFFERENT smoke detectors of the unit alarming within 120 s (one detector alarming twice
  proves nothing new).
- Smoke alarm with a hydrant pressure drop: ``first: [smoke_alarm]``,
  ``second: [pressure_drop]`` — someone may be fighting the fire, or a main burst.

The input is one unit's event stream (all its devices) in device-time order. Readings are not
events, so the engine feeds the sudden-drop rule's transitions for the unit's hydrants in as
synthetic events: ``open`` → ``pressure_drop``, ``clear`` → ``pressure_restored`` (see
``SYNTHETIC_EVENTS``). Order does not matter: the pair matches whichever comes first.

The episode clears when every device involved in it has sent one of the ``clear`` types;
further matching signals while it is open are ``update`` s (a third detector), never a second
episode.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

import numpy as np

from devices.models import EVENT_TYPES
from rules.models import (
    MS_PER_S,
    EventSeries,
    ParamsBase,
    Resolved,
    RuleState,
    Transition,
    check_after,
)

SYNTHETIC_EVENTS: Final = frozenset({"pressure_drop", "pressure_restored"})


@dataclass(frozen=True)
class CorrelationParams(ParamsBase):
    """Params of a correlation rule."""

    first: tuple[str, ...]
    second: tuple[str, ...]
    window_s: float
    clear: tuple[str, ...] = ()

    def problems(self) -> list[tuple[str, str]]:
        """Return unknown event types and a non-positive window."""
        known = EVENT_TYPES | SYNTHETIC_EVENTS
        out: list[tuple[str, str]] = []
        for name in ("first", "second", "clear"):
            types_: tuple[str, ...] = getattr(self, name)
            out.extend((name, f"unknown event type {t!r}") for t in types_ if t not in known)
        if not self.first or not self.second:
            out.append(("first" if not self.first else "second", "must name an event type"))
        if self.window_s <= 0:
            out.append(("window_s", "must be more than zero"))
        return out


@dataclass(frozen=True, slots=True)
class CorrelationState(RuleState):
    """Recent signals ``(device, type, ts)`` inside the window, and the open episode's devices."""

    recent: tuple[tuple[str, str, int], ...] = ()
    involved: frozenset[str] = frozenset()

    @property
    def open(self) -> bool:
        """Return whether an episode is open."""
        return bool(self.involved)


def _pairs(p: CorrelationParams, a: str, b: str) -> bool:
    return (a in p.first and b in p.second) or (a in p.second and b in p.first)


def evaluate(
    events: EventSeries, state: CorrelationState, rule: Resolved[CorrelationParams]
) -> tuple[CorrelationState, list[Transition]]:
    """Evaluate one unit's events in device-time order; return the new state and transitions."""
    check_after(events.key, events.ts, state.last_ts)
    if len(events) == 0:
        return state, []
    p = rule.params
    window_ms = round(p.window_s * MS_PER_S)
    wanted = np.asarray(sorted(set(p.first) | set(p.second) | set(p.clear)), dtype=object)
    recent = list(state.recent)
    involved = set(state.involved)
    out: list[Transition] = []
    for i in np.flatnonzero(np.isin(events.type, wanted)).tolist():
        ts, kind, dev = int(events.ts[i]), str(events.type[i]), str(events.device[i])
        recent = [r for r in recent if ts - r[2] <= window_ms]
        if kind in p.clear:
            recent = [r for r in recent if r[0] != dev]
            if dev in involved:
                involved.discard(dev)
                if not involved:
                    out.append(
                        Transition(
                            events.key,
                            rule.rule_id,
                            ts,
                            "clear",
                            rule.severity,
                            None,
                            {"device": dev, "event": kind},
                        )
                    )
            continue
        if kind not in p.first and kind not in p.second:
            continue
        if involved:
            if dev not in involved:
                involved.add(dev)
                out.append(
                    Transition(
                        events.key,
                        rule.rule_id,
                        ts,
                        "update",
                        rule.severity,
                        None,
                        {"device": dev, "event": kind},
                    )
                )
        else:
            partner = next((r for r in recent if r[0] != dev and _pairs(p, r[1], kind)), None)
            if partner is not None:
                involved = {partner[0], dev}
                detail = {
                    "devices": [partner[0], dev],
                    "events": [partner[1], kind],
                    "gap_ms": ts - partner[2],
                }
                out.append(
                    Transition(events.key, rule.rule_id, ts, "open", rule.severity, None, detail)
                )
        recent = [r for r in recent if not (r[0] == dev and r[1] == kind)]
        recent.append((dev, kind, ts))
    new = replace(
        state, last_ts=int(events.ts[-1]), recent=tuple(recent), involved=frozenset(involved)
    )
    return new, out
