"""Sudden-drop kind: drop against the window maximum, recovery, batches, window maxima."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.kinds.sudden_drop import SuddenDropParams, SuddenDropState, evaluate, window_max
from rules.models import Resolved, SeriesArrays, Severity

T0 = 1_795_674_600_000  # 2026-11-26T06:30:00Z
RULE = Resolved(
    "hyd_drop",
    "sudden_drop",
    Severity.MAJOR,
    SuddenDropParams("pressure_mpa", drop_pct=30, window_s=300, min_reference=0.05),
)


def series(values: list[float], step_s: int = 60, start: int = T0) -> SeriesArrays:
    ts = start + np.arange(len(values), dtype=np.int64) * step_s * 1000
    return SeriesArrays.build("H1/pressure_mpa", ts, values)


def test_a_30_percent_drop_within_5_minutes_opens_and_recovery_clears() -> None:
    values = [0.50, 0.50, 0.45, 0.35, 0.30, 0.40, 0.46, 0.50]
    state, trs = evaluate(series(values), SuddenDropState(), RULE)
    assert [((t.ts - T0) // 60_000, t.kind, t.value) for t in trs] == [
        (3, "open", 0.35),
        (6, "clear", 0.46),
    ]
    assert trs[0].detail == {
        "metric": "pressure_mpa",
        "reference": 0.5,
        "window_s": 300,
        "drop_pct": 30.0,
    }
    assert not state.open


def test_a_slow_decline_is_not_a_sudden_drop() -> None:
    # -10 % per 3 minutes: never 30 % below the maximum of the last 5 minutes.
    values = [0.5 * 0.9**i for i in range(12)]
    _, trs = evaluate(series(values, step_s=180), SuddenDropState(), RULE)
    assert trs == []


def test_the_window_spans_batches() -> None:
    state, first = evaluate(series([0.50, 0.50]), SuddenDropState(), RULE)
    assert first == []
    assert state.tail == ((T0 + 60_000, 0.5),)
    state, second = evaluate(series([0.34], start=T0 + 240_000), state, RULE)
    assert [(t.kind, t.detail["reference"]) for t in second] == [("open", 0.5)]
    state, third = evaluate(series([0.34], start=T0 + 3_600_000), state, RULE)
    assert third == []
    assert state.open


def test_an_empty_main_does_not_drop() -> None:
    _, trs = evaluate(series([0.04, 0.0]), SuddenDropState(), RULE)
    assert trs == []


@given(
    gaps=st.lists(st.integers(1, 200), min_size=1, max_size=60),
    values=st.lists(st.floats(0, 1, allow_nan=False), min_size=60, max_size=60),
    window=st.integers(1, 500),
)
@settings(max_examples=200, deadline=None)
def test_window_max_matches_brute_force(gaps: list[int], values: list[float], window: int) -> None:
    ts = np.cumsum(np.asarray(gaps, np.int64))
    x = np.asarray(values[: ts.size])
    expected = [max(x[(ts >= t - window) & (ts <= t)]) for t in ts]
    assert window_max(ts, x, window).tolist() == expected


@given(
    values=st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=60),
    cuts=st.lists(st.integers(1, 59), max_size=4),
)
@settings(max_examples=300, deadline=None)
def test_episodes_alternate_and_batches_do_not_matter(values: list[float], cuts: list[int]) -> None:
    whole_state, whole = evaluate(series(values), SuddenDropState(), RULE)
    assert [t.kind for t in whole] == ["open", "clear"] * (len(whole) // 2) + ["open"] * (
        len(whole) % 2
    )
    bounds = sorted({c for c in cuts if c < len(values)})
    state, pieces = SuddenDropState(), []
    for lo, hi in zip([0, *bounds], [*bounds, len(values)], strict=True):
        state, trs = evaluate(series(values[lo:hi], start=T0 + lo * 60_000), state, RULE)
        pieces.extend(trs)
    assert pieces == whole
    assert (state.open, state.reference) == (whole_state.open, whole_state.reference)
