"""Threshold with hysteresis and minimum duration, low or high, with an optional critical tier.

For ``direction: low`` (``high`` mirrors it by negating values and limits):

- a sample is *bad* when ``value < limit``; the episode opens at the first bad sample whose bad
  run (consecutive bad samples) has lasted ``min_duration_s`` of device time; a sample at or
  above ``limit`` before that resets the run;
- an open episode clears only at a sample ``>= limit + hysteresis``, so a value wandering in
  the dead band ``[limit, limit + hysteresis)`` neither clears nor reopens (no flood);
- with ``critical_limit``, an open episode is raised to ``critical`` by an ``update`` at a
  sample below it, and lowered back at a sample ``>= critical_limit + hysteresis``. Escalation
  needs no minimum duration: once a hazard is open, getting worse is news at once.

The work is vectorised end to end: numpy finds bad runs and their start times, the samples
that may open and those that clear, and runs the episode and tier latches as forward fills; the
only Python loop builds the transitions themselves. Inside a stretch of safe samples only the
first matters, so a mostly healthy batch costs a few passes of numpy.

Three entry points, one implementation: ``evaluate`` (one key, the kind's standard signature),
``evaluate_many`` (many keys, per-key states) and ``evaluate_columns`` (many keys, columnar
state): an engine round holding one sample of each of thousands of devices should use the last,
because one numpy call per key costs more than the work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from hazards.models import Severity, TransitionKind
from rules.models import (
    I64,
    MS_PER_S,
    BoolArray,
    ManySeries,
    ParamsBase,
    Resolved,
    RuleState,
    SeriesArrays,
    Transition,
    check_after,
)

_NEVER = np.iinfo(np.int64).min


@dataclass(frozen=True)
class ThresholdParams(ParamsBase):
    """Params of a threshold rule; durations in seconds of device time."""

    metric: str
    direction: Literal["low", "high"]
    limit: float
    hysteresis: float = 0.0
    min_duration_s: float = 0.0
    critical_limit: float | None = None

    def problems(self) -> list[tuple[str, str]]:
        """Return combinations that make no sense (negative dead band, critical tier reversed)."""
        out: list[tuple[str, str]] = []
        if self.hysteresis < 0:
            out.append(("hysteresis", "must be zero or more"))
        if self.min_duration_s < 0:
            out.append(("min_duration_s", "must be zero or more"))
        if self.critical_limit is not None:
            worse = (
                self.critical_limit <= self.limit
                if self.direction == "low"
                else self.critical_limit >= self.limit
            )
            if not worse:
                side = "below" if self.direction == "low" else "above"
                out.append(("critical_limit", f"must be at or {side} limit {self.limit}"))
        return out


@dataclass(frozen=True, slots=True)
class ThresholdState(RuleState):
    """Open or not, the start of a bad run still waiting for min duration, and the tier."""

    open: bool = False
    pending_since: int | None = None
    critical: bool = False


def _latch(on: BoolArray, off: BoolArray, init: BoolArray, seg_first: I64) -> BoolArray:
    """Return a set/reset latch's level after each sample, restarting at ``init`` per key.

    ``on`` and ``off`` are disjoint; ``init`` and ``seg_first`` (the index of the key's first
    sample) are given per sample.
    """
    idx = np.where(on | off, np.arange(on.size), -1)
    last = np.maximum.accumulate(idx)
    level: BoolArray = np.where(last >= seg_first, on[np.maximum(last, 0)], init)
    return level


def _shifted(level: BoolArray, init: BoolArray, is_first: BoolArray) -> BoolArray:
    """Return the level before each sample: the previous sample's, or ``init`` at a key's start."""
    before = np.empty_like(level)
    before[1:] = level[:-1]
    before[is_first] = init[is_first]
    return before


def _transitions(
    batch: ManySeries,
    rule: Resolved[ThresholdParams],
    *,
    run_start: I64,
    seg: I64,
    tier: BoolArray,
    open_idx: I64,
    update_idx: I64,
    clear_idx: I64,
) -> list[Transition]:
    """Build the transitions at the given sample indices, in device-time order."""
    p = rule.params
    base = {"metric": p.metric, "direction": p.direction}
    clear_at = p.limit + (p.hysteresis if p.direction == "low" else -p.hysteresis)
    kinds: list[tuple[int, TransitionKind]] = sorted(
        [(i, "open") for i in open_idx.tolist()]
        + [(i, "update") for i in update_idx.tolist()]
        + [(i, "clear") for i in clear_idx.tolist()]
    )
    out: list[Transition] = []
    for i, kind in kinds:
        crit = bool(tier[i]) and kind != "clear"
        detail: dict[str, object] = {**base, "limit": p.critical_limit if crit else p.limit}
        if kind == "open":
            detail["held_ms"] = int(batch.ts[i] - run_start[i])
        elif kind == "clear":
            detail["clear_at"] = clear_at
        severity = Severity.CRITICAL if crit else rule.severity
        key, ts, value = batch.keys[int(seg[i])], int(batch.ts[i]), float(batch.value[i])
        out.append(Transition(key, rule.rule_id, ts, kind, severity, value, detail))
    return out


@dataclass(frozen=True, slots=True, eq=False)
class ThresholdColumns:
    """The states of many keys as columns (``_NEVER`` for "none"): no Python object per key.

    The engine can keep a rule's state in this form and checkpoint it by keeping a reference
    (``evaluate_columns`` never mutates its input).
    """

    last_ts: I64
    open: BoolArray
    pending: I64
    critical: BoolArray

    @classmethod
    def from_states(cls, states: Sequence[ThresholdState]) -> ThresholdColumns:
        """Build columns from per-key states."""
        never = _NEVER
        return cls(
            np.array([never if s.last_ts is None else s.last_ts for s in states], np.int64),
            np.array([s.open for s in states], np.bool_),
            np.array(
                [never if s.pending_since is None else s.pending_since for s in states], np.int64
            ),
            np.array([s.critical for s in states], np.bool_),
        )

    def to_states(self) -> list[ThresholdState]:
        """Return per-key states."""
        return [
            ThresholdState(None if t == _NEVER else t, o, None if p == _NEVER else p, c)
            for t, o, p, c in zip(
                self.last_ts.tolist(),
                self.open.tolist(),
                self.pending.tolist(),
                self.critical.tolist(),
                strict=True,
            )
        ]


def evaluate(
    series: SeriesArrays, state: ThresholdState, rule: Resolved[ThresholdParams]
) -> tuple[ThresholdState, list[Transition]]:
    """Evaluate one key's samples in device-time order; return the new state and transitions."""
    check_after(series.key, series.ts, state.last_ts)
    if series.ts.size == 0:
        return state, []
    if not state.open and state.pending_since is None:
        # Same healthy-batch shortcut as evaluate_columns, without building columns for one key.
        p = rule.params
        sign = 1.0 if p.direction == "low" else -1.0
        if not (series.value * sign < p.limit * sign + p.hysteresis).any():
            return ThresholdState(int(series.ts[-1])), []
    states, out = evaluate_many(ManySeries.from_series([series]), [state], rule)
    return states[0], out


