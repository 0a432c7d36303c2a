"""What the gateway tests share: a gateway role on a free port, registration, queries."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from devices import registry, service
from gateway.config import GatewaySettings
from gateway.flows import BeforeStore
from gateway.role import GatewayRole
from ingest.config import IngestSettings, StorageSettings
from tests.fix_ingest import wait_until


@dataclass
class GatewayHarness:
    """Starts gateway roles for one test, under the test's own topic prefix."""

    db_url: str
    prefix: str
    tag: str
    roles: list[GatewayRole] = field(default_factory=list)

    def start(
        self,
        *,
        port: int = 0,
        before_store: BeforeStore | None = None,
        settings: GatewaySettings | None = None,
    ) -> GatewayRole:
        """Start a gateway role on ``port`` (0: any free port) and wait until it listens."""
        role = GatewayRole(
            listen=f"127.0.0.1:{port}",
            db_url=self.db_url,
            settings=settings or GatewaySettings(linger_s=0.01),
            ingest=IngestSettings(topic_prefix=self.prefix),
            storage=StorageSettings(),
            before_store=before_store,
        )
        role.start()
        self.roles.append(role)
        wait_until(lambda: role.health().state == "running", timeout_s=10, what="gateway up")
        return role

    def address(self) -> int:
        """Return a GB/T 26875 address no other test uses."""
        return uuid.uuid4().int % 2**40

    def register(self, device_id: str, address: int, **fields: Any) -> None:
        """Register a transmission device under ``address``."""
        row = {"device_id": device_id, "kind": "transmission", "gb26875_address": address}
        parsed = registry.parse_devices(json.dumps([row | fields]), fmt="json")
        assert not parsed.errors, parsed.errors
        with psycopg.connect(self.db_url) as conn:
            service.upsert_devices(conn, rows=parsed.rows)

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run a query and return all rows."""
        with psycopg.connect(self.db_url) as conn:
            return conn.execute(query, params).fetchall()

    def rejected(self) -> list[tuple[str, str, bytes]]:
        """Return (topic, reason, payload) of this test's rejections, oldest first."""
        return [
            (t, r, bytes(p))
            for t, r, p in self.rows(
                "SELECT topic, reason, payload FROM rejected_messages WHERE topic LIKE %s"
                " ORDER BY id",
                self.prefix + "/%",
            )
        ]

    def events(self, device_id: str) -> list[tuple[str, int]]:
        """Return (type, seq) of a device's stored events."""
        return [
            (t, s)
            for t, s in self.rows(
                "SELECT type, seq FROM device_events WHERE device_id = %s ORDER BY ts, seq",
                device_id,
            )
        ]

    def stop(self) -> None:
        """Stop every role this test started."""
        for role in reversed(self.roles):
            role.stop()


@pytest.fixture
def gateways(db_url: str) -> Iterator[GatewayHarness]:
    """Gateway roles for one test, stopped after it."""
    tag = uuid.uuid4().hex[:8]
    harness = GatewayHarness(db_url=db_url, prefix=f"gw{tag}/v1", tag=tag)
    try:
        yield harness
    finally:
        harness.stop()


def elapsed_since(start: float) -> float:
    """Return the seconds since ``start`` (time.monotonic)."""
    return time.monotonic() - start
