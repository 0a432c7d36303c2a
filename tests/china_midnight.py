"""Keep a test that reads "today" or "yesterday" in China away from China's midnight.

A scenario builds its data for the China day it starts in (yesterday's patrols, an extinguisher
reaching its scrap age today) and FireGrid judges by the China day of its own clock. A run that
starts a minute before midnight ends on the next day and sees the day change under it (seen:
``patrol`` and ``extinguisher_dates`` failing at 23:55-00:02 China time). Such a test waits for
the new day when it would otherwise straddle one; anywhere else it starts at once.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from devices.timefmt import dt_to_ms
from rules.models import cst_day, cst_day_start


def seconds_to_wait(now: datetime, margin: timedelta) -> float:
    """Return how long to wait at ``now`` so a run of up to ``margin`` stays in one China day."""
    at = dt_to_ms(now)
    left_s = (cst_day_start(cst_day(at) + 1) - at) / 1000
    return left_s + 5.0 if left_s < margin.total_seconds() else 0.0


def away_from_china_midnight(margin: timedelta) -> None:
    """Sleep past China's midnight when less than ``margin`` is left before it."""
    time.sleep(seconds_to_wait(datetime.now(UTC), margin))