def evaluate_many(
    batch: ManySeries, states: Sequence[ThresholdState], rule: Resolved[ThresholdParams]
) -> tuple[list[ThresholdState], list[Transition]]:
    """Evaluate many keys at once (one state per key); return new states and transitions."""
    cols, out = evaluate_columns(batch, ThresholdColumns.from_states(states), rule)
    return cols.to_states(), out


def _compact(batch: ManySeries, keep: BoolArray) -> ManySeries:
    """Return the batch with only the samples where ``keep`` is true, offsets adjusted."""
    kept = np.flatnonzero(keep)
    offsets = np.searchsorted(kept, batch.offsets).astype(np.int64)
    return ManySeries(batch.keys, offsets, batch.ts[kept], batch.value[kept], batch.seq[kept])


def evaluate_columns(
    batch: ManySeries, cols: ThresholdColumns, rule: Resolved[ThresholdParams]
) -> tuple[ThresholdColumns, list[Transition]]:
    """Evaluate many keys with columnar state; return the new columns and transitions."""
    p = rule.params
    has = np.diff(batch.offsets) > 0
    firsts, lasts = batch.offsets[:-1][has], batch.offsets[1:][has] - 1
    behind = np.flatnonzero(batch.ts[firsts] < cols.last_ts[has])
    if behind.size:  # the same refusal check_after gives a single key
        k = int(np.flatnonzero(has)[behind[0]])
        check_after(batch.keys[k], batch.ts[batch.offsets[k] :], int(cols.last_ts[k]))
    last_ts = cols.last_ts.copy()
    last_ts[has] = batch.ts[lasts]  # the last sample's time, even when NaN or dropped below
    sign = 1.0 if p.direction == "low" else -1.0
    limit = p.limit * sign
    unsafe = batch.value * sign < limit + p.hysteresis  # bad or in the dead band; NaN: False
    idle = not cols.open.any() and not (cols.pending != _NEVER).any()
    if idle and not unsafe.any():  # the common case: a healthy batch
        return ThresholdColumns(last_ts, cols.open, cols.pending, cols.critical), []
    if np.isnan(batch.value).any():  # ingest rejects NaN; a stray one must not decide anything
        keep = ~np.isnan(batch.value)
        batch, unsafe = _compact(batch, keep), unsafe[keep]
    # Inside a stretch of safe samples only the first can change anything (it breaks a bad run
    # and clears an open episode): dropping the rest is exact, and makes a mostly healthy batch
    # cost a few passes of numpy. Each key's first and last samples are kept.
    keep = unsafe.copy()
    keep[1:] |= unsafe[:-1]
    nonempty = np.diff(batch.offsets) > 0
    keep[batch.offsets[:-1][nonempty]] = True
    keep[batch.offsets[1:][nonempty] - 1] = True
    if not keep.all():
        batch = _compact(batch, keep)
    return _episodes(batch, cols, last_ts, rule)


