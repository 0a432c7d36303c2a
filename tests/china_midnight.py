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

CHINA = timedelta(hours=8)  # UTC+8 all year (no daylight saving)


def seconds_to_wait(now: datetime, margin: timedelta) -> float:
    """Return how long to wait at ``now`` so a run of up to ``margin`` stays in one China day."""
    china = now.astimezone(UTC) + CHINA
    midnight = (china + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    left = midnight - china
    return left.total_seconds() + 5.0 if left < margin else 0.0


def away_from_china_midnight(margin: timedelta) -> None:
    """Sleep past China's midnight when less than ``margin`` is left before it."""
    time.sleep(seconds_to_wait(datetime.now(UTC), margin))
