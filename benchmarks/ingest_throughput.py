"""Ingest throughput: a bare paho subscriber versus FireGrid end to end, in one run.

Both drain the same kind of backlog: N QoS 1 messages published to a persistent session while
its client is away, then the client connects and the clock runs until the last message is
(a) received and acknowledged by a bare paho subscriber, or (b) committed to PostgreSQL by
FireGrid's ingest (publish → decode → COPY → commit → PUBACK). Prints rates and the ratio b/a.

    python benchmarks/ingest_throughput.py [--messages 50000] [--db-url URL]

Without --db-url an embedded PostgreSQL is started in a temporary directory; the broker is
always FireGrid's embedded Mosquitto (queue limits raised, see firegrid/mosquitto.conf).
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from _common import ingest_service, publish_backlog, register_devices, sample, services
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.config import IngestSettings
from simulators.publish import Publisher

START = datetime(2025, 1, 1, tzinfo=UTC)  # runs step 30 days from here: stay in the past


def payloads(
    prefix: str, devices: list[str], messages: int, per_message: int, run: int
) -> list[tuple[str, bytes]]:
    """Build the messages of one run; each run has its own days, so no sample repeats."""
    out = []
    start = START + timedelta(days=30 * run)
    for n in range(messages):
        dev = devices[n % len(devices)]
        base = start + timedelta(seconds=(n // len(devices)) * per_message)
        if per_message == 1:
            body = {"ts": base.isoformat(), "seq": n, "values": {"pressure_mpa": 0.3}}
        else:
            body = {
                "samples": [
                    {
                        "ts": int((base + timedelta(seconds=i)).timestamp() * 1000),
                        "seq": n * per_message + i,
                        "values": {"pressure_mpa": 0.3},
                    }
                    for i in range(per_message)
                ]
            }
        out.append((f"{prefix}/d/{dev}/telemetry", json.dumps(body).encode()))
    return out


def bare_paho(broker_url: str, msgs: list[tuple[str, bytes]], prefix: str) -> float:
    """Seconds for a bare paho subscriber (auto-ack) to drain the backlog."""
    host, port = broker_url.removeprefix("mqtt://").split(":")
    cid = f"bench-bare-{uuid.uuid4().hex[:6]}"
    got = threading.Event()
    count = 0

    def on_message(_c: object, _u: object, _m: object) -> None:
        nonlocal count
        count += 1
        if count >= len(msgs):
            got.set()

    def connect() -> mqtt.Client:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        props.ReceiveMaximum = 10_000
        client.on_message = on_message
        client.connect(host, int(port), clean_start=False, properties=props)
        return client

    first = connect()
    first.subscribe(f"{prefix}/d/+/telemetry", qos=1)
    first.loop_start()
    time.sleep(0.5)
    first.disconnect()
    first.loop_stop()
    with Publisher(broker_url) as pub:
        pub.publish_all(msgs, timeout_s=600)
    client = connect()
    started = time.perf_counter()
    client.loop_start()
    got.wait(600)
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return elapsed


def firegrid(
    broker_url: str, db_url: str, msgs: list[tuple[str, bytes]], prefix: str, readings: int
) -> float:
    """Seconds for FireGrid's ingest to commit the backlog."""
    settings = IngestSettings(topic_prefix=prefix, client_id=f"bench-fg-{uuid.uuid4().hex[:6]}")
    publish_backlog(broker_url, db_url, settings, msgs)
    before = sample("firegrid_readings_stored_total")
    svc = ingest_service(broker_url, db_url, settings)
    started = time.perf_counter()
    svc.start()
    received0 = sample("firegrid_messages_received_total")
    while sample("firegrid_readings_stored_total") - before < readings:
        time.sleep(0.002)
        received = sample("firegrid_messages_received_total") - received0
        stored = sample("firegrid_readings_stored_total") - before
        if received >= len(msgs) and stored < readings:
            time.sleep(1)  # the last batch may be committing
            stored = sample("firegrid_readings_stored_total") - before
            if stored < readings:
                raise RuntimeError(
                    f"only {stored:.0f} of {readings} readings stored: see rejected_messages"
                )
    elapsed = time.perf_counter() - started
    svc.stop()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--batched-messages", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--db-url")
    args = parser.parse_args()
    with services(args.db_url, tmp_prefix="fg-bench-") as (broker_url, db_url):
        devices = [f"BENCH-{i:04d}" for i in range(200)]
        register_devices(db_url, devices, kind="hydrant")
        results = {}
        run = 0
        for label, count, per in (
            ("1 sample/message", args.messages, 1),
            ("100 samples/message", args.batched_messages, 100),
        ):
            bare, fg = [], []
            for _ in range(args.repeats):
                run += 1
                prefix = f"bench{uuid.uuid4().hex[:6]}/v1"
                msgs = payloads(prefix, devices, count, per, run)
                bare.append(count / bare_paho(broker_url, msgs, prefix))
                run += 1
                prefix = f"bench{uuid.uuid4().hex[:6]}/v1"
                msgs = payloads(prefix, devices, count, per, run)
                fg.append(count / firegrid(broker_url, db_url, msgs, prefix, count * per))
            a, b = statistics.median(bare), statistics.median(fg)
            results[label] = (a, b)
            print(
                f"{label}: (a) bare paho {a:,.0f} msg/s; (b) FireGrid {b:,.0f} msg/s "
                f"= {b * per:,.0f} readings/s committed; b/a = {b / a:.2f} "
                f"(medians of {args.repeats}, {count:,} messages)"
            )


if __name__ == "__main__":
    main()
