"""Start times of the embedded services and QoS 1 throughput through the embedded Mosquitto.

Run: ``python benchmarks/embedded_services.py [--messages 50000] [--runs 3]``. Prints medians.
Throughput is one paho-mqtt 2.2 publisher to one paho subscriber (MQTT 5, QoS 1, in-flight
window 100) on loopback, timed from the first publish to the last message received; "drain"
is the rate at which a reconnecting persistent session receives a backlog queued while it was
offline (what ingest sees after a restart).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firegrid.embedded import EmbeddedBroker, EmbeddedPostgres, start_broker, start_postgres


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _client(broker: EmbeddedBroker, client_id: str, *, clean_start: bool) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(100)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    client.connect(broker.host, broker.port, clean_start=clean_start, properties=props)
    client.loop_start()
    return client


def _close(client: mqtt.Client) -> None:
    done = threading.Event()
    client.on_disconnect = lambda *_args: done.set()
    client.disconnect()
    done.wait(10)
    client.loop_stop()


class _Counter:
    def __init__(self, expected: int) -> None:
        self.expected, self.count = expected, 0
        self.done = threading.Event()
        self.subscribed = threading.Event()

    def on_message(self, *_args: object) -> None:
        self.count += 1
        if self.count >= self.expected:
            self.done.set()


def _subscriber(
    broker: EmbeddedBroker, client_id: str, topic: str, counter: _Counter
) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.on_message = counter.on_message
    client.on_subscribe = lambda *_args: counter.subscribed.set()
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    client.connect(broker.host, broker.port, clean_start=False, properties=props)
    client.loop_start()
    return client


def _publish(broker: EmbeddedBroker, topic: str, count: int) -> None:
    publisher = _client(broker, f"bench-pub-{uuid.uuid4().hex[:8]}", clean_start=True)
    payload = b'{"ts": 1764138600000, "seq": 1, "values": {"pressure_mpa": 0.31}}'
    infos = [publisher.publish(topic, payload, qos=1) for _ in range(count)]
    for info in infos:
        info.wait_for_publish(60)
    _close(publisher)


def live_throughput(broker: EmbeddedBroker, messages: int) -> float:
    """Return QoS 1 messages/s from a publisher to an online subscriber."""
    topic, counter = f"bench/{uuid.uuid4().hex[:8]}", _Counter(messages)
    sub = _subscriber(broker, f"bench-sub-{uuid.uuid4().hex[:8]}", topic, counter)
    sub.subscribe(topic, qos=1)
    counter.subscribed.wait(10)
    started = time.perf_counter()
    _publish(broker, topic, messages)
    if not counter.done.wait(120):
        raise RuntimeError(f"received {counter.count} of {messages}")
    elapsed = time.perf_counter() - started
    _close(sub)
    return messages / elapsed


def drain_throughput(broker: EmbeddedBroker, messages: int) -> float:
    """Return messages/s at which a reconnecting persistent session receives its backlog."""
    topic, client_id = f"bench/{uuid.uuid4().hex[:8]}", f"bench-sub-{uuid.uuid4().hex[:8]}"
    first = _Counter(0)
    sub = _subscriber(broker, client_id, topic, first)
    sub.subscribe(topic, qos=1)
    first.subscribed.wait(10)
    _close(sub)
    _publish(broker, topic, messages)
    counter = _Counter(messages)
    started = time.perf_counter()
    sub = _subscriber(broker, client_id, topic, counter)
    if not counter.done.wait(120):
        raise RuntimeError(f"drained {counter.count} of {messages}")
    elapsed = time.perf_counter() - started
    _close(sub)
    return messages / elapsed


def main() -> None:
    """Measure and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="fg-embedded-bench-") as tmp:
        root = Path(tmp)
        start_broker(root / "warm-up").stop()  # page the binary in; not measured
        brokers: list[EmbeddedBroker] = []
        cold = []
        for i in range(args.runs):
            started = time.perf_counter()
            brokers.append(start_broker(root / f"mq{i}"))
            cold.append(time.perf_counter() - started)
        rows.append(("Mosquitto start, new data dir (s)", f"{statistics.median(cold):.3f}"))
        broker = brokers[0]
        restart = []
        for _ in range(args.runs):
            broker.stop()
            restart.append(_timed(broker.start))
        rows.append(("Mosquitto restart, same data dir (s)", f"{statistics.median(restart):.3f}"))

        servers: list[EmbeddedPostgres] = []
        pg_cold = []
        for i in range(args.runs):
            started = time.perf_counter()
            servers.append(start_postgres(root / f"pg{i}"))
            pg_cold.append(time.perf_counter() - started)
        rows.append(
            ("PostgreSQL start, initdb + database (s)", f"{statistics.median(pg_cold):.3f}")
        )
        server = servers[0]
        pg_restart = []
        for _ in range(args.runs):
            server.stop()
            pg_restart.append(_timed(server.start))
        rows.append(("PostgreSQL restart, same data (s)", f"{statistics.median(pg_restart):.3f}"))
        server.kill()
        rows.append(("PostgreSQL start after kill -9 (s)", f"{_timed(server.start):.3f}"))

        n = args.messages
        live = statistics.median(live_throughput(broker, n) for _ in range(args.runs))
        rows.append((f"QoS 1 publisher -> online subscriber, {n} msgs (msg/s)", f"{live:,.0f}"))
        drain = statistics.median(drain_throughput(broker, n) for _ in range(args.runs))
        rows.append(
            (f"QoS 1 backlog drain to a reconnecting session, {n} msgs (msg/s)", f"{drain:,.0f}")
        )
        # Stop before the temporary directory goes away under them.
        for service in [*brokers, *servers]:
            service.stop()
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>10}")


if __name__ == "__main__":
    main()
