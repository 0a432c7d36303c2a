"""The ingest role: the MQTT session, the buffer, and two threads that decode and commit.

The decoder thread takes a batch from the buffer and decodes it (``BatchWriter.decode_ahead``)
while the committer thread writes the previous one and then acknowledges it. Decoding is
Python; committing is mostly waiting for PostgreSQL, which releases the GIL, so the two
overlap. The hand-off holds one batch: the decoder is never more than one batch ahead, and
batches are committed and acknowledged in the order they were taken.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from datetime import datetime
from pathlib import Path

from infra.clock import SYSTEM_CLOCK, Clock
from infra.roles import RoleHealth
from ingest import metrics
from ingest.buffer import MessageBuffer
from ingest.config import IngestSettings, StorageSettings
from ingest.flows import TRANSIENT, BatchWriter, DecodedAhead
from ingest.subscriber import Subscriber, session_client_id
from ingest.topics import subscriptions

log = logging.getLogger(__name__)

_POLL_S = 0.5  # how often a waiting thread looks at the stop flag


class IngestService:
    """The ingest role: a subscriber feeding a buffer, drained by a decoder and a committer.

    Health: ``starting`` until the first connection to the broker, ``degraded`` while the
    broker is away (paho reconnects), ``failed`` after an unexpected error in either thread or
    once paho's network thread has ended (nothing is read or acknowledged any more: the
    supervisor replaces the role and the broker redelivers). Lag: the age of the oldest message
    taken from the buffer and not committed yet; the buffer itself is drained within
    ``batch_max_wait`` while the decoder lives, so a backlog or a stuck database shows there.
    """

    name = "ingest"

    def __init__(
        self,
        *,
        mqtt_url: str,
        db_url: str,
        settings: IngestSettings,
        storage: StorageSettings,
        data_dir: Path | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._settings = settings
        self._clock = clock
        if settings.shared_group and not settings.worker:
            log.warning(
                "ingest shares $share/%s without a worker name: a restart of this process"
                " leaves its share of messages in its old session until it expires; set"
                " FIREGRID_INGEST__WORKER to a stable name (1, 2, ...) per worker",
                settings.shared_group,
            )
        self.buffer = MessageBuffer(
            max_messages=settings.buffer_max_messages, max_bytes=settings.buffer_max_bytes
        )
        self.subscriber = Subscriber(
            url=mqtt_url,
            client_id=session_client_id(
                settings.client_id, shared_group=settings.shared_group, worker=settings.worker
            ),
            filters=subscriptions(prefix=settings.topic_prefix, shared_group=settings.shared_group),
            receive_maximum=settings.receive_maximum,
            session_expiry_s=int(settings.session_expiry.total_seconds()),
            sink=self.buffer.put,
            clock=clock,
        )
        self.writer = BatchWriter(
            db_url=db_url,
            settings=settings,
            storage=storage,
            data_dir=data_dir,
        )
        self._decoded: queue.Queue[DecodedAhead] = queue.Queue(maxsize=1)
        self._threads = [
            threading.Thread(target=self._decode, name="ingest-decoder", daemon=True),
            threading.Thread(target=self._commit, name="ingest-writer", daemon=True),
        ]
        self._stop = threading.Event()
        self._stopped = False
        # received_at of the first message of each batch taken and not yet committed, in order
        self._in_flight: deque[datetime] = deque()
        self.committed_batches = 0
        self.last_commit_at: datetime | None = None
        self.failed = False
        self.failure = ""

    def start(self) -> None:
        """Start receiving, decoding and writing."""
        self.subscriber.start()
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop receiving, finish the batch being committed, and disconnect.

        A batch decoded but not yet committed is dropped unacknowledged: the broker redelivers
        it to the next session.
        """
        self._stopped = True
        self._stop.set()
        self.writer.stopping.set()
        deadline = time.monotonic() + timeout_s  # one budget for both threads, not one each
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.buffer.close()  # before stopping the network thread: it may be waiting for room
        self.subscriber.stop()
        self.writer.close()

    def health(self) -> RoleHealth:
        """Return the role's state, its lag and its buffer's fill (no I/O)."""
        detail = f"{len(self.buffer)} messages buffered"
        if self._stopped:
            return RoleHealth("stopped", None, detail)
        if (failure := self._failure()) is not None:
            return RoleHealth("failed", None, failure)
        lag = self.lag_s()
        if self.subscriber.generation == 0:
            return RoleHealth("starting", lag, f"connecting to the broker; {detail}")
        if not self.subscriber.connected.is_set():
            return RoleHealth("degraded", lag, f"broker connection lost, reconnecting; {detail}")
        return RoleHealth("running", lag, detail)

    def _failure(self) -> str | None:
        if self.failed:
            return self.failure
        if any(t.ident is not None and not t.is_alive() for t in self._threads):
            return "a worker thread ended"
        if (network := self.subscriber.network_failure()) is not None:
            # Nothing reads from the broker any more (paho's thread is gone): replace the role.
            return f"mqtt: {network}"
        return None

    def lag_s(self) -> float:
        """Return the age of the oldest message taken from the buffer and not committed."""
        try:
            oldest = self._in_flight[0]
        except IndexError:
            return 0.0
        return max(0.0, (self._clock.now() - oldest).total_seconds())

    def _decode(self) -> None:
        try:
            self._decode_loop()
        except Exception as exc:
            # Decoders turn their own failures into rejections, so this is a bug here:
            # stop acknowledging rather than lose the batch; the broker keeps it.
            log.exception("ingest decoder failed; no longer acknowledging")
            self._fail(f"decoder: {type(exc).__name__}: {exc}")

    def _decode_loop(self) -> None:
        max_wait = self._settings.batch_max_wait.total_seconds()
        while not self._stop.is_set():
            metrics.QUEUE_DEPTH.set(len(self.buffer))
            metrics.BROKER_CONNECTED.set(1 if self.subscriber.connected.is_set() else 0)
            messages = self.buffer.take(
                max_messages=self._settings.batch_max_messages,
                max_bytes=self._settings.batch_max_bytes,
                max_wait_s=max_wait,
            )
            if not messages:
                continue
            self._in_flight.append(messages[0].received_at)
            work = self.writer.decode_ahead(messages)
            while not self._stop.is_set():
                try:
                    self._decoded.put(work, timeout=_POLL_S)
                    break
                except queue.Full:
                    continue

    def _commit(self) -> None:
        while not self._stop.is_set():
            try:
                work = self._decoded.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            try:
                self.writer.commit_ahead(work)
            except TRANSIENT:
                return  # stopping while the database is away: the broker redelivers them
            except Exception as exc:
                # Never reached in normal operation; if it is, stop acknowledging rather than
                # lose the batch: the broker will redeliver it after a restart.
                log.exception("ingest writer failed; no longer acknowledging")
                self._fail(f"writer: {type(exc).__name__}: {exc}")
                return
            self.subscriber.ack(work.messages)
            self.committed_batches += 1
            self.last_commit_at = self._clock.now()
            self._in_flight.popleft()

    def _fail(self, why: str) -> None:
        # Health says so, and the supervisor replaces the role: stopping here only keeps the
        # other thread from acknowledging anything after this batch.
        self.failure = why
        self.failed = True
        self._stop.set()
