"""Reading buckets (CONTRACT §4 ``bucket=5m``, ``1h``, …): the spellings integrators send."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api.errors import ApiError
from api.routes.devices import parse_bucket


@pytest.mark.parametrize(
    ("text", "width"),
    [
        ("5m", timedelta(minutes=5)),
        ("1h", timedelta(hours=1)),
        ("30s", timedelta(seconds=30)),
        ("1d", timedelta(days=1)),
        ("1w", timedelta(weeks=1)),
        ("15min", timedelta(minutes=15)),
        ("2hours", timedelta(hours=2)),
        ("1 day", timedelta(days=1)),
        ("10sec", timedelta(seconds=10)),
        ("1H", timedelta(hours=1)),
        ("300", timedelta(seconds=300)),
        ("PT5M", timedelta(minutes=5)),
        ("PT1H30M", timedelta(minutes=90)),
        ("P1D", timedelta(days=1)),
        ("P1W", timedelta(weeks=1)),
    ],
)
def test_reasonable_bucket_spellings_are_understood(text: str, width: timedelta) -> None:
    assert parse_bucket(text) == width


@pytest.mark.parametrize("text", ["fortnight", "0m", "-5m", "5x", "", "P", "PT", "1.5h", "P1M"])
def test_unusable_buckets_are_a_400(text: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_bucket(text)
    assert (info.value.status, info.value.code) == (400, "invalid_bucket")
