"""Sensor simulators: telemetry and events as devices send them, with what they must produce."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from devices.models import DeviceEvent, Reading
from simulators.models import SimMessage

PREFIX = "fg/v1"


def iso(ts: datetime) -> str:
    """Format a time as CONTRACT §1 writes it (ISO 8601, UTC, milliseconds)."""
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def telemetry_topic(device_id: str, prefix: str = PREFIX) -> str:
    """Return the telemetry topic of a device."""
    return f"{prefix}/d/{device_id}/telemetry"


def event_topic(device_id: str, prefix: str = PREFIX) -> str:
    """Return the event topic of a device."""
    return f"{prefix}/d/{device_id}/event"


def sample(
    device_id: str, ts: datetime, seq: int | None, values: dict[str, float], *, prefix: str = PREFIX
) -> SimMessage:
    """One telemetry sample as a single-sample message."""
    body: dict[str, Any] = {"ts": iso(ts), "values": values}
    if seq is not None:
        body["seq"] = seq
    expected: list[Reading | DeviceEvent] = [
        Reading(device_id, ts, seq, m, float(v)) for m, v in values.items()
    ]
    return SimMessage(telemetry_topic(device_id, prefix), json.dumps(body).encode(), expected)


def batch(
    device_id: str,
    samples: list[tuple[datetime, int | None, dict[str, float]]],
    *,
    prefix: str = PREFIX,
    millis: bool = False,
) -> SimMessage:
    """Several samples in one ``{"samples": [...]}`` message."""
    items = []
    expected: list[Reading | DeviceEvent] = []
    for ts, seq, values in samples:
        stamp: Any = int(ts.timestamp() * 1000) if millis else iso(ts)
        item: dict[str, Any] = {"ts": stamp, "values": values}
        if seq is not None:
            item["seq"] = seq
        items.append(item)
        expected += [Reading(device_id, ts, seq, m, float(v)) for m, v in values.items()]
    return SimMessage(
        telemetry_topic(device_id, prefix), json.dumps({"samples": items}).encode(), expected
    )


def event(
    device_id: str,
    ts: datetime,
    seq: int | None,
    kind: str,
    detail: dict[str, Any] | None = None,
    *,
    prefix: str = PREFIX,
) -> SimMessage:
    """One device event."""
    body: dict[str, Any] = {"ts": iso(ts), "type": kind}
    if seq is not None:
        body["seq"] = seq
    if detail:
        body["detail"] = detail
    return SimMessage(
        event_topic(device_id, prefix),
        json.dumps(body).encode(),
        [DeviceEvent(device_id, ts, seq, kind, detail or {})],
    )


class HydrantSim:
    """A municipal hydrant pressure sensor: ~0.3 MPa with noise, battery slowly draining."""

    def __init__(self, device_id: str, *, base_mpa: float = 0.32, seed: int = 0) -> None:
        self.device_id = device_id
        self.base = base_mpa
        self.seq = 0
        self.battery = 95.0
        self._rng = random.Random(seed)

    def tick(self, ts: datetime) -> SimMessage:
        """Return the next sample at device time ``ts``."""
        self.seq += 1
        self.battery = max(0.0, self.battery - 0.01)
        wave = 0.01 * math.sin(ts.timestamp() / 600.0)
        pressure = round(max(0.0, self.base + wave + self._rng.gauss(0, 0.003)), 4)
        return sample(
            self.device_id,
            ts,
            self.seq,
            {"pressure_mpa": pressure, "battery_pct": round(self.battery, 2)},
        )


class SmokeSim:
    """An NB-IoT smoke alarm: heartbeat events with battery, temperature and signal."""

    def __init__(self, device_id: str, *, seed: int = 0) -> None:
        self.device_id = device_id
        self.seq = 0
        self._rng = random.Random(seed)

    def tick(self, ts: datetime) -> SimMessage:
        """Return the next heartbeat sample."""
        self.seq += 1
        return sample(
            self.device_id,
            ts,
            self.seq,
            {
                "battery_pct": 90.0,
                "temp_c": round(20 + self._rng.uniform(-2, 2), 1),
                "rsrp_dbm": float(self._rng.randint(-110, -70)),
                "smoke_pct": 0.0,
            },
        )


def stream(
    device_ids: list[str], *, start: datetime, count: int, step: timedelta, prefix: str = PREFIX
) -> Iterator[SimMessage]:
    """Yield ``count`` single-sample messages spread round-robin over ``device_ids``."""
    sims = [HydrantSim(d, seed=i) for i, d in enumerate(device_ids)]
    for n in range(count):
        sim = sims[n % len(sims)]
        msg = sim.tick(start + step * (n // len(sims)))
        yield SimMessage(telemetry_topic(sim.device_id, prefix), msg.payload, msg.expected)
