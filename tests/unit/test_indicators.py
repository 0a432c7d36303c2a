"""The indicators' pure part: rates, the composite score and its weights (Hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from devices.timefmt import dt_to_ms
from dispatch.config import IndicatorWeights
from dispatch.indicator_service import china_days, patrol_params_of
from dispatch.indicators import Counts, indicator, ratio, score
from rules.models import cst_day_start
from rules.rules_file import load_rules, parse_rules

W = IndicatorWeights()


@st.composite
def counts(draw: st.DrawFn) -> Counts:
    due = draw(st.integers(0, 1000))
    closed = draw(st.integers(0, due))
    required = draw(st.none() | st.integers(0, 100))
    return Counts(
        due=due,
        closed=closed,
        closed_on_time=draw(st.integers(0, closed)),
        signed_on_time=draw(st.integers(0, due)),
        rework=draw(st.integers(0, closed)),
        patrols_done=None if required is None else draw(st.integers(0, 300)),
        patrols_required=required,
        rating_mean=draw(st.none() | st.floats(1, 5)),
    )


weights = st.builds(
    IndicatorWeights,
    closure=st.floats(0, 100),
    on_time=st.floats(0, 100),
    signed_on_time=st.floats(0, 100),
    no_rework=st.floats(0, 100),
    patrols=st.floats(0, 100),
    rating=st.floats(0, 100),
)


@given(counts(), weights)
def test_the_score_is_out_of_100(c: Counts, w: IndicatorWeights) -> None:
    s = score(c, w)
    assert s is None or 0 <= s <= 100


@given(counts(), st.floats(0.01, 100))
def test_only_the_weights_proportions_matter(c: Counts, k: float) -> None:
    scaled = IndicatorWeights(**{f: v * k for f, v in W.model_dump().items()})
    a, b = score(c, W), score(c, scaled)
    assert (a is None) == (b is None)
    assert a is None or b is None or abs(a - b) <= 0.1  # rounding to 0.1 may differ


def test_a_perfect_record_scores_100_and_nothing_scores_nothing() -> None:
    perfect = Counts(
        due=4,
        closed=4,
        closed_on_time=4,
        signed_on_time=4,
        patrols_done=9,
        patrols_required=8,
        rating_mean=5.0,
    )
    assert score(perfect, W) == 100.0
    assert score(Counts(), W) is None  # nothing due, no patrols owed, no rating
    assert score(Counts(due=2), W) == 0.0  # due and left undone


def test_rates_have_null_for_a_zero_denominator() -> None:
    assert ratio(1, 0) is None
    item = indicator("grid", "g", Counts(due=4, closed=2, closed_on_time=1, rework=1), W)
    assert (item.closure_rate, item.on_time_rate, item.rework_rate) == (0.5, 0.25, 0.5)
    assert indicator("grid", "g", Counts(), W).rework_rate is None


def test_patrol_params_come_from_the_rules_file() -> None:
    shipped = patrol_params_of(load_rules())
    assert (shipped.min_patrols, shipped.min_duration_s) == (2, 3600)
    local = parse_rules(
        "version: 1\nrules:\n  - id: grid_patrol\n    kind: patrol_compliance\n"
        "    severity: warning\n    applies_to: {device_kind: terminal}\n"
        "    params: {min_patrols: 3, min_duration_s: 1800}\n"
    )
    assert (patrol_params_of(local).min_patrols, patrol_params_of(local).min_duration_s) == (
        3,
        1800,
    )


@given(
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
    st.integers(1, 40 * 86_400_000),
)
def test_patrol_days_are_the_china_days_starting_in_the_period(start: datetime, ms: int) -> None:
    end = start + timedelta(milliseconds=ms)
    days = china_days(start, end)
    lo, hi = dt_to_ms(start), dt_to_ms(end)
    assert all(lo <= cst_day_start(d) < hi for d in days)
    # the days just outside start before the period or at or after its end
    assert cst_day_start(days.start - 1) < lo
    assert cst_day_start(days.stop) >= hi


def test_a_china_day_is_counted_when_it_starts_in_the_period() -> None:
    midnight_cst = datetime(2026, 11, 26, 16, 0, tzinfo=UTC)
    assert len(china_days(midnight_cst, midnight_cst + timedelta(days=1))) == 1
    assert len(china_days(midnight_cst + timedelta(hours=1), midnight_cst + timedelta(days=1))) == 0
    assert len(china_days(midnight_cst - timedelta(hours=1), midnight_cst + timedelta(days=7))) == 7
