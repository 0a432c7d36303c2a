"""Threshold-with-hysteresis evaluation rate: the numpy kind against a per-sample Python loop.

Generates hydrant pressure series (a slow random walk around the 0.14 MPa limit with sensor
noise, one sample a minute, so there are real episodes and dead-band wandering), then evaluates
the shipped ``hydrant_municipal_low`` rule (limit, critical tier, hysteresis, min duration):

- vectorised: ``rules.kinds.threshold.evaluate`` per key and batch;
- naive: the same state machine written as a plain per-sample Python loop.

Both must give identical transitions (checked). Shapes: one long series in one call; 1,000 keys
in rounds of 100 samples each; engine rounds where each committed batch holds ONE sample of
each of 10,000 devices. "evaluate" makes one call per key and round; "columns" evaluates a whole
round in one ``evaluate_columns`` call with columnar state; the naive loop makes one call per
key and round. Run: ``python benchmarks/rules_eval.py [--readings N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from rules.kinds.threshold import (
    ThresholdColumns,
    ThresholdParams,
    ThresholdState,
    evaluate,
    evaluate_columns,
)
from rules.models import ManySeries, Resolved, SeriesArrays, Severity, Transition
from rules.rules_file import load_rules

T0 = 1_795_674_600_000


def make_series(n: int, key: str, seed: int, profile: str) -> SeriesArrays:
    """Return ``n`` one-minute pressure samples of a ``healthy`` or ``marginal`` hydrant.

    healthy: 0.30 MPa with noise and a 1-hour dip to 0.11 MPa about once a week (a fleet as it
    mostly is); marginal: a random walk around the 0.14 MPa limit (worst case: an episode or a
    tier change every few dozen samples).
    """
    rng = np.random.default_rng(seed)
    if profile == "healthy":
        values = 0.30 + rng.normal(0, 0.005, n)
        for start in rng.integers(0, max(n - 60, 1), size=max(n // 10_000, 1)):
            values[start : start + 60] = 0.11 + rng.normal(0, 0.003, min(60, n - start))
    else:
        walk = 0.16 + np.cumsum(rng.normal(0, 0.002, n))
        walk = 0.16 + (walk - 0.16) % 0.12 - 0.06  # stay within 0.10-0.22, no clipped runs
        values = walk + rng.normal(0, 0.004, n)
    ts = T0 + np.arange(n, dtype=np.int64) * 60_000
    return SeriesArrays.build(key, ts, values, np.arange(n))


def naive(
    series: SeriesArrays, state: ThresholdState, rule: Resolved[ThresholdParams]
) -> tuple[ThresholdState, list[Transition]]:
    """Evaluate the threshold rule one sample at a time (low direction), as a baseline."""
    p, out = rule.params, []
    is_open, pending, critical = state.open, state.pending_since, state.critical
    min_ms = round(p.min_duration_s * 1000)
    crit = p.critical_limit if p.critical_limit is not None else -np.inf
    detail_base = {"metric": p.metric, "direction": p.direction}
    for t, v in zip(series.ts.tolist(), series.value.tolist(), strict=True):
        bad = v < p.limit
        if not is_open:
            if not bad:
                pending = None
                continue
            if pending is None:
                pending = t
            if t - pending >= min_ms:
                critical = v < crit
                sev = Severity.CRITICAL if critical else rule.severity
                detail = {
                    **detail_base,
                    "limit": p.critical_limit if critical else p.limit,
                    "held_ms": t - pending,
                }
                out.append(Transition(series.key, rule.rule_id, t, "open", sev, v, detail))
                is_open, pending = True, None
            continue
        if v >= p.limit + p.hysteresis:
            detail = {**detail_base, "limit": p.limit, "clear_at": p.limit + p.hysteresis}
            out.append(Transition(series.key, rule.rule_id, t, "clear", rule.severity, v, detail))
            is_open, critical = False, False
            pending = t if bad else None
        elif (v < crit) != critical and (v < crit or v >= crit + p.hysteresis):
            critical = v < crit
            sev = Severity.CRITICAL if critical else rule.severity
            detail = {**detail_base, "limit": p.critical_limit if critical else p.limit}
            out.append(Transition(series.key, rule.rule_id, t, "update", sev, v, detail))
    last = int(series.ts[-1]) if len(series) else state.last_ts
    return ThresholdState(last, is_open, pending, critical), out


Evaluator = Callable[
    [SeriesArrays, ThresholdState, Resolved[ThresholdParams]],
    tuple[ThresholdState, list[Transition]],
]


def run(
    fn: Evaluator, batches: list[list[SeriesArrays]], rule: Resolved[ThresholdParams]
) -> list[Transition]:
    """Evaluate every key's batches in order and return all transitions."""
    out: list[Transition] = []
    for key_batches in batches:
        state = ThresholdState()
        for batch in key_batches:
            state, trs = fn(batch, state, rule)
            out.extend(trs)
    return out


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Return the median wall time of ``repeat`` runs and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def rounds(keys: int, per_key: int, size: int, profile: str) -> list[list[SeriesArrays]]:
    """Return engine rounds, each with ``size`` samples of each of ``keys`` devices."""
    full = [make_series(per_key, f"H{k}/pressure_mpa", k, profile) for k in range(keys)]
    idx = np.arange(per_key)
    return [[s.take((idx >= r) & (idx < r + size)) for s in full] for r in range(0, per_key, size)]


