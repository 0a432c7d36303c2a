"""What the end-to-end ingest benchmarks share: their services, device rows and backlog.

Imported as ``_common``: the benchmarks run as scripts (``python benchmarks/<name>.py``), which
puts this directory first on ``sys.path``.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from prometheus_client import REGISTRY

from firegrid.db import migrate
from firegrid.embedded import start_broker, start_postgres
from ingest.config import IngestSettings, StorageSettings
from ingest.role import IngestService
from simulators.publish import Publisher
from simulators.sensors import event


@contextmanager
def services(db_url: str | None, *, tmp_prefix: str) -> Iterator[tuple[str, str]]:
    """Start the embedded broker (and PostgreSQL without ``db_url``), migrate; yield both URLs."""
    tmp = Path(tempfile.mkdtemp(prefix=tmp_prefix))
    broker = start_broker(tmp / "broker")
    pg = None
    if db_url is None:
        pg = start_postgres(tmp / "pg")
        db_url = pg.url
    try:
        migrate(db_url, storage=StorageSettings())
        yield broker.url, db_url
    finally:
        broker.stop()
        if pg is not None:
            pg.stop()


def register_devices(db_url: str, device_ids: list[str], *, kind: str) -> None:
    """Register ``device_ids`` as devices of ``kind``, keeping any already there."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO devices (device_id, kind) SELECT unnest(%s::text[]), %s"
            " ON CONFLICT DO NOTHING",
            (device_ids, kind),
        )


def sample(name: str) -> float:
    """Return the current value of a FireGrid counter, 0 before its first increment."""
    return REGISTRY.get_sample_value(name) or 0.0


def ingest_service(broker_url: str, db_url: str, settings: IngestSettings) -> IngestService:
    """Return FireGrid's ingest for the benchmark's broker, database and session, not started."""
    return IngestService(
        mqtt_url=broker_url, db_url=db_url, settings=settings, storage=StorageSettings()
    )


def publish_backlog(
    broker_url: str, db_url: str, settings: IngestSettings, msgs: list[tuple[str, bytes]]
) -> None:
    """Create the ingest's persistent session, then publish ``msgs`` to it while it is away."""
    svc = ingest_service(broker_url, db_url, settings)
    svc.start()  # creates the persistent session
    svc.subscriber.connected.wait(10)
    time.sleep(0.5)
    svc.stop()
    with Publisher(broker_url) as pub:
        pub.publish_all(msgs, timeout_s=600)


def time_alarms(
    broker_url: str,
    prefix: str,
    pairs: list[tuple[str, str]],
    gap_s: float,
    arrived: Callable[[str], float],
) -> list[float]:
    """Publish a smoke alarm per (unit, detector), one at a time with ``gap_s`` between; return
    the milliseconds from each publish to ``arrived(unit)`` (a perf_counter time it waits for).
    """
    out = []
    with Publisher(broker_url) as pub:
        for unit, dev in pairs:
            msg = event(
                dev, datetime.now(UTC) - timedelta(seconds=1), 1, "smoke_alarm", prefix=prefix
            )
            sent = time.perf_counter()
            pub.publish_all([(msg.topic, msg.payload)])
            out.append((arrived(unit) - sent) * 1000)
            time.sleep(gap_s)
    return out
