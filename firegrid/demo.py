"""The demo fleet ``firegrid up`` runs on the embedded services, so something happens."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import psycopg

from devices import registry, service
from simulators.publish import Publisher
from simulators.sensors import HydrantSim, SmokeSim

log = logging.getLogger(__name__)

# 金桥 (Jinqiao), Pudong, Shanghai: where CONTRACT's sample report is.
CENTER = (31.2481, 121.5875)

DEMO_UNITS = [
    {
        "unit_id": "U-DEMO-01",
        "name": "金桥三村物业",
        "level": 2,
        "address": "金桥路1号",
        "lat": CENTER[0],
        "lon": CENTER[1],
    },
]


def demo_devices() -> list[dict[str, object]]:
    """Return the registry rows of the demo fleet."""
    hydrants: list[dict[str, object]] = [
        {
            "device_id": f"DEMO-HYD-{i:02d}",
            "kind": "hydrant",
            "model": "SIM-P1",
            "unit_id": "U-DEMO-01",
            "lat": CENTER[0] + 0.001 * i,
            "lon": CENTER[1] + 0.001 * i,
            "hydrant_class": "municipal",
            "heartbeat_s": 60,
        }
        for i in range(6)
    ]
    smoke: list[dict[str, object]] = [
        {
            "device_id": f"DEMO-SMK-{i:02d}",
            "kind": "smoke",
            "model": "SIM-S1",
            "unit_id": "U-DEMO-01",
            "lat": CENTER[0] - 0.0005 * i,
            "lon": CENTER[1] + 0.0005 * i,
            "heartbeat_s": 60,
        }
        for i in range(4)
    ]
    return hydrants + smoke


class DemoFleet:
    """Registers the demo devices and publishes their telemetry every few seconds."""

    def __init__(self, *, db_url: str, mqtt_url: str, prefix: str, period_s: float = 5.0) -> None:
        self._db_url = db_url
        self._mqtt_url = mqtt_url
        self._prefix = prefix
        self._period = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-fleet", daemon=True)

    def start(self) -> None:
        """Register the fleet and start publishing."""
        import json

        units = registry.parse_units(json.dumps(DEMO_UNITS), fmt="json")
        devices = registry.parse_devices(json.dumps(demo_devices()), fmt="json")
        with psycopg.connect(self._db_url) as conn:
            service.upsert_units(conn, rows=units.rows)
            service.upsert_devices(conn, rows=devices.rows)
        print(f"demo: {len(devices.rows)} simulated devices publishing every {self._period:.0f}s")
        self._thread.start()

    def stop(self) -> None:
        """Stop publishing."""
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        sims: list[HydrantSim | SmokeSim] = [
            HydrantSim(str(r["device_id"]), seed=i)
            if r["kind"] == "hydrant"
            else SmokeSim(str(r["device_id"]), seed=i)
            for i, r in enumerate(demo_devices())
        ]
        with Publisher(self._mqtt_url, client_id="firegrid-demo") as publisher:
            while not self._stop.wait(self._period):
                now = datetime.now(UTC)
                publisher.publish_all([s.tick(now) for s in sims])