def run_rounds_each(
    rounds_: list[list[SeriesArrays]], rule: Resolved[ThresholdParams]
) -> list[Transition]:
    """Evaluate round after round, one ``evaluate`` call per key."""
    states = [ThresholdState()] * len(rounds_[0])
    out: list[Transition] = []
    for batch in rounds_:
        for k, series in enumerate(batch):
            states[k], trs = evaluate(series, states[k], rule)
            out.extend(trs)
    return out


def run_rounds_naive(
    rounds_: list[list[SeriesArrays]], rule: Resolved[ThresholdParams]
) -> list[Transition]:
    """Evaluate round after round, one naive call per key."""
    states = [ThresholdState()] * len(rounds_[0])
    out: list[Transition] = []
    for batch in rounds_:
        for k, series in enumerate(batch):
            states[k], trs = naive(series, states[k], rule)
            out.extend(trs)
    return out


def run_rounds_many(rounds_: list[ManySeries], rule: Resolved[ThresholdParams]) -> list[Transition]:
    """Evaluate round after round, one vectorised call per round for all keys, columnar state."""
    cols = ThresholdColumns.from_states([ThresholdState()] * len(rounds_[0].keys))
    out: list[Transition] = []
    for batch in rounds_:
        cols, trs = evaluate_columns(batch, cols, rule)
        out.extend(trs)
    return out


def report(name: str, total: int, t_vec: float, t_naive: float, transitions: int) -> None:
    """Print one line of results."""
    print(
        f"{name:>50}: numpy {total / t_vec:>13,.0f} readings/s | naive loop "
        f"{total / t_naive:>11,.0f} readings/s | ratio {t_naive / t_vec:5.1f}x | "
        f"{transitions:,} transitions"
    )


def main() -> None:
    """Run every shape and print readings/s for each evaluator and the ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readings", type=int, default=1_000_000)
    ap.add_argument("--keys", type=int, default=10_000, help="devices in the engine-round shape")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rule_def = load_rules().get("hydrant_municipal_low")
    assert isinstance(rule_def.params, ThresholdParams)
    rule = Resolved(rule_def.id, rule_def.kind, rule_def.severity, rule_def.params)
    n = args.readings
    print(
        f"threshold+hysteresis ({rule.rule_id}: {rule.params}), {n:,} readings per shape, "
        f"median of {args.repeat}; every shape checks numpy == naive transitions"
    )
    for profile in ("healthy", "marginal"):
        one = [[make_series(n, "H0/pressure_mpa", 1, profile)]]
        t_vec, fast = timed(partial(run, evaluate, one, rule), args.repeat)
        t_naive, slow = timed(partial(run, naive, one, rule), args.repeat)
        assert fast == slow, "vectorised and naive transitions differ"
        report(f"{profile}, 1 key x 1 batch, evaluate", n, t_vec, t_naive, len(fast))
        for keys, size in ((1000, 100), (args.keys, 1)):
            per_key = max(n // keys, size)
            single = rounds(keys, per_key, size, profile)
            many = [ManySeries.from_series(r) for r in single]
            t_naive, slow = timed(partial(run_rounds_naive, single, rule), args.repeat)
            shape = f"{profile}, {keys:,} keys x {per_key // size} rounds of {size}"
            if size > 1:  # one evaluate call per key and round, as a per-key engine would
                t_vec, fast = timed(partial(run_rounds_each, single, rule), args.repeat)
                assert fast == slow, "vectorised and naive transitions differ"
                report(f"{shape}, evaluate", keys * per_key, t_vec, t_naive, len(fast))
            t_vec, fast = timed(partial(run_rounds_many, many, rule), args.repeat)
            assert fast == slow, "vectorised and naive transitions differ"
            report(f"{shape}, columns", keys * per_key, t_vec, t_naive, len(fast))


if __name__ == "__main__":
    main()
