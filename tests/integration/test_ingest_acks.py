"""Acknowledgements are really sent after commit: a restarted session gets nothing again."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from ingest.config import IngestSettings, StorageSettings
from ingest.role import IngestService
from simulators.sensors import stream
from tests.fix_ingest import IngestHarness, wait_until

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def test_committed_messages_are_acknowledged_and_not_redelivered(ingest: IngestHarness) -> None:
    devices = [ingest.device(f"A{i}") for i in range(5)]
    ingest.register(*devices)
    messages = list(
        stream(devices, start=T0, count=3_000, step=timedelta(seconds=1), prefix=ingest.prefix)
    )
    ingest.publisher.publish_all(messages)
    wait_until(
        lambda: (
            ingest.scalar(
                "SELECT count(*) FROM readings WHERE device_id LIKE %s AND metric = 'pressure_mpa'",
                ingest.tag + "-%",
            )
            == 3_000
        ),
        what="3,000 samples",
    )
    time.sleep(0.5)  # the PUBACKs of the last batch leave right after its commit
    ingest.service.stop()

    again = IngestService(
        mqtt_url=ingest.broker_url,
        db_url=ingest.db_url,
        settings=IngestSettings(topic_prefix=ingest.prefix, client_id=f"fg-ingest-{ingest.tag}"),
        storage=StorageSettings(),
    )
    again.start()
    try:
        assert again.subscriber.connected.wait(10)
        time.sleep(2)
        assert again.committed_batches == 0, "the broker redelivered acknowledged messages"
        assert len(again.buffer) == 0
    finally:
        again.stop()
