"""Nothing acknowledged is lost: ingest killed mid-stream, PostgreSQL restarted mid-stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from firegrid.db import migrate
from firegrid.embedded import EmbeddedPostgres, start_postgres
from ingest.config import IngestSettings, StorageSettings
from ingest.role import IngestService
from simulators.publish import Publisher
from simulators.sensors import stream
from tests.fix_ingest import IngestHarness, wait_until

pytestmark = pytest.mark.slow
START = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)


def _count(db_url: str, prefix_tag: str) -> int:
    """Count stored samples (each simulated sample is two readings, pressure and battery)."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM readings WHERE device_id LIKE %s AND metric = 'pressure_mpa'",
            (prefix_tag + "-%",),
        ).fetchone()
        return int(row[0]) if row else 0


def _ingest_process(
    db_url: str, broker_url: str, prefix: str, client_id: str, log: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FIREGRID_DB_URL": db_url,
        "FIREGRID_MQTT_URL": broker_url,
        "FIREGRID_INGEST__TOPIC_PREFIX": prefix,
        "FIREGRID_INGEST__CLIENT_ID": client_id,
    }
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "firegrid.cli", "up", "--role", "ingest", "--no-simulate"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_subscribed(log: Path, timeout_s: float = 60.0) -> None:
    """Wait until the ingest process writing ``log`` has connected, and its subscription
    (sent in the same callback) has had a moment to be acknowledged.

    A fixed sleep was not enough on a loaded machine: messages published before the process
    had subscribed were not queued for it, and the test waited for them in vain.
    """
    wait_until(
        lambda: log.exists() and "connected to mqtt://" in log.read_text(errors="replace"),
        timeout_s=timeout_s,
        what="the ingest process connected",
    )
    time.sleep(1.0)


def test_kill_9_mid_stream_then_restart_stores_exactly_50000(
    ingest: IngestHarness, tmp_path: Path
) -> None:
    # The in-process harness only registers devices here; a separate process does the ingest.
    ingest.service.stop()
    tag = ingest.tag
    devices = [f"{tag}-K{i:02d}" for i in range(50)]
    ingest.register(*devices)
    prefix = f"fgkill{tag}/v1"
    client_id = f"fg-kill-{tag}"
    log = tmp_path / "ingest.log"
    proc = _ingest_process(ingest.db_url, ingest.broker_url, prefix, client_id, log)
    try:
        wait_subscribed(log)  # the persistent session exists from here on
        messages = list(
            stream(devices, start=START, count=50_000, step=timedelta(seconds=1), prefix=prefix)
        )
        publisher = threading.Thread(
            target=ingest.publisher.publish_all, args=(messages,), kwargs={"timeout_s": 300}
        )
        publisher.start()
        wait_until(
            lambda: _count(ingest.db_url, tag) >= 8_000,
            timeout_s=60,
            what="ingest to be mid-stream",
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        at_kill = _count(ingest.db_url, tag)
        assert at_kill < 50_000, "the stream ended before the kill; make it longer"
        time.sleep(1)
        proc = _ingest_process(ingest.db_url, ingest.broker_url, prefix, client_id, log)
        publisher.join(300)
        wait_until(
            lambda: _count(ingest.db_url, tag) >= 50_000,
            timeout_s=180,
            what=f"50,000 rows after restart (had {at_kill} at the kill)",
        )
        time.sleep(2)  # anything doubled or extra would have landed by now
        assert _count(ingest.db_url, tag) == 50_000
        with psycopg.connect(ingest.db_url) as conn:
            rows = conn.execute(
                "SELECT count(*), count(DISTINCT (device_id, ts, seq, metric)) FROM readings "
                "WHERE device_id LIKE %s",
                (tag + "-%",),
            ).fetchone()
        assert rows == (100_000, 100_000)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL this test may stop and start."""
    server = start_postgres(tmp_path / "pg")
    try:
        yield server
    finally:
        server.stop()


def test_postgres_restart_mid_stream_loses_nothing(
    own_postgres: EmbeddedPostgres, broker_url: str
) -> None:
    migrate(own_postgres.url, storage=StorageSettings())
    tag = uuid.uuid4().hex[:8]
    devices = [f"{tag}-P{i:02d}" for i in range(20)]
    with psycopg.connect(own_postgres.url) as conn:
        conn.execute(
            "INSERT INTO devices (device_id, kind) SELECT unnest(%s::text[]), 'hydrant'", (devices,)
        )
    prefix = f"fgpg{tag}/v1"
    svc = IngestService(
        mqtt_url=broker_url,
        db_url=own_postgres.url,
        settings=IngestSettings(topic_prefix=prefix, client_id=f"fg-pg-{tag}"),
        storage=StorageSettings(),
    )
    svc.start()
    try:
        assert svc.subscriber.connected.wait(10)
        time.sleep(0.3)
        messages = list(
            stream(devices, start=START, count=20_000, step=timedelta(seconds=1), prefix=prefix)
        )
        with Publisher(broker_url, client_id=f"fg-pgpub-{tag}") as publisher:
            sender = threading.Thread(
                target=publisher.publish_all, args=(messages,), kwargs={"timeout_s": 300}
            )
            sender.start()
            wait_until(
                lambda: _count(own_postgres.url, tag) >= 3_000,
                timeout_s=60,
                what="ingest to be mid-stream",
            )
            own_postgres.kill()  # the hardest case: no goodbye to the client
            time.sleep(3)  # ingest keeps receiving, stops acknowledging, retries
            own_postgres.start()
            sender.join(300)
            wait_until(
                lambda: _count(own_postgres.url, tag) >= 20_000,
                timeout_s=180,
                what="all 20,000 rows after the database came back",
            )
        time.sleep(1)
        assert _count(own_postgres.url, tag) == 20_000
    finally:
        svc.stop()
