"""A failure in paho's network thread ends ingest's session; the supervisor replaces the role
and the broker redelivers the message that failed, so it is stored once all the same."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from devices import registry, service
from infra.database import connect
from infra.roles import Supervisor, SupervisorSettings
from ingest.config import IngestSettings, StorageSettings
from ingest.models import InboundMessage
from ingest.role import IngestService
from simulators.publish import Publisher
from simulators.sensors import batch
from tests.fix_ingest import wait_until

FAST = SupervisorSettings(backoff_initial_s=0.1, backoff_max_s=0.2, check_every_s=0.05)


class _Injected(BaseException):
    """Gets past paho's ``except Exception`` around callbacks."""


def test_a_dead_network_thread_is_restarted_and_its_message_redelivered(
    db_url: str, broker_url: str, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    prefix = f"fgtest{tag}/v1"
    device = f"{tag}-NET"
    parsed = registry.parse_devices(f'[{{"device_id": "{device}", "kind": "hydrant"}}]')
    assert not parsed.errors
    with connect(db_url, autocommit=False) as conn:
        service.upsert_devices(conn, rows=parsed.rows)
        conn.commit()
    born: list[IngestService] = []

    def make() -> IngestService:
        role = IngestService(
            mqtt_url=broker_url,
            db_url=db_url,
            settings=IngestSettings(topic_prefix=prefix, client_id=f"fg-ingest-{tag}"),
            storage=StorageSettings(),
            data_dir=tmp_path,
        )
        born.append(role)
        return role

    def stored() -> int:
        with connect(db_url) as conn:
            cur = conn.execute("SELECT count(*) FROM readings WHERE device_id = %s", (device,))
            row = cur.fetchone()
            return int(row[0]) if row else 0

    sup = Supervisor({"ingest": make}, settings=FAST)
    publisher = Publisher(broker_url, client_id=f"fg-pub-{tag}")
    sup.start()
    try:
        wait_until(lambda: born[0].health().state == "running", timeout_s=10, what="connected")

        def refuse(_message: InboundMessage) -> bool:
            raise _Injected("the sink broke")

        born[0].subscriber._sink = refuse
        at = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
        publisher.publish_all([batch(device, [(at, 1, {"pressure_mpa": 0.3})], prefix=prefix)])
        wait_until(lambda: len(born) == 2, timeout_s=15, what="the role replaced")
        assert born[0].health().state == "stopped"
        wait_until(lambda: stored() == 1, timeout_s=15, what="the message redelivered")
        assert sup.health()["ingest"].state == "running"
    finally:
        publisher.close()
        sup.stop()
