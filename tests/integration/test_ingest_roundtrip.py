"""Every payload form over the real broker into the real database, and back out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from devices.codecs.gb26875_frame import CST, GbFrame, PartStatus, encode
from simulators.sensors import batch, event, iso, sample
from tests.fix_ingest import IngestHarness, wait_until
from tests.golden import frame

T0 = datetime(2026, 11, 26, 6, 30, tzinfo=UTC)

M1, M2, F1, F3 = frame("M1"), frame("M2"), frame("F1"), frame("F3")


def _readings(h: IngestHarness, device: str) -> list[tuple[datetime, str, float, int]]:
    return [
        (ts, m, v, s)
        for ts, m, v, s in h.rows(
            "SELECT ts, metric, value, seq FROM readings WHERE device_id = %s ORDER BY ts, metric",
            device,
        )
    ]


def test_single_sample_is_stored_with_device_and_receive_time(ingest: IngestHarness) -> None:
    dev = ingest.device("H1")
    ingest.register(dev)
    msg = sample(dev, T0, 1042, {"pressure_mpa": 0.31, "battery_pct": 88}, prefix=ingest.prefix)
    ingest.publisher.publish_all([msg])
    wait_until(lambda: len(_readings(ingest, dev)) == 2, what="2 readings")
    assert _readings(ingest, dev) == [
        (T0, "battery_pct", 88.0, 1042),
        (T0, "pressure_mpa", 0.31, 1042),
    ]
    received = ingest.scalar("SELECT min(received_at) FROM readings WHERE device_id = %s", dev)
    assert abs((received - datetime.now(UTC)).total_seconds()) < 60
    latest = ingest.scalar("SELECT latest FROM device_status WHERE device_id = %s", dev)
    assert latest["pressure_mpa"]["value"] == 0.31


def test_batch_with_unix_millis_and_no_seq(ingest: IngestHarness) -> None:
    dev = ingest.device("H2")
    ingest.register(dev)
    samples = [
        (T0 + timedelta(minutes=i), None, {"pressure_mpa": 0.3 + i / 100}) for i in range(50)
    ]
    ingest.publisher.publish_all([batch(dev, samples, prefix=ingest.prefix, millis=True)])
    wait_until(lambda: len(_readings(ingest, dev)) == 50, what="50 readings")
    rows = _readings(ingest, dev)
    assert rows[0] == (T0, "pressure_mpa", 0.3, -1)
    assert rows[-1][0] == T0 + timedelta(minutes=49)


def test_events_single_and_batch(ingest: IngestHarness) -> None:
    dev = ingest.device("S1")
    ingest.register(dev, kind="smoke")
    single = event(dev, T0, 7, "smoke_alarm", {"smoke_pct": 12.5}, prefix=ingest.prefix)
    body = {
        "events": [
            {"ts": iso(T0 + timedelta(seconds=30)), "seq": 8, "type": "alarm_cleared"},
            {"ts": iso(T0 + timedelta(seconds=40)), "seq": 9, "type": "low_battery"},
        ]
    }
    ingest.publisher.publish_all([single, (single.topic, json.dumps(body).encode())])
    wait_until(
        lambda: ingest.scalar("SELECT count(*) FROM device_events WHERE device_id = %s", dev) == 3,
        what="3 events",
    )
    rows = ingest.rows(
        "SELECT type, seq, detail FROM device_events WHERE device_id = %s ORDER BY ts", dev
    )
    assert rows == [
        ("smoke_alarm", 7, {"smoke_pct": 12.5}),
        ("alarm_cleared", 8, {}),
        ("low_battery", 9, {}),
    ]


def test_mk_pressure_frames_m1_and_m2(ingest: IngestHarness) -> None:
    ingest.register("SHRP25090120", "SHMK19060013")
    topic = f"{ingest.prefix}/d/{{}}/raw/mk-pressure"
    ingest.publisher.publish_all(
        [(topic.format("SHRP25090120"), M1), (topic.format("SHMK19060013"), M2)]
    )
    wait_until(lambda: len(_readings(ingest, "SHMK19060013")) >= 10, what="M2's records")
    m1 = _readings(ingest, "SHRP25090120")
    t1 = datetime(2025, 10, 27, 18, 23, 3, tzinfo=UTC)
    assert (t1, "pressure_mpa", 0.605, -1) in m1
    assert (t1, "battery_pct", 100.0, -1) in m1
    assert (t1, "rsrp_dbm", -48.0, -1) in m1
    pressures = [
        (ts, v) for ts, m, v, _ in _readings(ingest, "SHMK19060013") if m == "pressure_mpa"
    ]
    newest = datetime(2019, 7, 1, 1, 49, 42, tzinfo=UTC)
    expected = [0.537, 0.538, 0.534, 0.536, 0.536, 0.531, 0.542, 0.540, 0.541, 0.541]
    assert pressures == [
        (newest - timedelta(seconds=60 * (9 - i)), v) for i, v in enumerate(expected)
    ]


def test_gb26875_fire_alarm_and_analog_pressure(ingest: IngestHarness) -> None:
    dev = ingest.device("UITD")
    ingest.register(dev, kind="transmission")
    topic = f"{ingest.prefix}/d/{dev}/raw/gb26875"
    ingest.publisher.publish_all([(topic, F1), (topic, F3)])
    wait_until(
        lambda: (
            ingest.scalar("SELECT count(*) FROM device_events WHERE device_id = %s", dev) == 1
            and len(_readings(ingest, dev)) == 1
        ),
        what="F1's alarm and F3's pressure",
    )
    kind, detail = ingest.rows("SELECT type, detail FROM device_events WHERE device_id = %s", dev)[
        0
    ]
    assert kind == "smoke_alarm"
    assert detail["description"] == "10区2号感烟探测器"
    ((ts, metric, value, _seq),) = _readings(ingest, dev)
    assert (metric, round(value, 6)) == ("pressure_mpa", 0.32)
    assert ts == datetime(2024, 11, 26, 7, 10, 0, tzinfo=UTC)  # 15:10:00 China time


def test_gb26875_two_detectors_in_one_second_are_two_events_even_when_resent(
    ingest: IngestHarness,
) -> None:
    dev, marker = ingest.device("PANEL"), ingest.device("MARK")
    ingest.register(dev, kind="transmission")
    ingest.register(marker)
    when = datetime(2026, 11, 26, 14, 30, 0, tzinfo=CST)  # 06:30 UTC, as the panel's clock says
    detectors = tuple(
        PartStatus(1, 1, 40, zone, 1, 0x0002, f"{zone}区1号感烟探测器", when) for zone in (3, 4)
    )
    raw = encode(
        GbFrame(serial=7, time=when, source=889, destination=88888, command=2, unit_type=2,
                objects=detectors)
    )  # fmt: skip
    topic = f"{ingest.prefix}/d/{dev}/raw/gb26875"
    after = sample(marker, T0, 1, {"pressure_mpa": 0.3}, prefix=ingest.prefix)
    # The frame twice (a resend after a lost confirm), then a marker: ingest keeps the order.
    ingest.publisher.publish_all([(topic, raw), (topic, raw), after])
    wait_until(lambda: len(_readings(ingest, marker)) == 1, what="the marker after the frames")
    rows = ingest.rows(
        "SELECT ts, type, detail->>'part_address' FROM device_events WHERE device_id = %s "
        "ORDER BY 3",
        dev,
    )
    assert rows == [(T0, "smoke_alarm", "3-1"), (T0, "smoke_alarm", "4-1")]
    assert ingest.scalar("SELECT count(*) FROM ingest_conflicts WHERE device_id = %s", dev) == 0


def test_redelivered_sample_is_stored_once_and_a_changed_one_is_a_conflict(
    ingest: IngestHarness,
) -> None:
    dev = ingest.device("H3")
    ingest.register(dev)
    first = sample(dev, T0, 5, {"pressure_mpa": 0.30}, prefix=ingest.prefix)
    ingest.publisher.publish_all([first])
    wait_until(lambda: len(_readings(ingest, dev)) == 1, what="first sample")
    changed = sample(dev, T0, 5, {"pressure_mpa": 0.99}, prefix=ingest.prefix)
    ingest.publisher.publish_all([first, first, changed])
    wait_until(
        lambda: (
            ingest.scalar("SELECT count(*) FROM ingest_conflicts WHERE device_id = %s", dev) == 1
        ),
        what="one conflict",
    )
    assert _readings(ingest, dev) == [(T0, "pressure_mpa", 0.30, 5)]
    stored, incoming = ingest.rows(
        "SELECT stored, incoming FROM ingest_conflicts WHERE device_id = %s", dev
    )[0]
    assert (stored, incoming) == ({"value": 0.30}, {"value": 0.99})


def test_a_late_sample_does_not_overwrite_the_latest_state(ingest: IngestHarness) -> None:
    dev = ingest.device("H4")
    ingest.register(dev)
    ingest.publisher.publish_all([sample(dev, T0, 2, {"pressure_mpa": 0.33}, prefix=ingest.prefix)])
    wait_until(lambda: len(_readings(ingest, dev)) == 1, what="newest sample")
    ingest.publisher.publish_all(
        [sample(dev, T0 - timedelta(hours=1), 1, {"pressure_mpa": 0.11}, prefix=ingest.prefix)]
    )
    wait_until(lambda: len(_readings(ingest, dev)) == 2, what="late sample stored")
    latest = ingest.scalar("SELECT latest FROM device_status WHERE device_id = %s", dev)
    assert latest["pressure_mpa"]["value"] == 0.33
