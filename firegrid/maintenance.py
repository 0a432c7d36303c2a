"""Storage upkeep: retention of the time series and of the records kept beside them.

Time series, plain-PostgreSQL path: whole partitions past their table's retention are dropped
(on TimescaleDB the retention policy the migration created does it, and
``fg_partitioned_tables`` is empty there). Records, both paths: rejected messages, ingest
conflicts, processed ingest batch records and the events of long-cleared hazards are deleted
past their retention (``ingest.config.RetentionSettings``) in chunks of ``chunk_rows``, each
its own short transaction, so a large backlog never holds locks or an old snapshot for long.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

import psycopg

from infra.clock import SYSTEM_CLOCK, Clock
from infra.database import Conn
from infra.eventlog import prune
from infra.roles import ThreadRole
from ingest.config import RetentionSettings
from ingest.partitions import drop_expired_partitions
from rules.engine.service import processed

log = logging.getLogger(__name__)

# Each statement deletes at most %(n)s rows older than %(cutoff)s, oldest first, found through
# an index on its time column (m0001, m0009).
_PRUNE: Final[dict[str, str]] = {
    "rejected_messages": """
        DELETE FROM rejected_messages WHERE id IN (
            SELECT id FROM rejected_messages WHERE received_at < %(cutoff)s
            ORDER BY received_at LIMIT %(n)s)
    """,
    "ingest_conflicts": """
        DELETE FROM ingest_conflicts WHERE id IN (
            SELECT id FROM ingest_conflicts WHERE received_at < %(cutoff)s
            ORDER BY received_at LIMIT %(n)s)
    """,
    # Only batches the rules have evaluated: a pending one is work still to do, however old.
    "ingest_batches": f"""
        DELETE FROM ingest_batches WHERE batch_id IN (
            SELECT b.batch_id FROM ingest_batches b
            WHERE b.committed_at < %(cutoff)s AND {processed("b")}
            ORDER BY b.committed_at LIMIT %(n)s)
    """,
    # The history of a hazard goes once it has been cleared (updated_at: when it was) longer
    # than the retention; the hazard row itself stays, with its final state.
    "hazard_events": """
        DELETE FROM hazard_events WHERE id IN (
            SELECT e.id FROM hazard_events e JOIN hazards h ON h.id = e.hazard_id
            WHERE e.at < %(cutoff)s AND h.status = 'cleared' AND h.updated_at < %(cutoff)s
            ORDER BY e.at LIMIT %(n)s)
    """,
}


def _keep(settings: RetentionSettings) -> dict[str, timedelta]:
    return {
        "rejected_messages": settings.rejected,
        "ingest_conflicts": settings.conflicts,
        "ingest_batches": settings.batches,
        "hazard_events": settings.hazard_history,
    }


def prune_records(
    conn: Conn,
    *,
    now: datetime,
    settings: RetentionSettings,
    stop: Callable[[], bool] = lambda: False,
) -> dict[str, int]:
    """Delete records past their retention in bounded chunks; return the count per table.

    ``conn`` must be in autocommit mode: each chunk commits on its own. ``stop`` is asked
    between chunks, so shutdown does not wait for a long backlog.
    """
    deleted: dict[str, int] = {}
    for table, keep in _keep(settings).items():
        total = 0
        while not stop():
            cur = conn.execute(_PRUNE[table], {"cutoff": now - keep, "n": settings.chunk_rows})
            total += cur.rowcount
            if cur.rowcount < settings.chunk_rows:
                break
        deleted[table] = total
    # The event log keeps what some consumer has not passed yet, and what a console may still
    # resume from (Last-Event-ID): entries younger than the event-log retention.
    total = 0
    while not stop():
        n = prune(conn, keep_after=now - settings.event_log, limit=settings.chunk_rows)
        total += n
        if n < settings.chunk_rows:
            break
    deleted["event_log"] = total
    return deleted


def run_retention(db_url: str, *, now: datetime) -> list[str]:
    """Drop every partition wholly past its table's retention; return their names."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        dropped = drop_expired_partitions(conn, now=now)
    if dropped:
        log.info("retention dropped %d partitions: %s", len(dropped), ", ".join(dropped))
    return dropped


class StorageMaintenance(ThreadRole):
    """The maintenance role: retention of partitions and records at start and every ``interval_s``.

    A database error leaves it ``degraded`` and retries after ``retry_s``; anything else ends
    its thread as failed, and the supervisor replaces it.
    """

    def __init__(
        self,
        *,
        db_url: str,
        interval_s: float = 3600.0,
        retry_s: float = 60.0,
        retention: RetentionSettings | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__("maintenance")
        self._db_url = db_url
        self._interval_s = interval_s
        self._retry_s = retry_s
        self._retention = retention or RetentionSettings()
        self._clock = clock

    def work(self) -> None:
        """Run one round of upkeep."""
        self.run_once()

    def run_once(self) -> dict[str, int]:
        """Apply every retention now; return the records deleted per table."""
        now = self._clock.now()
        run_retention(self._db_url, now=now)
        with psycopg.connect(self._db_url, autocommit=True) as conn:
            deleted = prune_records(
                conn, now=now, settings=self._retention, stop=self.stopping.is_set
            )
        if any(deleted.values()):
            log.info(
                "retention deleted %s",
                ", ".join(f"{n} from {table}" for table, n in deleted.items() if n),
            )
        return deleted

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
