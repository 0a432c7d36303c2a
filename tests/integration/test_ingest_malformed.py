"""Malformed input over the real broker: each stored with its own reason, neighbours kept."""

from __future__ import annotations

from simulators.malformed import catalogue, reference_now
from simulators.sensors import sample
from tests.fix_ingest import IngestHarness, wait_until
from tests.golden import frame


def test_every_malformed_kind_is_stored_with_its_reason_and_neighbours_kept(
    ingest: IngestHarness,
) -> None:
    dev, other, mk = ingest.device("BAD"), ingest.device("OTHER"), "SHRP25090120"
    ingest.register(dev, other, mk)
    now = reference_now()
    cases = catalogue(
        prefix=ingest.prefix,
        device=dev,
        other_device=other,
        unknown_device=ingest.device("GHOST"),
        now=now,
        mk_frame=frame("M1"),
        mk_device=mk,
        gb_frame=frame("F1"),
    )
    assert len({c.expected_rejections[0] for c in cases}) >= 20
    # A valid message after all the bad ones proves ingestion kept going.
    tail = sample(dev, now, 999, {"pressure_mpa": 0.3}, prefix=ingest.prefix)
    ingest.publisher.publish_all([*cases, tail])
    wait_until(
        lambda: (
            ingest.scalar("SELECT count(*) FROM readings WHERE device_id = %s AND seq = 999", dev)
            == 1
        ),
        what="the valid message after the malformed ones",
    )
    wait_until(lambda: len(ingest.rejected()) >= len(cases), what="all rejections stored")

    rejected = ingest.rejected()
    by_payload = {(topic, payload): reason for topic, reason, _d, payload in rejected}
    for case in cases:
        reason = by_payload.get((case.topic, case.payload))
        assert reason == case.expected_rejections[0], (case.label, reason)
    assert len(rejected) == len(cases)  # nothing else was rejected, nothing twice

    stored_readings = set(
        ingest.rows(
            "SELECT device_id, ts, seq, metric, value FROM readings WHERE device_id = %s", dev
        )
    )
    stored_events = set(
        ingest.rows("SELECT device_id, ts, seq, type FROM device_events WHERE device_id = %s", dev)
    )
    for case in cases:
        for record in case.expected:
            if hasattr(record, "metric"):
                assert (
                    record.device_id,
                    record.ts,
                    record.seq,
                    record.metric,
                    record.value,
                ) in stored_readings, case.label
            else:
                assert (record.device_id, record.ts, record.seq, record.type) in stored_events, (
                    case.label
                )
    expected_total = sum(1 for c in cases for r in c.expected if hasattr(r, "metric")) + 1
    assert len(stored_readings) == expected_total


def test_rejections_are_counted_by_reason_in_metrics(ingest: IngestHarness) -> None:
    from prometheus_client import REGISTRY

    before = REGISTRY.get_sample_value("firegrid_rejected_total", {"reason": "empty_payload"}) or 0
    dev = ingest.device("EMPTY")
    ingest.register(dev)
    ingest.publisher.publish_all([(f"{ingest.prefix}/d/{dev}/telemetry", b"")] * 3)
    wait_until(
        lambda: (
            (REGISTRY.get_sample_value("firegrid_rejected_total", {"reason": "empty_payload"}) or 0)
            - before
            >= 3
        ),
        what="the rejection counter",
    )
