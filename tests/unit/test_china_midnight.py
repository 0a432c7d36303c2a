"""The wait that keeps day-bound tests inside one China day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.china_midnight import seconds_to_wait

FIVE_MIN = timedelta(minutes=5)


def test_far_from_midnight_no_wait() -> None:
    assert seconds_to_wait(datetime(2026, 12, 7, 3, 0, tzinfo=UTC), FIVE_MIN) == 0.0  # 11:00


def test_just_before_china_midnight_waits_past_it() -> None:
    # 15:57 UTC is 23:57 in China: three minutes, and five seconds over.
    assert seconds_to_wait(datetime(2026, 12, 7, 15, 57, tzinfo=UTC), FIVE_MIN) == 185.0


def test_just_after_china_midnight_no_wait() -> None:
    assert seconds_to_wait(datetime(2026, 12, 7, 16, 0, 30, tzinfo=UTC), FIVE_MIN) == 0.0
