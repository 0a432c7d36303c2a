"""Threshold kind: hysteresis, minimum duration, critical tier, both directions, properties."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.exceptions import RulesError
from rules.kinds.threshold import ThresholdParams, ThresholdState, evaluate, evaluate_many
from rules.models import ManySeries, Resolved, SeriesArrays, Severity, Transition

T0 = 1_795_674_600_000  # 2026-11-26T06:30:00Z


def rule(**kw: Any) -> Resolved[ThresholdParams]:
    params: dict[str, Any] = {"metric": "pressure_mpa", "direction": "low", "limit": 0.14}
    params.update(kw)
    return Resolved("hyd_low", "threshold", Severity.WARNING, ThresholdParams(**params))


def series(values: list[float], step_s: int = 60, start: int = T0) -> SeriesArrays:
    ts = start + np.arange(len(values), dtype=np.int64) * step_s * 1000
    return SeriesArrays.build("H1/pressure_mpa", ts, values, np.arange(len(values)))


def brief(trs: list[Transition]) -> list[tuple[int, str, str, float | None]]:
    """Return (sample index at 60 s steps, kind, severity, value) for each transition."""
    return [((t.ts - T0) // 60_000, t.kind, t.severity.value, t.value) for t in trs]


def test_hysteresis_back_and_forth_does_not_flood() -> None:
    values = [0.20, 0.13, 0.145, 0.13, 0.15, 0.135, 0.17, 0.13, 0.20]
    state, trs = evaluate(series(values), ThresholdState(), rule(hysteresis=0.02))
    assert brief(trs) == [
        (1, "open", "warning", 0.13),
        (6, "clear", "warning", 0.17),
        (7, "open", "warning", 0.13),
        (8, "clear", "warning", 0.20),
    ]
    assert trs[0].detail == {
        "metric": "pressure_mpa",
        "direction": "low",
        "limit": 0.14,
        "held_ms": 0,
    }
    assert trs[1].detail["clear_at"] == pytest.approx(0.16)
    assert state == ThresholdState(last_ts=T0 + 8 * 60_000, open=False)


def test_dead_band_wandering_keeps_one_episode() -> None:
    values = [0.13] + [0.145, 0.155, 0.141, 0.159] * 50
    _, trs = evaluate(series(values), ThresholdState(), rule(hysteresis=0.02))
    assert brief(trs) == [(0, "open", "warning", 0.13)]


def test_min_duration_opens_only_after_the_condition_held() -> None:
    values = [0.20, 0.10, 0.10, 0.10, 0.10]
    _, trs = evaluate(series(values), ThresholdState(), rule(min_duration_s=120))
    assert brief(trs) == [(3, "open", "warning", 0.10)]
    assert trs[0].detail["held_ms"] == 120_000


def test_min_duration_resets_when_the_value_recovers() -> None:
    values = [0.10, 0.10, 0.15, 0.10, 0.10, 0.15]
    state, trs = evaluate(series(values), ThresholdState(), rule(min_duration_s=120))
    assert trs == []
    assert state.pending_since is None
    assert not state.open


def test_min_duration_counts_across_batches() -> None:
    r = rule(min_duration_s=120)
    state, first = evaluate(series([0.2, 0.1, 0.1]), ThresholdState(), r)
    assert first == []
    assert state.pending_since == T0 + 60_000
    state, second = evaluate(series([0.1], start=T0 + 180_000), state, r)
    assert [(t.ts - T0, t.kind) for t in second] == [(180_000, "open")]


def test_critical_tier_escalates_and_lowers_with_updates() -> None:
    values = [0.20, 0.12, 0.09, 0.11, 0.125, 0.09, 0.20]
    r = rule(critical_limit=0.10, hysteresis=0.02)
    state, trs = evaluate(series(values), ThresholdState(), r)
    assert brief(trs) == [
        (1, "open", "warning", 0.12),
        (2, "update", "critical", 0.09),
        (4, "update", "warning", 0.125),
        (5, "update", "critical", 0.09),
        (6, "clear", "warning", 0.20),
    ]
    assert not state.critical


def test_opening_below_critical_opens_critical() -> None:
    _, trs = evaluate(series([0.05, 0.06]), ThresholdState(), rule(critical_limit=0.10))
    assert brief(trs) == [(0, "open", "critical", 0.05)]


def test_high_direction_mirrors_low() -> None:
    values = [0.9, 1.1, 0.97, 1.2, 0.94]
    r = rule(direction="high", limit=1.0, hysteresis=0.05)
    _, trs = evaluate(series(values), ThresholdState(), r)
    assert brief(trs) == [(1, "open", "warning", 1.1), (4, "clear", "warning", 0.94)]
    assert trs[1].detail["clear_at"] == pytest.approx(0.95)


def test_nan_samples_decide_nothing_but_advance_time() -> None:
    state, trs = evaluate(series([0.2, float("nan")]), ThresholdState(), rule())
    assert trs == []
    assert state.last_ts == T0 + 60_000


def test_datetime64_times_are_accepted() -> None:
    ts = np.array(["2026-11-26T06:30:00", "2026-11-26T06:31:00"], dtype="datetime64[s]")
    s = SeriesArrays.build("H1/pressure_mpa", ts, [0.2, 0.1])
    _, trs = evaluate(s, ThresholdState(), rule())
    assert [t.ts for t in trs] == [T0 + 60_000]
    assert trs[0].at.isoformat() == "2026-11-26T06:31:00+00:00"


def test_a_batch_older_than_the_state_is_refused() -> None:
    state, _ = evaluate(series([0.2, 0.2]), ThresholdState(), rule())
    with pytest.raises(RulesError, match="before the last evaluated"):
        evaluate(series([0.1]), state, rule())


def test_unsorted_series_is_refused() -> None:
    with pytest.raises(RulesError, match="not in device-time order"):
        SeriesArrays.build("k", [2, 1], [0.1, 0.2])


def test_params_refuse_a_critical_limit_on_the_wrong_side() -> None:
    p = ThresholdParams("pressure_mpa", "low", 0.14, critical_limit=0.2)
    assert p.problems() == [("critical_limit", "must be at or below limit 0.14")]


# ---- properties ---------------------------------------------------------------------------

values_st = st.lists(st.floats(0.0, 0.4, allow_nan=False), min_size=1, max_size=80)
params_st: st.SearchStrategy[dict[str, Any]] = st.builds(
    dict,
    hysteresis=st.sampled_from([0.0, 0.01, 0.05]),
    min_duration_s=st.sampled_from([0, 60, 150]),
    critical_limit=st.sampled_from([None, 0.10]),
    direction=st.sampled_from(["low", "high"]),
)


@given(values=values_st, kw=params_st)
@settings(max_examples=300, deadline=None)
def test_no_hazard_while_the_value_stays_on_the_safe_side(
    values: list[float], kw: dict[str, Any]
) -> None:
    limit = 0.14
    safe = [max(v, limit) if kw["direction"] == "low" else min(v, limit) for v in values]
    if kw["direction"] == "high":
        kw["critical_limit"] = None if kw["critical_limit"] is None else 0.2
    _, trs = evaluate(series(safe), ThresholdState(), rule(limit=limit, **kw))
    assert trs == []


@given(values=values_st, kw=params_st, cuts=st.lists(st.integers(0, 80), max_size=4))
@settings(max_examples=300, deadline=None)
def test_one_open_episode_at_a_time_and_batches_do_not_matter(
    values: list[float], kw: dict[str, Any], cuts: list[int]
) -> None:
    if kw["direction"] == "high":
        kw["critical_limit"] = None if kw["critical_limit"] is None else 0.2
    r = rule(**kw)
    whole_state, whole = evaluate(series(values), ThresholdState(), r)
    # Open and clear alternate, starting with open; updates only inside an episode.
    is_open = False
    for t in whole:
        assert (t.kind == "open") == (not is_open)
        is_open = t.kind != "clear"
    assert whole_state.open == is_open
    # Any split into batches gives the same transitions and the same final state.
    bounds = sorted({c for c in cuts if 0 < c < len(values)})
    state, pieces = ThresholdState(), []
    for lo, hi in zip([0, *bounds], [*bounds, len(values)], strict=True):
        part = series(values[lo:hi], start=T0 + lo * 60_000)
        state, trs = evaluate(part, state, r)
        pieces.extend(trs)
    assert pieces == whole
    assert state == whole_state


def reference(values: list[float], p: ThresholdParams) -> list[tuple[int, str, str]]:
    """Return (index, kind, severity) from a plain per-sample reading of the module docstring."""
    sign = 1.0 if p.direction == "low" else -1.0
    limit, h = p.limit * sign, p.hysteresis
    crit = -np.inf if p.critical_limit is None else p.critical_limit * sign
    out, is_open, critical, run_start = [], False, False, None
    for i, v in enumerate(values):
        x, t = v * sign, i * 60_000
        if x < limit and run_start is None:
            run_start = t
        elif x >= limit:
            run_start = None
        if not is_open:
            if run_start is not None and t - run_start >= p.min_duration_s * 1000:
                is_open, critical = True, x < crit
                out.append((i, "open", "critical" if critical else "warning"))
        elif x >= limit + h:
            is_open, critical = False, False
            out.append((i, "clear", "warning"))
        elif (x < crit and not critical) or (x >= crit + h and critical):
            critical = not critical
            out.append((i, "update", "critical" if critical else "warning"))
    return out


@given(values=values_st, kw=params_st)
@settings(max_examples=300, deadline=None)
def test_vectorised_evaluation_equals_a_per_sample_reference(
    values: list[float], kw: dict[str, Any]
) -> None:
    if kw["direction"] == "high":
        kw["critical_limit"] = None if kw["critical_limit"] is None else 0.2
    r = rule(**kw)
    _, trs = evaluate(series(values), ThresholdState(), r)
    assert [(i, k, s) for i, k, s, _ in brief(trs)] == reference(values, r.params)


@given(
    keys=st.lists(st.lists(st.floats(0.0, 0.4), max_size=12), min_size=1, max_size=8),
    cut=st.integers(0, 12),
    kw=params_st,
)
@settings(max_examples=300, deadline=None)
def test_many_keys_in_one_call_equal_one_call_per_key(
    keys: list[list[float]], cut: int, kw: dict[str, Any]
) -> None:
    if kw["direction"] == "high":
        kw["critical_limit"] = None if kw["critical_limit"] is None else 0.2
    r = rule(**kw)
    # Two batches per key (either may be empty) so states carry pending runs and open episodes.
    firsts = [
        SeriesArrays.build(f"H{k}", T0 + np.arange(min(cut, len(v))) * 60_000, v[:cut])
        for k, v in enumerate(keys)
    ]
    seconds = [
        SeriesArrays.build(f"H{k}", T0 + np.arange(min(cut, len(v)), len(v)) * 60_000, v[cut:])
        for k, v in enumerate(keys)
    ]
    states, expected = [], []
    for s1, s2 in zip(firsts, seconds, strict=True):
        st1, tr1 = evaluate(s1, ThresholdState(), r)
        st2, tr2 = evaluate(s2, st1, r)
        states.append(st2)
        expected.append(tr1 + tr2)
    many1, got1 = evaluate_many(ManySeries.from_series(firsts), [ThresholdState()] * len(keys), r)
    many2, got2 = evaluate_many(ManySeries.from_series(seconds), many1, r)
    assert many2 == states
    by_key = {s.key: [t for t in got1 + got2 if t.key == s.key] for s in firsts}
    assert list(by_key.values()) == expected


def test_many_keys_refuse_a_key_behind_its_state() -> None:
    good, _ = evaluate(series([0.2, 0.2]), ThresholdState(), rule())
    batch = ManySeries.from_series([series([0.2], start=T0 + 60_000), series([0.1])])
    with pytest.raises(RulesError, match="before the last evaluated"):
        evaluate_many(batch, [ThresholdState(), good], rule())
