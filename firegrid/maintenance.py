"""Storage upkeep for the plain-PostgreSQL path: retention by dropping whole partitions.

On TimescaleDB the retention policy created by the migration does this job, so the loop here
finds nothing to do there (``fg_partitioned_tables`` is empty on that path).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import psycopg

from ingest.partitions import drop_expired_partitions

log = logging.getLogger(__name__)


def run_retention(db_url: str, *, now: datetime) -> list[str]:
    """Drop every partition wholly past its table's retention; return their names."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        dropped = drop_expired_partitions(conn, now=now)
    if dropped:
        log.info("retention dropped %d partitions: %s", len(dropped), ", ".join(dropped))
    return dropped


class StorageMaintenance:
    """Runs ``run_retention`` at start and then every ``interval_s`` seconds."""

    def __init__(self, *, db_url: str, interval_s: float = 3600.0) -> None:
        self._db_url = db_url
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="storage-maintenance", daemon=True)

    def start(self) -> None:
        """Start the loop."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop."""
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while True:
            try:
                run_retention(self._db_url, now=datetime.now(UTC))
            except psycopg.Error as exc:  # the database may be away; try again next round
                log.warning("retention run failed: %s", exc)
            if self._stop.wait(self._interval_s):
                return
