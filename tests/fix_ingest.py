"""Run the ingest role in-process against the test broker and database, one per test.

Each test gets its own topic prefix and MQTT client id, so tests sharing the session's broker
and database never see each other's messages.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devices import registry, service
from ingest.config import IngestSettings, StorageSettings
from ingest.role import IngestService
from simulators.publish import Publisher


def wait_until(
    predicate: Callable[[], bool], *, timeout_s: float = 30.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` until true or fail the test saying what did not happen."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}")


@dataclass
class IngestHarness:
    """A running ingest role plus helpers to register devices and publish to it."""

    prefix: str
    db_url: str
    broker_url: str
    service: IngestService
    publisher: Publisher
    tag: str
    data_dir: Path | None = None

    def register(self, *ids: str, kind: str = "hydrant", **fields: Any) -> None:
        """Register devices with the given IDs."""
        rows = [{"device_id": i, "kind": kind, **fields} for i in ids]
        parsed = registry.parse_devices(json.dumps(rows), fmt="json")
        assert not parsed.errors, parsed.errors
        with psycopg.connect(self.db_url) as conn:
            service.upsert_devices(conn, rows=parsed.rows)

    def scalar(self, query: str, *params: Any) -> Any:
        """Run a one-value query."""
        with psycopg.connect(self.db_url) as conn:
            row = conn.execute(query, params).fetchone()
            return None if row is None else row[0]

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run a query and return all rows."""
        with psycopg.connect(self.db_url) as conn:
            return conn.execute(query, params).fetchall()

    def rejected(self) -> list[tuple[str, str, str, bytes]]:
        """Return (topic, reason, detail, payload) of this test's rejections."""
        return [
            (t, r, d, bytes(p))
            for t, r, d, p in self.rows(
                "SELECT topic, reason, detail, payload FROM rejected_messages "
                "WHERE topic LIKE %s ORDER BY id",
                self.prefix + "/%",
            )
        ]

    def register_terminal(self, suffix: str) -> str:
        """Register a handheld terminal (a device of kind terminal) and return its ID."""
        terminal_id = self.device(suffix)
        self.register(terminal_id, kind="terminal")
        return terminal_id

    def device(self, suffix: str) -> str:
        """Return a device ID unique to this test."""
        return f"{self.tag}-{suffix}"


@pytest.fixture
def ingest(db_url: str, broker_url: str, tmp_path: Path) -> Iterator[IngestHarness]:
    """An ingest role running for one test, keeping photos under the test's tmp_path."""
    tag = uuid.uuid4().hex[:8]
    prefix = f"fgtest{tag}/v1"
    settings = IngestSettings(topic_prefix=prefix, client_id=f"fg-ingest-{tag}")
    svc = IngestService(
        mqtt_url=broker_url,
        db_url=db_url,
        settings=settings,
        storage=StorageSettings(),
        data_dir=tmp_path,
    )
    svc.start()
    if not svc.subscriber.connected.wait(10):
        pytest.fail(f"ingest could not connect to {broker_url}")
    time.sleep(0.2)  # let the SUBACK land before the first publish
    publisher = Publisher(broker_url, client_id=f"fg-pub-{tag}")
    try:
        yield IngestHarness(prefix, db_url, broker_url, svc, publisher, tag, tmp_path)
    finally:
        publisher.close()
        svc.stop()