def _episodes(
    batch: ManySeries, cols: ThresholdColumns, last_ts: I64, rule: Resolved[ThresholdParams]
) -> tuple[ThresholdColumns, list[Transition]]:
    """Run the vectorised episode and tier latches over a compacted batch."""
    p = rule.params
    sign = 1.0 if p.direction == "low" else -1.0
    limit = p.limit * sign
    ts, x = batch.ts, batch.value * sign
    lengths = np.diff(batch.offsets)
    seg = np.repeat(np.arange(len(batch.keys)), lengths)  # key index per sample
    seg_first = batch.offsets[:-1][seg]
    is_first = np.arange(ts.size) == seg_first
    open0, crit0, pend = cols.open[seg], cols.critical[seg], cols.pending[seg]
    bad = x < limit
    # Where each bad run started; a run carried over from the last batch keeps its original
    # start so min duration counts across batch boundaries.
    prev_bad = _shifted(bad, (pend != _NEVER) & ~open0, is_first)
    start_ts = ts.copy()
    cont = bad & is_first & prev_bad
    start_ts[cont] = pend[cont]
    marker = (bad & ~prev_bad) | cont
    run_start = start_ts[np.maximum.accumulate(np.where(marker, np.arange(ts.size), 0))]
    # Opening (bad long enough) and clearing (beyond the dead band) never coincide, so the
    # episode state is a set/reset latch: vectorised, no per-sample or per-episode loop.
    qualifies = bad & (ts - run_start >= round(p.min_duration_s * MS_PER_S))
    opened = _latch(qualifies, x >= limit + p.hysteresis, open0, seg_first)
    was_open = _shifted(opened, open0, is_first)
    open_idx = np.flatnonzero(opened & ~was_open)
    clear_idx = np.flatnonzero(~opened & was_open)
    if p.critical_limit is not None:
        crit = p.critical_limit * sign
        on, off = x < crit, x >= crit + p.hysteresis
        off[open_idx] = ~on[open_idx]  # an episode opens at the tier of its opening sample
        tier = _latch(on, off, crit0, seg_first)
        was_tier = _shifted(tier, crit0, is_first)
        update_idx = np.flatnonzero((tier != was_tier) & opened & was_open)
    else:
        tier = np.zeros(ts.size, np.bool_)
        update_idx = np.zeros(0, np.int64)
    out = _transitions(
        batch,
        rule,
        run_start=run_start,
        tier=tier,
        seg=seg,
        open_idx=open_idx,
        update_idx=update_idx,
        clear_idx=clear_idx,
    )
    has = lengths > 0
    ends = batch.offsets[1:][has] - 1
    is_open, pending, critical = cols.open.copy(), cols.pending.copy(), cols.critical.copy()
    is_open[has] = opened[ends]
    pending[has] = np.where(~opened[ends] & bad[ends], run_start[ends], _NEVER)
    critical[has] = opened[ends] & tier[ends]
    return ThresholdColumns(last_ts, is_open, pending, critical), out
