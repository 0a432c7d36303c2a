"""The engine's many-key sudden drop against the kind's own per-key evaluate."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.engine.columns import drop_many, key_slice, select, take_rows
from rules.kinds.sudden_drop import SuddenDropParams, SuddenDropState, evaluate
from rules.models import ManySeries, Resolved, SeriesArrays, Severity

RULE = Resolved(
    "drop",
    "sudden_drop",
    Severity.MAJOR,
    SuddenDropParams("pressure_mpa", drop_pct=30.0, window_s=300.0, min_reference=0.05),
)

values = st.one_of(st.floats(0.0, 1.0), st.just(float("nan")), st.sampled_from([0.3, 0.2, 0.6]))
key_batches = st.lists(
    st.lists(st.tuples(st.integers(0, 400), values), max_size=20), min_size=1, max_size=6
)


def _many(keys: list[list[tuple[int, float]]], t0: list[int]) -> ManySeries:
    series = []
    for k, points in enumerate(keys):
        ts = np.cumsum([t * 1000 for t, _ in points]).astype(np.int64) + t0[k]
        series.append(SeriesArrays.build(f"D{k}/pressure_mpa", ts, [v for _, v in points]))
    return ManySeries.from_series(series)


@settings(max_examples=300, deadline=None)
@given(first=key_batches, second=key_batches)
def test_drop_many_equals_per_key_evaluate(
    first: list[list[tuple[int, float]]], second: list[list[tuple[int, float]]]
) -> None:
    n = min(len(first), len(second))
    states = [SuddenDropState() for _ in range(n)]
    ends = [0] * n
    for batch in (first[:n], second[:n]):
        many = _many(batch, ends)
        got_states, got_trs = drop_many(many, states, RULE)
        for k in range(n):
            want_state, want_trs = evaluate(key_slice(many, k), states[k], RULE)
            assert got_states[k] == want_state
            assert got_trs[k] == want_trs
        states = got_states
        ends = [
            int(many.ts[many.offsets[k + 1] - 1]) + 1
            if many.offsets[k + 1] > many.offsets[k]
            else ends[k]
            for k in range(n)
        ]


def test_select_and_take_rows_keep_key_order_and_samples() -> None:
    many = _many([[(0, 0.1), (60, 0.2)], [(0, 0.3)], [(0, 0.4), (60, 0.5)]], [0, 0, 0])
    picked = take_rows(many, [2, 0])
    assert picked.keys == ("D2/pressure_mpa", "D0/pressure_mpa")
    assert picked.value.tolist() == [0.4, 0.5, 0.1, 0.2]
    rows = np.array([True, False, True, True, False])
    kept = select(many, rows, np.array([True, False, True]))
    assert kept.keys == ("D0/pressure_mpa", "D2/pressure_mpa")
    assert kept.offsets.tolist() == [0, 1, 2]
    assert kept.value.tolist() == [0.1, 0.4]
