"""Sudden drop: a value falls by ``drop_pct`` % or more below the maximum of the last window.

A hydrant losing 30 % of its pressure within 5 minutes is a leak, a theft or someone opening
it (DOMAIN §4). For each sample, the reference is the maximum of the samples in
``[ts - window_s, ts]`` (device time, including the carried tail of the previous batch); the
episode opens at the first sample with ``(ref - value) / ref >= drop_pct / 100`` (a reference
below ``min_reference`` is ignored: a near-empty main is not dropping), and clears at the first
later sample back at ``recover_ratio × ref`` or more.

Window maxima use a sparse table over the batch (``O(n log w)`` numpy, ``w`` = samples per
window); the state carries only the samples that can still be a future window's maximum.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from rules.models import (
    F64,
    I64,
    MS_PER_S,
    ParamsBase,
    Resolved,
    RuleState,
    SeriesArrays,
    Transition,
    check_after,
)

# Float noise: 1.0 -> 0.7 is a 30 % drop even though (1.0 - 0.7) / 1.0 < 0.3 can be false.
_EPS = 1e-9


@dataclass(frozen=True)
class SuddenDropParams(ParamsBase):
    """Params of a sudden-drop rule."""

    metric: str
    drop_pct: float
    window_s: float
    recover_ratio: float = 0.9
    min_reference: float = 0.0

    def problems(self) -> list[tuple[str, str]]:
        """Return out-of-range params."""
        out: list[tuple[str, str]] = []
        if not 0 < self.drop_pct <= 100:
            out.append(("drop_pct", "must be in (0, 100]"))
        if self.window_s <= 0:
            out.append(("window_s", "must be more than zero"))
        if not 0 < self.recover_ratio <= 1:
            out.append(("recover_ratio", "must be in (0, 1]"))
        return out


@dataclass(frozen=True, slots=True)
class SuddenDropState(RuleState):
    """Open or not, the reference of the open episode, and the window's candidate maxima."""

    open: bool = False
    reference: float | None = None
    tail: tuple[tuple[int, float], ...] = ()


def window_max(ts: I64, x: F64, window_ms: int) -> F64:
    """Return, for each sample, the maximum of ``x`` over samples in ``[ts - window_ms, ts]``."""
    n = ts.size
    first = np.searchsorted(ts, ts - window_ms, side="left")
    length = np.arange(n) - first + 1
    # Sparse table: table[k][i] = max(x[i : i + 2**k]); only as many levels as the widest window.
    table = [x]
    while (1 << len(table)) <= int(length.max(initial=1)):
        prev, half = table[-1], 1 << (len(table) - 1)
        table.append(np.maximum(prev[:-half], prev[half:]))
    level = np.floor(np.log2(length)).astype(np.int64)
    out = np.empty(n, np.float64)
    for k, row in enumerate(table):
        sel = np.flatnonzero(level == k)
        if sel.size:
            # Two overlapping blocks of 2**k cover [first, i] exactly.
            out[sel] = np.maximum(row[first[sel]], row[sel - (1 << k) + 1])
    return out


def evaluate(
    series: SeriesArrays, state: SuddenDropState, rule: Resolved[SuddenDropParams]
) -> tuple[SuddenDropState, list[Transition]]:
    """Evaluate one key's samples in device-time order; return the new state and transitions."""
    check_after(series.key, series.ts, state.last_ts)
    if len(series) == 0:
        return state, []
    p = rule.params
    window_ms = round(p.window_s * MS_PER_S)
    keep = ~np.isnan(series.value)
    last_ts = int(series.ts[-1])
    carried = len(state.tail)
    ts = np.concatenate((np.array([t for t, _ in state.tail], np.int64), series.ts[keep]))
    x = np.concatenate((np.array([v for _, v in state.tail], np.float64), series.value[keep]))
    if ts.size == carried:
        return replace(state, last_ts=last_ts), []
    ref = window_max(ts, x, window_ms)
    safe_ref = np.where(ref > 0, ref, 1.0)
    dropped = (ref >= max(p.min_reference, np.finfo(np.float64).tiny)) & (
        (ref - x) / safe_ref >= p.drop_pct / 100 - _EPS
    )
    dropped[:carried] = False  # carried samples were judged in their own batch
    drop_at = np.flatnonzero(dropped)

    out: list[Transition] = []
    is_open, reference = state.open, state.reference
    n, pos = int(ts.size), carried
    while pos < n:
        if not is_open:
            k = int(np.searchsorted(drop_at, pos))
            if k == drop_at.size:
                break
            i = int(drop_at[k])
            reference = float(ref[i])
            detail = {
                "metric": p.metric,
                "reference": reference,
                "window_s": p.window_s,
                "drop_pct": round(100 * (reference - float(x[i])) / reference, 3),
            }
            out.append(
                Transition(
                    series.key, rule.rule_id, int(ts[i]), "open", rule.severity, float(x[i]), detail
                )
            )
            is_open, pos = True, i + 1
            continue
        assert reference is not None
        back = np.flatnonzero(x[pos:] >= p.recover_ratio * reference)
        if back.size == 0:
            break
        i = pos + int(back[0])
        out.append(
            Transition(
                series.key,
                rule.rule_id,
                int(ts[i]),
                "clear",
                rule.severity,
                float(x[i]),
                {"metric": p.metric, "reference": reference},
            )
        )
        is_open, reference, pos = False, None, i + 1

    # Keep only samples that may still be a window maximum: inside the window of the last
    # sample and greater than everything after them.
    inside = ts >= ts[-1] - window_ms
    later_max = np.concatenate((np.maximum.accumulate(x[::-1])[::-1][1:], [-np.inf]))
    useful = inside & (x > later_max)
    tail = tuple(zip(ts[useful].tolist(), x[useful].tolist(), strict=True))
    return SuddenDropState(last_ts, is_open, reference if is_open else None, tail), out
