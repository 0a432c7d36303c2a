"""Patrol compliance: every grid needs ``min_patrols`` valid patrols of ``min_duration_s`` a day.

"一日双巡" (DOMAIN §1): each grid patrolled twice a day, each patrol at least an hour. The
engine passes, for one CLOSED China-Standard-Time day, the grids that must be patrolled and
the patrol segments the terminals' tracks produced (grid, start, end, valid — validity being the
fix-quality and movement checks done upstream). Invalid segments never count. Valid segments
of one grid that overlap are merged first (two workers walking together, or a terminal that
re-sent a segment, make one patrol, not two). A segment belongs to the day its start falls in.

A grid that falls short opens a hazard keyed ``grid:<code>`` at the day's end; a compliant day
clears it. Counting is vectorised: sort by (grid, start), merge with a running maximum, count
with ``bincount``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rules.exceptions import RulesError
from rules.models import (
    CST_OFFSET_MS,
    I64,
    MS_PER_DAY,
    MS_PER_S,
    BoolArray,
    ParamsBase,
    Resolved,
    RuleState,
    StrArray,
    Transition,
    cst_day_start,
)


@dataclass(frozen=True)
class PatrolParams(ParamsBase):
    """Params of the patrol-compliance rule."""

    min_patrols: int = 2
    min_duration_s: float = 3600.0
    key_prefix: str = "grid:"

    def problems(self) -> list[tuple[str, str]]:
        """Return out-of-range params."""
        out: list[tuple[str, str]] = []
        if self.min_patrols < 1:
            out.append(("min_patrols", "must be 1 or more"))
        if self.min_duration_s <= 0:
            out.append(("min_duration_s", "must be more than zero"))
        return out


@dataclass(frozen=True, slots=True, eq=False)
class PatrolDay:
    """One CST day's patrol segments (ms) and the grids that had to be patrolled that day."""

    day: int
    grids: StrArray
    grid: StrArray
    start: I64
    end: I64
    valid: BoolArray

    @classmethod
    def build(
        cls,
        *,
        day: int,
        grids: Sequence[str],
        grid: Sequence[str],
        start: npt.ArrayLike,
        end: npt.ArrayLike,
        valid: npt.ArrayLike,
    ) -> PatrolDay:
        """Build a day from per-segment sequences, checking their lengths."""
        out = cls(
            day,
            np.asarray(sorted(set(grids)), dtype=object),
            np.asarray(list(grid), dtype=object),
            np.asarray(start, np.int64),
            np.asarray(end, np.int64),
            np.asarray(valid, np.bool_),
        )
        if not out.grid.size == out.start.size == out.end.size == out.valid.size:
            raise RulesError("patrol segment arrays must have one entry per segment")
        return out


@dataclass(frozen=True, slots=True)
class PatrolState(RuleState):
    """Grids whose non-compliance hazard is open; ``last_ts`` is the end of the last day."""

    open_grids: frozenset[str] = frozenset()


def count_patrols(day: PatrolDay, p: PatrolParams) -> npt.NDArray[np.int64]:
    """Return, per grid of ``day.grids``, the merged valid patrols lasting long enough."""
    sel = day.valid & (day.end > day.start) & np.isin(day.grid, day.grids)
    sel &= (day.start + CST_OFFSET_MS) // MS_PER_DAY == day.day  # the start's CST day
    gidx = np.searchsorted(day.grids.astype(str), day.grid[sel].astype(str))
    start, end = day.start[sel], day.end[sel]
    if start.size == 0:
        return np.zeros(day.grids.size, np.int64)
    # Shift each grid to its own stretch of the time line so one running max merges per grid.
    span = int(max(end.max(), start.max()) - min(start.min(), 0)) + MS_PER_DAY
    s = gidx.astype(np.int64) * span + start
    e = gidx.astype(np.int64) * span + end
    order = np.argsort(s, kind="stable")
    s, e, g = s[order], e[order], gidx[order]
    reach = np.maximum.accumulate(e)
    new = np.concatenate(([True], s[1:] > reach[:-1]))
    first = np.flatnonzero(new)
    merged_len = np.maximum.reduceat(e, first) - s[first]
    long_enough = merged_len >= round(p.min_duration_s * MS_PER_S)
    return np.bincount(g[first][long_enough], minlength=day.grids.size).astype(np.int64)


def evaluate(
    day: PatrolDay, state: PatrolState, rule: Resolved[PatrolParams]
) -> tuple[PatrolState, list[Transition]]:
    """Judge one closed day; return the new state and transitions stamped at the day's end."""
    ts = cst_day_start(day.day + 1)
    if state.last_ts is not None and ts <= state.last_ts:
        raise RulesError(f"patrol day {day.day} was already judged")
    p = rule.params
    counts = count_patrols(day, p)
    short = counts < p.min_patrols
    failing = frozenset(day.grids[short].tolist())
    done = dict(zip(day.grids.tolist(), counts.tolist(), strict=True))
    out = [
        Transition(
            p.key_prefix + g,
            rule.rule_id,
            ts,
            "open",
            rule.severity,
            done[g],
            {"patrols": done[g], "required": p.min_patrols},
        )
        for g in sorted(failing - state.open_grids)
    ]
    # Another short day of a grid already open is an occurrence, not a new episode.
    out.extend(
        Transition(
            p.key_prefix + g,
            rule.rule_id,
            ts,
            "update",
            rule.severity,
            done[g],
            {"patrols": done[g], "required": p.min_patrols},
        )
        for g in sorted(failing & state.open_grids)
    )
    out.extend(
        Transition(p.key_prefix + g, rule.rule_id, ts, "clear", rule.severity, done.get(g, 0))
        for g in sorted(state.open_grids - failing)
    )
    return PatrolState(ts, failing), out
