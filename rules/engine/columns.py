"""Columnar helpers of the engine: readings as flat arrays, sudden drop over many keys at once.

``sudden_drop`` has only a per-key ``evaluate`` (one numpy pass per key costs ~60 µs: 0.3 s for
a round of 5,000 hydrants). ``drop_many`` evaluates the common case of many keys at once, exactly
as ``sudden_drop.evaluate`` would: keys whose episode is closed and whose new samples drop
nowhere get their new state (last time, window tail) from a few numpy passes; every other key
(an open episode, a drop, a long or all-NaN series) is handed to ``sudden_drop.evaluate`` itself.
``tests/unit/test_engine_columns.py`` checks the two agree on random batches. The kind's owner
may move this into ``rules.kinds.sudden_drop`` as its ``evaluate_many``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rules.kinds.sudden_drop import SuddenDropParams, SuddenDropState
from rules.kinds.sudden_drop import evaluate as drop_evaluate
from rules.models import (
    F64,
    I64,
    MS_PER_S,
    BoolArray,
    ManySeries,
    Resolved,
    SeriesArrays,
    Transition,
)

_EPS = 1e-9  # the same float-noise margin as ``rules.kinds.sudden_drop``
_MAX_VECTOR = 16  # longer keys (tail + new samples) go to the per-key evaluate


def key_slice(many: ManySeries, k: int) -> SeriesArrays:
    """Return key ``k``'s samples of ``many``."""
    a, b = int(many.offsets[k]), int(many.offsets[k + 1])
    return SeriesArrays(many.keys[k], many.ts[a:b], many.value[a:b], many.seq[a:b])


def select(many: ManySeries, rows: BoolArray, keys: BoolArray) -> ManySeries:
    """Return the keys where ``keys`` is true with their samples where ``rows`` is true."""
    lengths = np.diff(many.offsets)
    seg = np.repeat(np.arange(len(many.keys)), lengths)
    rows = rows & keys[seg]
    counts = np.bincount(seg[rows], minlength=len(many.keys))[keys]
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    names = tuple(k for k, keep in zip(many.keys, keys.tolist(), strict=True) if keep)
    return ManySeries(names, offsets, many.ts[rows], many.value[rows], many.seq[rows])


def take_rows(many: ManySeries, keys: Sequence[int]) -> ManySeries:
    """Return the keys with indices ``keys`` (in that order) and all their samples."""
    idx = np.asarray(keys, np.int64)
    starts, ends = many.offsets[idx], many.offsets[idx + 1]
    lengths = ends - starts
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    rows = np.arange(int(offsets[-1])) - np.repeat(offsets[:-1] - starts, lengths)
    names = tuple(many.keys[i] for i in keys)
    return ManySeries(names, offsets, many.ts[rows], many.value[rows], many.seq[rows])


@dataclass(frozen=True, slots=True)
class _Merged:
    """Tails and new (non-NaN) samples of the vectorised keys, one segment per key."""

    seg: I64
    ts: I64
    x: F64
    carried: BoolArray
    width: int


def _merge(many: ManySeries, states: Sequence[SuddenDropState], keep: BoolArray) -> _Merged:
    k = len(many.keys)
    tail_n = np.array([len(s.tail) for s in states], np.int64)
    tail_ts = np.array([t for s in states for t, _ in s.tail], np.int64)
    tail_x = np.array([v for s in states for _, v in s.tail], np.float64)
    seg_new = np.repeat(np.arange(k), np.diff(many.offsets))[keep]
    new_n = np.bincount(seg_new, minlength=k)
    # Segment k holds its tail then its new samples: a stable sort by key does exactly that.
    seg = np.concatenate((np.repeat(np.arange(k), tail_n), seg_new))
    order = np.argsort(seg, kind="stable")
    ts = np.concatenate((tail_ts, many.ts[keep]))[order]
    x = np.concatenate((tail_x, many.value[keep]))[order]
    carried = np.concatenate((np.ones(tail_ts.size, np.bool_), np.zeros(seg_new.size, np.bool_)))
    width = int((tail_n + new_n).max(initial=0))
    return _Merged(seg[order], ts, x, carried[order], width)


def drop_many(
    many: ManySeries, states: Sequence[SuddenDropState], rule: Resolved[SuddenDropParams]
) -> tuple[list[SuddenDropState], list[list[Transition]]]:
    """Evaluate many keys' samples; return each key's new state and transitions."""
    p = rule.params
    window_ms = round(p.window_s * MS_PER_S)
    k = len(many.keys)
    lengths = np.diff(many.offsets)
    keep = ~np.isnan(many.value)
    m = _merge(many, states, keep)
    seg, ts, x = m.seg, m.ts, m.x
    ref = x.copy()
    later = np.full(x.size, -np.inf)
    for d in range(1, min(m.width, _MAX_VECTOR)):
        same = seg[d:] == seg[:-d]
        # window maximum over [ts - window, ts] of the key; maximum of the key's later samples
        inside = same & (ts[:-d] >= ts[d:] - window_ms)
        ref[d:] = np.where(inside, np.maximum(ref[d:], x[:-d]), ref[d:])
        later[:-d] = np.where(same, np.maximum(later[:-d], x[d:]), later[:-d])
    safe_ref = np.where(ref > 0, ref, 1.0)
    dropped = (ref >= max(p.min_reference, np.finfo(np.float64).tiny)) & (
        (ref - x) / safe_ref >= p.drop_pct / 100 - _EPS
    )
    dropped &= ~m.carried  # carried samples were judged in their own batch
    new_n = np.bincount(seg[~m.carried], minlength=k)
    size = np.bincount(seg, minlength=k)
    slow = np.array([s.open for s in states], np.bool_) | (size > _MAX_VECTOR) | (new_n == 0)
    slow |= np.bincount(seg[dropped], minlength=k) > 0
    slow &= lengths > 0
    # The tail: samples inside the last sample's window and above everything after them.
    last_idx = np.concatenate(([0], np.cumsum(size)))[1:] - 1
    seg_last_ts = ts[np.maximum(last_idx, 0)][seg] if ts.size else ts
    useful = (ts >= seg_last_ts - window_ms) & (x > later)
    tails: list[list[tuple[int, float]]] = [[] for _ in range(k)]
    for i, t, v in zip(seg[useful].tolist(), ts[useful].tolist(), x[useful].tolist(), strict=True):
        tails[i].append((t, v))
    ends = many.offsets[1:] - 1
    last_ts = many.ts[np.maximum(ends, 0)].tolist() if many.ts.size else [0] * k
    out_states: list[SuddenDropState] = []
    out_trs: list[list[Transition]] = []
    for i, (state, is_slow, n) in enumerate(
        zip(states, slow.tolist(), lengths.tolist(), strict=True)
    ):
        if n == 0:
            out_states.append(state)
            out_trs.append([])
        elif is_slow:
            new, trs = drop_evaluate(key_slice(many, i), state, rule)
            out_states.append(new)
            out_trs.append(trs)
        else:
            out_states.append(SuddenDropState(last_ts[i], False, None, tuple(tails[i])))
            out_trs.append([])
    return out_states, out_trs
