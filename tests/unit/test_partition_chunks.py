"""Which plain-path partitions a batch's sample times fall into."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.partitions import chunk_starts, partition_name

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.mark.parametrize("year", [1969, 2026, 2099, 2999])
def test_a_day_starts_at_midnight_utc_and_its_last_microsecond_stays_in_it(year: int) -> None:
    midnight = datetime(year, 11, 26, tzinfo=UTC)
    times = [midnight, midnight + DAY - timedelta(microseconds=1), midnight + DAY]
    assert chunk_starts(times, DAY) == {midnight, midnight + DAY}
    assert partition_name("readings", midnight) == f"readings_p{year}11260000"


@given(
    st.lists(
        st.datetimes(
            min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        ),
        max_size=50,
    ),
    st.sampled_from([timedelta(hours=1), timedelta(hours=6), DAY, 7 * DAY]),
)
def test_every_time_lies_in_exactly_its_chunk(times: list[datetime], chunk: timedelta) -> None:
    starts = chunk_starts(times, chunk)
    for ts in times:
        owning = [s for s in starts if s <= ts < s + chunk]
        assert len(owning) == 1
        assert (owning[0] - EPOCH) % chunk == timedelta(0)
    assert len(starts) <= len(times)
