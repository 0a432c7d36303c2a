"""Hazard → case → inbox latency: a smoke alarm published until the grid worker's terminal has
the assignment, every role real and running on its own (ingest, rules, dispatch, inbox).

Each alarm comes from a unit of its own (so each opens a case), one at a time with a pause
between, so the figure is the latency of one alarm through the whole chain, not a queue: publish
→ ingest commits → the event log wakes the rules → hazard → the log wakes dispatch → case and
its notify → the log wakes the inbox → QoS 1 publish → the terminal's subscriber. In the same
run the baseline is the bare broker: the same payload published and received by a paho
subscriber on the same Mosquitto. Prints p50/p99 of both, in milliseconds.

    python benchmarks/dispatch_latency.py [--alarms 100] [--gap-ms 200] [--db-url URL]

Without --db-url an embedded PostgreSQL is started in a temporary directory; the broker is
always FireGrid's embedded Mosquitto.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from _common import services, time_alarms

from devices import registry
from devices import service as devices_service
from dispatch.config import InboxSettings
from dispatch.flows import DispatchService
from dispatch.inbox import InboxRole
from grids.models import parse_grids
from grids.service import import_grids
from infra.mqtt import client_for_url
from infra.publisher import MqttPublisher
from ingest.config import IngestSettings, StorageSettings
from ingest.role import IngestService
from rules.flows import RulesService
from simulators.grid_layout import generate_street, grid_centres
from simulators.publish import Publisher

LAT, LON = 31.262, 120.618


class Inbox:
    """A subscriber on every terminal's inbox: when each case's assignment arrived, by unit."""

    def __init__(self, url: str, prefix: str) -> None:
        self.arrived: dict[str, float] = {}
        self.done = threading.Condition()
        self.client, host, port = client_for_url(url, client_id=f"bench-{uuid.uuid4().hex[:6]}")
        ready = threading.Event()
        self.client.on_connect = lambda c, *_a: c.subscribe(f"{prefix}/t/+/inbox", qos=1)
        self.client.on_subscribe = lambda *_a: ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        if not ready.wait(10):
            raise RuntimeError("could not subscribe to the inboxes")

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        if body.get("kind") == "case_assigned":
            with self.done:
                self.arrived.setdefault(body["case"]["unit_id"], time.perf_counter())
                self.done.notify_all()

    def wait_for(self, unit: str, timeout_s: float = 30.0) -> float:
        """Return when ``unit``'s assignment arrived (perf_counter seconds)."""
        with self.done:
            if not self.done.wait_for(lambda: unit in self.arrived, timeout_s):
                raise RuntimeError(f"no assignment for {unit} within {timeout_s} s")
            return self.arrived[unit]

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def setup(db_url: str, prefix: str, alarms: int) -> list[tuple[str, str]]:
    """Register a street of grids, a worker per grid and a unit with a smoke detector per
    alarm; return (unit, detector) pairs."""
    collection = generate_street(
        lat=LAT, lon=LON, street_code="330508008", communities=1, grids_per_community=8
    )
    centres = grid_centres(collection)
    grids = sorted(centres)
    staff = [
        {
            "staff_id": f"W{i}",
            "name": f"网格员{i}",
            "role": "grid_worker",
            "area": g,
            "terminal_id": f"BT{i}",
        }
        for i, g in enumerate(grids)
    ]
    pairs = [(f"U{i:04d}", f"SD{i:04d}") for i in range(alarms)]
    devices = [{"device_id": t["terminal_id"], "kind": "terminal"} for t in staff] + [
        {
            "device_id": dev,
            "kind": "smoke",
            "unit_id": unit,
            "lat": centres[grids[i % len(grids)]][0],
            "lon": centres[grids[i % len(grids)]][1],
        }
        for i, (unit, dev) in enumerate(pairs)
    ]
    with psycopg.connect(db_url) as conn:
        import_grids(conn, grid_set=parse_grids(collection), source="benchmark")
        devices_service.upsert_devices(
            conn, rows=registry.parse_devices(json.dumps(devices), fmt="json").rows
        )
        devices_service.upsert_staff(
            conn, rows=registry.parse_staff(json.dumps(staff), fmt="json").rows
        )
    return pairs


def bare_broker(url: str, prefix: str, count: int, gap_s: float) -> list[float]:
    """Milliseconds from publish to receipt through the broker alone, one message at a time."""
    got: dict[int, float] = {}
    cond = threading.Condition()

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with cond:
            got[int(json.loads(msg.payload)["seq"])] = time.perf_counter()
            cond.notify_all()

    sub, host, port = client_for_url(url, client_id=f"bench-bare-{uuid.uuid4().hex[:6]}")
    ready = threading.Event()
    sub.on_connect = lambda c, *_a: c.subscribe(f"{prefix}/bare", qos=1)
    sub.on_subscribe = lambda *_a: ready.set()
    sub.on_message = on_message
    sub.connect(host, port)
    sub.loop_start()
    ready.wait(10)
    out = []
    with Publisher(url) as pub:
        for n in range(count):
            body = json.dumps(
                {"ts": datetime.now(UTC).isoformat(), "seq": n, "type": "smoke_alarm"}
            )
            sent = time.perf_counter()
            pub.publish_all([(f"{prefix}/bare", body.encode())])
            with cond:
                cond.wait_for(lambda n=n: n in got, 10)
            out.append((got[n] - sent) * 1000)
            time.sleep(gap_s)
    sub.disconnect()
    sub.loop_stop()
    return out


def chain(
    db_url: str, url: str, prefix: str, pairs: list[tuple[str, str]], gap_s: float
) -> list[float]:
    """Milliseconds from a smoke alarm's publish to its case's assignment on the inbox."""
    ingest = IngestService(
        mqtt_url=url,
        db_url=db_url,
        settings=IngestSettings(topic_prefix=prefix, client_id=f"bench-{uuid.uuid4().hex[:6]}"),
        storage=StorageSettings(),
    )
    rules = RulesService(db_url=db_url)
    dispatch = DispatchService(db_url=db_url)
    publisher = MqttPublisher(url)
    inbox_role = InboxRole(
        db_url=db_url, publisher=publisher, settings=InboxSettings(prefix=prefix)
    )
    inbox = Inbox(url, prefix)
    roles = [ingest, rules, dispatch, publisher, inbox_role]
    for role in roles:
        role.start()
    try:
        time.sleep(2.0)  # every role connected and listening
        return time_alarms(url, prefix, pairs, gap_s, inbox.wait_for)
    finally:
        inbox.close()
        for role in reversed(roles):
            role.stop()


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alarms", type=int, default=100)
    parser.add_argument("--gap-ms", type=float, default=200.0)
    parser.add_argument("--db-url")
    args = parser.parse_args()
    gap = args.gap_ms / 1000
    with services(args.db_url, tmp_prefix="fg-bench-dispatch-") as (broker_url, db_url):
        prefix = f"bench{uuid.uuid4().hex[:6]}/v1"
        pairs = setup(db_url, prefix, args.alarms)
        bare = bare_broker(broker_url, prefix, args.alarms, gap)
        full = chain(db_url, broker_url, prefix, pairs, gap)
    for label, values in (
        ("(a) bare broker publish → receive", bare),
        ("(b) smoke alarm → hazard → case → inbox", full),
    ):
        print(
            f"{label}: p50 {_pct(values, 50):.1f} ms, p99 {_pct(values, 99):.1f} ms,"
            f" max {max(values):.1f} ms ({len(values)} alarms)"
        )


if __name__ == "__main__":
    main()
