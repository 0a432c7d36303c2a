"""Batches to the database: decode, store, isolate what it refuses, retry while it is away.

``BatchWriter`` is what the ingest role's threads (``ingest.role``) call: ``decode_ahead``
while the previous batch commits, then ``commit_ahead``; ``write`` does both in one call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from devices.service import known_device_ids, known_terminal_ids
from infra.database import Conn
from ingest import metrics
from ingest.config import IngestSettings, StorageSettings
from ingest.exceptions import PhotoStoreError, TopicError
from ingest.models import InboundMessage, PreparedBatch, Rejection
from ingest.partitions import chunk_starts, ensure_partitions, existing_partitions
from ingest.prepare import prepare_batch, route_all, senders
from ingest.service import WriteResult, store_rejections, write_batch
from ingest.terminals.decode import FixCache, FixChain
from ingest.terminals.store import store_photo_files
from ingest.topics import DEVICE_KINDS, Route, TopicKind

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# Errors that say the database could not be reached or went away: wait and retry the batch.
# Anything else the database raises is about the data: isolate the message that causes it.
# A photo that cannot be written to disk is retried the same way: the disk may come back.
TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError, PhotoStoreError)

PARTITIONED_TABLES = ("readings", "device_events", "fixes")


@dataclass(frozen=True, slots=True)
class DecodedAhead:
    """A batch taken from the buffer, decoded ahead of its commit when it could be."""

    messages: Sequence[InboundMessage]
    routes: Sequence[Route | TopicError]
    batch: PreparedBatch | None  # None: decoded at commit time (it needs the database)


class KnownSenders:
    """Registry membership of senders, cached once found.

    A miss is asked of the database on every batch it occurs in (one query for all misses), so a
    device imported while ingest runs is accepted from its very next message.
    """

    def __init__(self) -> None:
        self.devices: set[str] = set()
        self.terminals: set[str] = set()

    def resolve(self, conn: Conn, *, devices: set[str], terminals: set[str]) -> None:
        """Look up the senders not yet known."""
        missing = devices - self.devices
        if missing:
            self.devices |= known_device_ids(conn, ids=sorted(missing))
        missing = terminals - self.terminals
        if missing:
            self.terminals |= known_terminal_ids(conn, ids=sorted(missing))


class BatchWriter:
    """Writes batches to PostgreSQL; retries while the database is away, never drops."""

    def __init__(
        self,
        *,
        db_url: str,
        settings: IngestSettings,
        storage: StorageSettings,
        data_dir: Path | None = None,
    ) -> None:
        self._db_url = db_url
        self._settings = settings
        self._storage = storage
        self._policy = settings.codec_policy()
        # Photos are accepted only with somewhere to keep them (Settings.data_dir).
        self._data_dir = data_dir
        self._fixes = FixCache()
        self._conn: Conn | None = None
        self._partitions: set[str] | None = None
        self._timescale = False
        self._known = KnownSenders()
        self.stopping = threading.Event()

    def _connection(self) -> Conn:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._db_url, autocommit=True)
            row = self._conn.execute(
                "SELECT timescale FROM fg_schema_version ORDER BY version LIMIT 1"
            ).fetchone()
            self._timescale = bool(row and row[0])
            self._partitions = None
        return self._conn

    def close(self) -> None:
        """Close the database connection."""
        if self._conn is not None:
            self._conn.close()

    def write(self, messages: Sequence[InboundMessage]) -> list[WriteResult]:
        """Store ``messages`` durably, retrying until the database takes them."""
        routes = route_all(messages, prefix=self._settings.topic_prefix)
        return self._retrying(lambda: self._write_isolating(messages, routes))

    def reject(self, rejections: Sequence[Rejection]) -> None:
        """Store rejections decided before decoding (the GB/T 26875 gateway's), as patiently.

        One transaction; counted in ``firegrid_ingest_rejected`` like the decoders' verdicts.
        """
        if not rejections:
            return

        self._retrying(lambda: store_rejections(self._connection(), rejections=list(rejections)))
        for rejection in rejections:
            metrics.REJECTED.labels(rejection.reason).inc()

    def read(self, query: Callable[[Conn], _T]) -> _T:
        """Run ``query`` on the writer's connection, retrying while the database is away."""
        return self._retrying(lambda: query(self._connection()))

    def _retrying(self, attempt: Callable[[], _T]) -> _T:
        """Run ``attempt`` until the database takes it, backing off while it is away."""
        delay = 0.1
        while True:
            try:
                return attempt()
            except TRANSIENT as exc:
                metrics.DB_RETRIES.inc()
                if self._conn is not None:
                    self._conn.close()
                if self.stopping.is_set():
                    raise
                log.warning(
                    "database unavailable (%s); retrying the batch in %.1fs",
                    str(exc).strip().splitlines()[0] if str(exc) else exc,
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, self._settings.retry_backoff_max.total_seconds())

    def decode_ahead(self, messages: Sequence[InboundMessage]) -> DecodedAhead:
        """Decode ``messages`` without the database, when nothing in them needs it.

        Runs while the previous batch commits. Only batches from devices already known to be
        registered qualify: an unknown sender is looked up in the database, and terminal
        messages depend on the fixes the previous batch stores (the NMEA speed check), so
        those batches are left (``batch`` None) for ``commit_ahead`` to do in full, in order.
        """
        routes = route_all(messages, prefix=self._settings.topic_prefix)
        known = self._known.devices
        for route in routes:
            if isinstance(route, Route) and (
                route.kind not in DEVICE_KINDS or route.sender_id not in known
            ):
                return DecodedAhead(messages, routes, None)
        batch = prepare_batch(
            messages,
            routes,
            known_devices=known,
            known_terminals=(),
            policy=self._policy,
            max_payload_bytes=self._settings.max_payload_bytes,
            oversize_keep_bytes=self._settings.oversize_keep_bytes,
        )
        return DecodedAhead(messages, routes, batch)

    def commit_ahead(self, work: DecodedAhead) -> list[WriteResult]:
        """Store a batch ``decode_ahead`` prepared, as durably and patiently as ``write``."""
        if work.batch is None:
            return self.write(work.messages)
        return self._retrying(lambda: self._commit_decoded(work))

    def _commit_decoded(self, work: DecodedAhead) -> list[WriteResult]:
        assert work.batch is not None
        conn = self._connection()
        self._ensure_partitions(conn, work.batch)
        started = time.perf_counter()
        try:
            result = write_batch(
                conn, batch=work.batch, fix_window=self._settings.terminals.report_fix_window
            )
        except TRANSIENT:
            raise
        except psycopg.Error:
            # The database refused something: find and reject it the long way, by bisecting.
            return self._write_isolating(work.messages, work.routes)
        _record_metrics(work.batch, result, time.perf_counter() - started)
        return [result]

    def _write_isolating(
        self, messages: Sequence[InboundMessage], routes: Sequence[Any]
    ) -> list[WriteResult]:
        conn = self._connection()
        devices, terminals = senders(routes)
        self._known.resolve(conn, devices=devices, terminals=terminals)
        tracked = {
            r.sender_id
            for r in routes
            if isinstance(r, Route) and r.kind is TopicKind.NMEA and r.sender_id in terminals
        } & self._known.terminals
        self._fixes.load(conn, terminal_ids=tracked)
        batch = prepare_batch(
            messages,
            routes,
            known_devices=self._known.devices,
            known_terminals=self._known.terminals,
            policy=self._policy,
            max_payload_bytes=self._settings.max_payload_bytes,
            oversize_keep_bytes=self._settings.oversize_keep_bytes,
            fixes=FixChain(self._fixes.snapshot(tracked)),
            photos=self._data_dir is not None,
        )
        self._ensure_partitions(conn, batch)
        if batch.photos and self._data_dir is not None:
            # Bytes first, durably: a committed metadata row must never point at nothing.
            store_photo_files(self._data_dir, (p for p, _ in batch.photos))
        started = time.perf_counter()
        try:
            result = write_batch(
                conn, batch=batch, fix_window=self._settings.terminals.report_fix_window
            )
        except TRANSIENT:
            raise
        except psycopg.Error as exc:
            # The database refused something in this batch (say a text it cannot store). Split
            # the batch until the message responsible is alone, and store that one as rejected.
            if len(messages) == 1:
                self._reject_unstorable(conn, messages[0], exc)
                return []
            half = len(messages) // 2
            return self._write_isolating(messages[:half], routes[:half]) + self._write_isolating(
                messages[half:], routes[half:]
            )
        self._fixes.update(f for f, _ in batch.fixes)
        _record_metrics(batch, result, time.perf_counter() - started)
        return [result]

    def _reject_unstorable(self, conn: Conn, message: InboundMessage, exc: psycopg.Error) -> None:
        reason = "storage_error"
        detail = f"{type(exc).__name__}: {str(exc).strip()}"[:2000]
        store_rejections(
            conn,
            rejections=[
                Rejection(message.received_at, message.topic, reason, detail, message.payload)
            ],
        )
        metrics.REJECTED.labels(reason).inc()
        log.warning("message on %s refused by the database: %s", message.topic, detail)

    def _ensure_partitions(self, conn: Conn, batch: PreparedBatch) -> None:
        if self._timescale:
            return  # TimescaleDB makes its own chunks
        chunk = self._storage.chunk_interval
        if self._partitions is None:
            self._partitions = set()
            for table in PARTITIONED_TABLES:
                self._partitions |= existing_partitions(conn, table=table)
        for table, times in (
            ("readings", (r.ts for r, _ in batch.readings)),
            ("device_events", (e.ts for e, _ in batch.events)),
            ("fixes", (f.ts for f, _ in batch.fixes)),
        ):
            needed = {
                s
                for s in chunk_starts(times, chunk)
                if f"{table}_p{s:%Y%m%d%H%M}" not in self._partitions
            }
            if needed:
                ensure_partitions(conn, table=table, starts=needed, chunk=chunk)
                self._partitions |= {f"{table}_p{s:%Y%m%d%H%M}" for s in needed}


def _record_metrics(batch: PreparedBatch, result: WriteResult, seconds: float) -> None:
    metrics.MESSAGES_RECEIVED.inc(batch.messages)
    metrics.MESSAGES_ACCEPTED.inc(batch.accepted_messages)
    for reason, count in batch.rejected_reasons.items():
        metrics.REJECTED.labels(reason).inc(count)
    for reason in result.late_rejections:
        metrics.REJECTED.labels(reason).inc()
    for outcome, count in batch.nmea_counts.items():
        metrics.NMEA_SENTENCES.labels(outcome).inc(count)
    metrics.READINGS.inc(result.readings)
    metrics.EVENTS.inc(result.events)
    metrics.FIXES.inc(result.fixes)
    metrics.REPORTS.inc(result.reports)
    metrics.PHOTOS.inc(result.photos)
    metrics.DUPLICATES.inc(result.duplicates)
    metrics.CONFLICTS.inc(result.conflicts)
    metrics.UNKNOWN_METRICS.inc(batch.unknown_metrics)
    metrics.BATCH_MESSAGES.observe(batch.messages)
    metrics.BATCH_ROWS.observe(batch.rows)
    metrics.COMMIT_SECONDS.observe(seconds)
