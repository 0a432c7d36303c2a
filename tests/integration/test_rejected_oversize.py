"""An oversize message is rejected as payload_too_large and stored as a prefix with the whole's
size and SHA-256, over the real broker and database."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ingest.config import IngestSettings, StorageSettings
from ingest.role import IngestService
from simulators.publish import Publisher
from tests.fix_ingest import wait_until


@pytest.fixture
def small_ingest(db_url: str, broker_url: str, tmp_path: Path) -> Iterator[tuple[str, Publisher]]:
    """An ingest role refusing payloads over 1,000 bytes and keeping 64 of them."""
    tag = uuid.uuid4().hex[:8]
    prefix = f"fgtest{tag}/v1"
    svc = IngestService(
        mqtt_url=broker_url,
        db_url=db_url,
        settings=IngestSettings(
            topic_prefix=prefix,
            client_id=f"fg-ingest-{tag}",
            max_payload_bytes=1000,
            oversize_keep_bytes=64,
        ),
        storage=StorageSettings(),
        data_dir=tmp_path,
    )
    svc.start()
    if not svc.subscriber.connected.wait(10):
        pytest.fail(f"ingest could not connect to {broker_url}")
    time.sleep(0.2)  # let the SUBACK land before the first publish
    publisher = Publisher(broker_url, client_id=f"fg-pub-{tag}")
    try:
        yield prefix, publisher
    finally:
        publisher.close()
        svc.stop()


def test_oversize_payload_is_kept_as_a_prefix_with_size_and_hash(
    db_url: str, small_ingest: tuple[str, Publisher]
) -> None:
    prefix, publisher = small_ingest
    topic = f"{prefix}/d/BIG-1/telemetry"
    payload = b'{"ts": "2026-12-07T09:00:00Z", "values": {"x": 1}, "pad": "' + b"x" * 5000 + b'"}'
    publisher.publish_all([(topic, payload)])

    def stored() -> list[tuple[Any, ...]]:
        with psycopg.connect(db_url) as conn:
            return conn.execute(
                "SELECT reason, payload, payload_size, payload_sha256 FROM rejected_messages "
                "WHERE topic = %s",
                (topic,),
            ).fetchall()

    wait_until(lambda: len(stored()) == 1, what="the oversize message stored as rejected")
    [(reason, kept, size, sha256)] = stored()
    assert reason == "payload_too_large"
    assert bytes(kept) == payload[:64]
    assert size == len(payload)
    assert bytes(sha256) == hashlib.sha256(payload).digest()
