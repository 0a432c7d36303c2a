"""Alarm → live feed latency: a smoke alarm published over MQTT until its ``hazard.opened``
event arrives on the SSE stream of a real API server, idle and under load.

Every role is real and runs on its own (ingest, rules, dispatch, and the API served by uvicorn
with its feed); the reader is an HTTP client like ``curl -N`` on ``GET /api/v1/stream``. Each
alarm comes from a unit of its own, one at a time with a pause between, so the figure is the
latency of one alarm, not a queue. Under load, telemetry flows at half the ingest capacity
measured in the same run (a backlog drained by FireGrid's ingest, as ingest_throughput does),
published from a process of its own so the generator does not share FireGrid's interpreter.
The baseline is the bare broker: the same payload published and received by a paho subscriber
on the same Mosquitto. Prints p50/p99 of each, in milliseconds.

    python benchmarks/feed_latency.py [--alarms 100] [--gap-ms 200] [--db-url URL]

Without --db-url an embedded PostgreSQL is started in a temporary directory; the broker is
always FireGrid's embedded Mosquitto.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg
import uvicorn
from _common import register_devices, services, time_alarms
from dispatch_latency import _pct, bare_broker, setup
from ingest_throughput import firegrid as ingest_seconds
from ingest_throughput import payloads

from api.app import create_app
from api.settings import ApiSettings
from api.tokens import create_token
from dispatch.flows import DispatchService
from firegrid.api_role import StreamClosingServer
from ingest.config import IngestSettings, StorageSettings
from ingest.role import IngestService
from rules.flows import RulesService
from simulators.publish import Publisher

LOAD_DEVICES = 200


@contextmanager
def api_server(db_url: str) -> Iterator[str]:
    """Serve FireGrid's API (with its live feed) on a free port; yield its base URL."""
    app = create_app(ApiSettings(db_url=db_url), broker_probe=lambda: True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = StreamClosingServer(config, app)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


class FeedReader:
    """Reads the SSE stream as fast as it comes; when each unit's hazard.opened arrived."""

    def __init__(self, url: str, token: str) -> None:
        self.arrived: dict[str, float] = {}
        self.done = threading.Condition()
        self.connected = threading.Event()
        self._stop = False
        headers = {"Authorization": f"Bearer {token}"}
        self._thread = threading.Thread(target=self._read, args=(url, headers), daemon=True)
        self._thread.start()
        if not self.connected.wait(15):
            raise RuntimeError("the stream did not open")

    def _read(self, url: str, headers: dict[str, str]) -> None:
        timeout = httpx.Timeout(10, read=120)
        with httpx.stream("GET", f"{url}/api/v1/stream", headers=headers, timeout=timeout) as r:
            r.raise_for_status()
            kind = ""
            for line in r.iter_lines():
                if line.startswith(": connected"):
                    self.connected.set()
                elif line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "hazard.opened":
                    now = time.perf_counter()
                    unit = json.loads(line[6:]).get("unit_id")
                    with self.done:
                        if unit is not None:
                            self.arrived.setdefault(unit, now)
                        self.done.notify_all()
                if self._stop:
                    return

    def wait_for(self, unit: str, timeout_s: float = 30.0) -> float:
        """Return when ``unit``'s hazard arrived on the feed (perf_counter seconds)."""
        with self.done:
            if not self.done.wait_for(lambda: unit in self.arrived, timeout_s):
                raise RuntimeError(f"no hazard.opened for {unit} within {timeout_s} s")
            return self.arrived[unit]

    def close(self) -> None:
        """Stop reading at the next line (the server's ping comes every 15 s at most)."""
        self._stop = True


def _publish_paced(
    broker_url: str, msgs: list[tuple[str, bytes]], rate: float, stop: Any, sent_out: Any
) -> None:
    """Publish ``msgs`` at ``rate`` per second until ``stop`` is set (in a process of its own);
    leave the count sent in ``sent_out``."""
    tick = 0.02
    per_tick = max(1, round(rate * tick))
    sent = 0
    with Publisher(broker_url) as pub:
        started = time.perf_counter()
        while not stop.is_set() and sent + per_tick <= len(msgs):
            pub.publish_all(msgs[sent : sent + per_tick])
            sent += per_tick
            # Paced against the clock, so a slow publish does not lower the rate.
            ahead = started + sent / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
    sent_out.value = sent


class Load:
    """Telemetry at a steady rate on the ingest's topics, from a process of its own (so the
    load generator does not share FireGrid's interpreter lock), until stopped."""

    def __init__(self, broker_url: str, prefix: str, rate: float, devices: list[str]) -> None:
        msgs = payloads(prefix, devices, int(rate * 600) + 1, 1, run=99)
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        self._sent = ctx.Value("q", 0)
        self._proc = ctx.Process(
            target=_publish_paced,
            args=(broker_url, msgs, rate, self._stop, self._sent),
            daemon=True,
        )
        self._proc.start()

    def stop(self) -> float:
        """Stop; return how many messages were sent."""
        self._stop.set()
        self._proc.join(60)
        return float(self._sent.value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alarms", type=int, default=100)
    parser.add_argument("--gap-ms", type=float, default=200.0)
    parser.add_argument("--capacity-messages", type=int, default=20_000)
    parser.add_argument("--db-url")
    args = parser.parse_args()
    gap = args.gap_ms / 1000
    with services(args.db_url, tmp_prefix="fg-bench-feed-") as (broker_url, db_url):
        load_devices = [f"LOAD-{i:04d}" for i in range(LOAD_DEVICES)]
        register_devices(db_url, load_devices, kind="hydrant")
        cap_prefix = f"bench{uuid.uuid4().hex[:6]}/v1"
        cap_msgs = payloads(cap_prefix, load_devices, args.capacity_messages, 1, run=0)
        capacity = len(cap_msgs) / ingest_seconds(
            broker_url, db_url, cap_msgs, cap_prefix, len(cap_msgs)
        )
        prefix = f"bench{uuid.uuid4().hex[:6]}/v1"
        pairs = setup(db_url, prefix, 2 * args.alarms)
        bare = bare_broker(broker_url, prefix, args.alarms, gap)
        with psycopg.connect(db_url) as conn:
            token = create_token(conn, role="admin", areas=[])
        roles = [
            IngestService(
                mqtt_url=broker_url,
                db_url=db_url,
                settings=IngestSettings(topic_prefix=prefix, client_id=f"bench-{prefix[5:11]}"),
                storage=StorageSettings(),
            ),
            RulesService(db_url=db_url),
            DispatchService(db_url=db_url),
        ]
        for role in roles:
            role.start()
        try:
            with api_server(db_url) as url:
                reader = FeedReader(url, token)
                time.sleep(2.0)  # every role connected and listening
                idle = time_alarms(broker_url, prefix, pairs[: args.alarms], gap, reader.wait_for)
                load = Load(broker_url, prefix, capacity / 2, load_devices)
                started = time.perf_counter()
                loaded = time_alarms(broker_url, prefix, pairs[args.alarms :], gap, reader.wait_for)
                rate = load.stop() / (time.perf_counter() - started)
                reader.close()
        finally:
            for role in reversed(roles):
                role.stop()
    print(f"ingest capacity measured in this run: {capacity:,.0f} msg/s; load sent {rate:,.0f}")
    for label, values in (
        ("(a) bare broker publish → receive", bare),
        ("(b) smoke alarm → hazard.opened on the SSE feed, idle", idle),
        ("(c) the same under half the ingest capacity", loaded),
    ):
        print(
            f"{label}: p50 {_pct(values, 50):.1f} ms, p99 {_pct(values, 99):.1f} ms,"
            f" max {max(values):.1f} ms ({len(values)} alarms)"
        )


if __name__ == "__main__":
    main()
