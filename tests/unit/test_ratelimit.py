"""The public endpoints' token buckets, pure: a burst, a steady rate, an exact wait."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.ratelimit import RateLimiter

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def test_a_burst_then_one_per_interval_with_the_wait_said() -> None:
    limiter = RateLimiter(burst=2, per_hour=60)  # one a minute
    assert [limiter.take("a", T0) for _ in range(3)] == [0, 0, 60]
    assert limiter.take("b", T0) == 0  # keys are independent
    assert limiter.wait_s("a", T0 + timedelta(seconds=30)) == 30
    assert limiter.take("a", T0 + timedelta(seconds=59)) == 1
    assert limiter.take("a", T0 + timedelta(seconds=60)) == 0


def test_asking_takes_nothing_and_a_clock_stepping_back_refills_nothing() -> None:
    limiter = RateLimiter(burst=1, per_hour=1)
    assert limiter.wait_s("a", T0) == 0
    assert limiter.take("a", T0) == 0
    assert limiter.take("a", T0 - timedelta(hours=5)) == 3600


def test_many_keys_stay_bounded() -> None:
    limiter = RateLimiter(burst=1, per_hour=3600, max_keys=10)
    for i in range(100):
        limiter.take(f"k{i}", T0 + timedelta(seconds=i))
    assert len(limiter) <= 10


def test_settings_that_admit_nothing_are_refused() -> None:
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(burst=0, per_hour=1)


@given(
    burst=st.integers(1, 5),
    per_hour=st.floats(1, 3600),
    gaps=st.lists(st.floats(0, 600), min_size=1, max_size=60),
)
def test_never_more_than_the_burst_plus_the_rate(
    burst: int, per_hour: float, gaps: list[float]
) -> None:
    limiter = RateLimiter(burst=burst, per_hour=per_hour)
    now, admitted = T0, 0
    for gap in gaps:
        now += timedelta(seconds=gap)
        wait = limiter.take("k", now)
        if wait == 0:
            admitted += 1
        else:
            # The wait is enough and not much more: admitted then, refused a second before.
            assert limiter.take("k", now + timedelta(seconds=wait)) == 0
            admitted += 1
            now += timedelta(seconds=wait)
    elapsed = (now - T0).total_seconds()
    assert admitted <= burst + elapsed * per_hour / 3600 + 1e-6
