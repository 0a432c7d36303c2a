"""`--expires`: a duration from now or an ISO time with its offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.tokens import parse_expiry

NOW = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)


@given(st.integers(1, 999), st.sampled_from([("m", 60), ("h", 3600), ("d", 86400)]))
def test_durations_count_from_now(n: int, unit: tuple[str, int]) -> None:
    assert parse_expiry(f"{n}{unit[0]}", now=NOW) == NOW + timedelta(seconds=n * unit[1])


def test_iso_times_need_an_offset_and_a_future() -> None:
    assert parse_expiry("2027-01-01T00:00:00+08:00", now=NOW) == datetime(
        2026, 12, 31, 16, tzinfo=UTC
    )
    for text in ("2027-01-01T00:00:00", "2020-01-01T00:00:00Z", "0d", "7w", "soon", "-1d"):
        with pytest.raises(ValueError):
            parse_expiry(text, now=NOW)
