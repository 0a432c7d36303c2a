"""Token buckets per key, in this process's memory: the public endpoints' rate limits.

Each key (a client address, a device fingerprint) has a bucket of ``burst`` tokens refilled at
``per_hour`` an hour; a request takes one or is told how long until one is there. The buckets
live in one process: behind several API processes each counts on its own, so the effective
limit is the configured one times the processes (documented in CONTRACT-EXTENSIONS). Time comes
from the caller (the app's clock), so tests move it instead of sleeping.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Bucket", "RateLimiter"]

# A token is there at 1.0 less float noise: the wait said is then always enough.
_EPS = 1e-9
_ONE = 1.0 - _EPS


@dataclass(slots=True)
class Bucket:
    """Tokens left at ``at``."""

    tokens: float
    at: datetime


class RateLimiter:
    """Buckets of ``burst`` tokens refilled at ``per_hour`` a hour, one per key.

    ``max_keys`` bounds the memory a flood of distinct keys can take: when full, buckets that
    have refilled completely (they hold nothing a new bucket would not) are dropped first,
    then the oldest.
    """

    def __init__(self, *, burst: int, per_hour: float, max_keys: int = 100_000) -> None:
        if burst < 1 or per_hour <= 0:
            raise ValueError("a rate limit needs burst >= 1 and per_hour > 0")
        self.burst = burst
        self.rate_s = per_hour / 3600.0
        self.max_keys = max_keys
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()  # routes run in worker threads

    def _level(self, bucket: Bucket, now: datetime) -> float:
        elapsed = max(0.0, (now - bucket.at).total_seconds())  # a clock stepping back refills 0
        return min(float(self.burst), bucket.tokens + elapsed * self.rate_s)

    def wait_s(self, key: str, now: datetime) -> int:
        """Return 0 if ``key`` may go now, else the whole seconds until it may; take nothing."""
        with self._lock:
            bucket = self._buckets.get(key)
            level = self.burst if bucket is None else self._level(bucket, now)
        return 0 if level >= _ONE else self._seconds_to_one(level)

    def _seconds_to_one(self, level: float) -> int:
        # Whole seconds, rounded up; the epsilon keeps 1.0000000001 (float noise) from being 2.
        return max(1, math.ceil((1.0 - level) / self.rate_s - _EPS))

    def take(self, key: str, now: datetime) -> int:
        """Take a token for ``key``: return 0, or the whole seconds to wait (nothing taken)."""
        with self._lock:
            bucket = self._buckets.get(key)
            level = float(self.burst) if bucket is None else self._level(bucket, now)
            if level < _ONE:
                return self._seconds_to_one(level)
            if bucket is None:
                self._make_room(now)
                self._buckets[key] = Bucket(max(0.0, level - 1.0), now)
            else:
                bucket.tokens, bucket.at = max(0.0, level - 1.0), now
            return 0

    def _make_room(self, now: datetime) -> None:
        if len(self._buckets) < self.max_keys:
            return
        full = [k for k, b in self._buckets.items() if self._level(b, now) >= self.burst]
        for k in full:
            del self._buckets[k]
        while len(self._buckets) >= self.max_keys:
            del self._buckets[next(iter(self._buckets))]  # dicts keep insertion order

    def __len__(self) -> int:
        """Return how many keys have a bucket."""
        return len(self._buckets)
