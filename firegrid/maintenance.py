"""Storage upkeep for the plain-PostgreSQL path: retention by dropping whole partitions.

On TimescaleDB the retention policy created by the migration does this job, so the loop here
finds nothing to do there (``fg_partitioned_tables`` is empty on that path).
"""

from __future__ import annotations

import logging
from datetime import datetime

import psycopg

from infra.clock import SYSTEM_CLOCK, Clock
from infra.roles import ThreadRole
from ingest.partitions import drop_expired_partitions

log = logging.getLogger(__name__)


def run_retention(db_url: str, *, now: datetime) -> list[str]:
    """Drop every partition wholly past its table's retention; return their names."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        dropped = drop_expired_partitions(conn, now=now)
    if dropped:
        log.info("retention dropped %d partitions: %s", len(dropped), ", ".join(dropped))
    return dropped


class StorageMaintenance(ThreadRole):
    """The maintenance role: ``run_retention`` at start and then every ``interval_s`` seconds.

    A database error leaves it ``degraded`` and retries after ``retry_s``; anything else ends
    its thread as failed, and the supervisor replaces it.
    """

    def __init__(
        self,
        *,
        db_url: str,
        interval_s: float = 3600.0,
        retry_s: float = 60.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__("maintenance")
        self._db_url = db_url
        self._interval_s = interval_s
        self._retry_s = retry_s
        self._clock = clock

    def work(self) -> None:
        """Run one round of upkeep."""
        run_retention(self._db_url, now=self._clock.now())

    def run(self) -> None:
        """Run ``work`` every ``interval_s`` until stopped."""
        while True:
            try:
                self.work()
            except psycopg.Error as exc:  # the database may be away; try again soon
                log.warning("retention run failed: %s", exc)
                self.set_state("degraded", f"retention: {type(exc).__name__}")
                wait = min(self._retry_s, self._interval_s)
            else:
                self.set_state("running")
                wait = self._interval_s
            if self.stopping.wait(wait):
                return
