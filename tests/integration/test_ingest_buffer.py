"""The ingest buffer stays within its bound while the database is stuck; nothing QoS 1 is lost.

The database is slowed down for real: the test holds an exclusive lock on ``readings``, so the
writer's COPY waits while 100,000 QoS 0 messages arrive as fast as the broker delivers them.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ingest.buffer import BufferFill
from ingest.config import IngestSettings, StorageSettings
from ingest.role import IngestService
from simulators.publish import Publisher
from tests.fix_ingest import IngestHarness, wait_until

QOS0_MESSAGES = 100_000
WARM_UP = QOS0_MESSAGES + 1  # the seq of the message sent before the stall
QOS1_EVERY = 200  # every 200th message is QoS 1: these must all be stored
DEVICES = 10
T0 = (datetime.now(UTC) - timedelta(days=1)).replace(hour=6, minute=0, second=0, microsecond=0)


class Sampler:
    """Samples the buffer's fill every millisecond in a thread; keeps the largest seen."""

    def __init__(self, service: IngestService) -> None:
        self._service = service
        self._stop = threading.Event()
        self.max_messages = 0
        self.max_bytes = 0
        self.samples = 0
        self.paused_seen = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            fill: BufferFill = self._service.buffer.fill()
            self.max_messages = max(self.max_messages, fill.messages)
            self.max_bytes = max(self.max_bytes, fill.bytes)
            self.paused_seen = self.paused_seen or fill.reading_paused
            self.samples += 1
            self._stop.wait(0.001)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def bounded(
    request: pytest.FixtureRequest, db_url: str, broker_url: str
) -> Iterator[IngestHarness]:
    """An ingest role with a small buffer (bounds from the test's parameter)."""
    max_messages, max_bytes = request.param
    tag = uuid.uuid4().hex[:8]
    prefix = f"fgtest{tag}/v1"
    settings = IngestSettings(
        topic_prefix=prefix,
        client_id=f"fg-ingest-{tag}",
        buffer_max_messages=max_messages,
        buffer_max_bytes=max_bytes,
        batch_max_messages=250,
    )
    svc = IngestService(
        mqtt_url=broker_url, db_url=db_url, settings=settings, storage=StorageSettings()
    )
    svc.start()
    if not svc.subscriber.connected.wait(10):
        pytest.fail(f"ingest could not connect to {broker_url}")
    publisher = Publisher(broker_url, client_id=f"fg-pub-{tag}", inflight=1000)
    try:
        yield IngestHarness(prefix, db_url, broker_url, svc, publisher, tag)
    finally:
        publisher.close()
        svc.stop()


def _telemetry(n: int) -> bytes:
    ts = T0 + timedelta(milliseconds=n)
    return json.dumps({"ts": ts.isoformat(), "seq": n, "values": {"pressure_mpa": 0.3}}).encode()


def _stored(h: IngestHarness, seqs: list[int]) -> int:
    return int(
        h.scalar(
            "SELECT count(*) FROM readings WHERE device_id LIKE %s AND seq = ANY(%s)",
            h.tag + "-%",
            seqs,
        )
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "bounded",
    [
        pytest.param((1_000, 64 * 1024 * 1024), id="messages"),
        pytest.param((20_000, 40_000), id="bytes"),
    ],
    indirect=True,
)
def test_buffer_stays_bounded_while_the_database_is_stuck(bounded: IngestHarness) -> None:
    h = bounded
    devices = [h.device(f"B{i}") for i in range(DEVICES)]
    h.register(*devices)
    topics = [f"{h.prefix}/d/{d}/telemetry" for d in devices]
    # A first message through, so partitions exist and the sender is known before the stall.
    h.publisher.publish_all([(topics[0], _telemetry(WARM_UP))])
    wait_until(lambda: _stored(h, [WARM_UP]) == 1, what="the first reading")
    svc = h.service
    bound = svc.buffer

    qos1 = [n for n in range(QOS0_MESSAGES) if n % QOS1_EVERY == 0]
    with psycopg.connect(h.db_url) as lock, Sampler(svc) as sampler:
        lock.execute("LOCK TABLE readings IN ACCESS EXCLUSIVE MODE")
        infos = [
            h.publisher.publish(
                topics[n % DEVICES], _telemetry(n), qos=1 if n % QOS1_EVERY == 0 else 0
            )
            for n in range(QOS0_MESSAGES)
        ]
        for info in infos:
            info.wait_for_publish(60)
        wait_until(
            lambda: sampler.paused_seen or sampler.max_messages > bound.max_messages,
            what="ingest to stop reading (buffer full)",
        )
        # The broker keeps delivering for a while into socket buffers; give it time to fill.
        threading.Event().wait(1.0)
        stalled = (sampler.max_messages, sampler.max_bytes)
        held = lock.execute(
            "SELECT count(*) FROM readings WHERE device_id LIKE %s", (h.tag + "-%",)
        ).fetchone()
        assert held == (1,), "the lock did not hold the writer back"  # the warm-up only
        lock.rollback()  # the database is free again
        wait_until(
            lambda: _stored(h, qos1) == len(qos1),
            timeout_s=120,
            what=f"all {len(qos1)} QoS 1 readings stored",
        )

    assert sampler.samples > 100
    assert stalled[0] > 0
    assert sampler.max_messages <= bound.max_messages, sampler.max_messages
    assert sampler.max_bytes <= bound.max_bytes, sampler.max_bytes
    assert sampler.paused_seen, "reading never paused"
    # Ingest carries on after the stall: a new message is stored as usual.
    h.publisher.publish_all([(topics[1], _telemetry(QOS0_MESSAGES))])
    wait_until(lambda: _stored(h, [QOS0_MESSAGES]) == 1, what="a reading after the stall")
