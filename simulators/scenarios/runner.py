"""Run a scenario against FireGrid: register its rows, publish its timeline, compare hazards.

The runner knows the registry (``devices``) and the broker; what lies beyond ingest (importing
grids, running the rules, reading hazards) comes in through ``Hooks``, so simulators keep
depending on ``devices`` only (DESIGN.md §7). Tests pass hooks that drive the rules service
in-process; ``firegrid simulate`` passes hooks for a FireGrid that runs its own rules role.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import psycopg

from devices import registry, service
from simulators.models import SimMessage
from simulators.publish import Publisher
from simulators.scenarios.models import (
    ObservedHazard,
    Publish,
    Scenario,
    Step,
    Tick,
    Transmit,
)
from simulators.transmission import Delivery, TransmissionDevice


class ScenarioError(RuntimeError):
    """A scenario could not be set up or its data did not arrive."""


class GatewayOffError(ScenarioError):
    """The scenario speaks GB/T 26875.3 but no gateway address is configured."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name}: skipped: it sends GB/T 26875.3 frames over TCP and the gateway is off"
            " (set FIREGRID_GB26875=host:port where FireGrid's gateway listens)"
        )


def host_port(address: str) -> tuple[str, int]:
    """Split ``host:port`` (as FIREGRID_GB26875 writes it; settings validated it)."""
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


class Transmitter:
    """The scenario's transmission devices, one TCP session per address, opened on first use."""

    def __init__(self, name: str, gateway: str | None) -> None:
        self._name, self._gateway = name, gateway
        self._devices: dict[int, TransmissionDevice] = {}

    def send(self, step: Transmit, at: datetime) -> None:
        """Send one frame and wait for its confirm (the gateway stored it by then)."""
        if self._gateway is None:
            raise GatewayOffError(self._name)
        device = self._devices.get(step.address)
        if device is None:
            host, port = host_port(self._gateway)
            device = self._devices[step.address] = TransmissionDevice(
                host, port, address=step.address
            )
        sent: Delivery
        if step.what == "fire_alarm":
            sent = device.fire_alarm(step.zone, step.position, at=at)
        elif step.what == "fault":
            sent = device.fault(step.zone, step.position, at=at)
        elif step.what == "pressure":
            sent = device.pressure(step.zone, step.position, step.kpa, at=at)
        else:
            sent = device.power_failure(at=at)
        if not sent.confirmed:
            why = f" (last: {sent.error})" if sent.error else ""
            raise ScenarioError(
                f"{self._name}: the gateway at {self._gateway} did not confirm"
                f" {step.what} from {step.address} after {sent.attempts} attempts{why}"
            )

    def close(self) -> None:
        """Close every session."""
        for device in self._devices.values():
            device.close()


class Hooks(Protocol):
    """What a run needs beyond ingest."""

    def import_grids(self, collection: dict[str, Any]) -> None:
        """Import the scenario's grids as the current version."""

    def evaluate(self) -> None:
        """Run the rules over everything committed (a no-op when a rules role does it)."""

    def tick(self, now: datetime, checks: tuple[str, ...]) -> None:
        """Run the clock-driven rules named in ``checks`` at ``now``."""

    def hazards(self, scenario: Scenario) -> list[ObservedHazard]:
        """Return every stored hazard about the scenario's devices, units and grids."""


def register(db_url: str, scenario: Scenario) -> None:
    """Upsert the scenario's units, devices and staff, refusing rows the registry rejects."""
    units = registry.parse_units(json.dumps(scenario.units), fmt="json")
    devices = registry.parse_devices(json.dumps(scenario.devices), fmt="json")
    staff = registry.parse_staff(json.dumps(scenario.staff), fmt="json")
    errors = [*units.errors, *devices.errors, *staff.errors]
    if errors:
        raise ScenarioError(f"{scenario.name}: registry rows refused: {errors[0]}")
    with psycopg.connect(db_url) as conn:
        if units.rows:
            service.upsert_units(conn, rows=units.rows)
        if devices.rows:
            service.upsert_devices(conn, rows=devices.rows)
        if staff.rows:
            service.upsert_staff(conn, rows=staff.rows)


def identities(messages: Sequence[SimMessage]) -> set[tuple[str, ...]]:
    """Return the distinct records ``messages`` must store (a re-sent one counts once)."""
    out: set[tuple[str, ...]] = set()
    for m in messages:
        for rec in m.expected:
            what = rec.metric if hasattr(rec, "metric") else rec.type
            out.add(("r", rec.device_id, rec.ts.isoformat(), str(rec.seq), str(what)))
        out.update(("f", f.terminal_id, f.ts.isoformat()) for f in m.expected_fixes)
    return out


def stored_count(db_url: str, scenario: Scenario) -> int:
    """Return how many readings, events and fixes of the scenario's devices are stored."""
    ids = sorted(scenario.device_ids)
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM readings WHERE device_id = ANY(%(ids)s))"
            " + (SELECT count(*) FROM device_events WHERE device_id = ANY(%(ids)s))"
            " + (SELECT count(*) FROM fixes WHERE terminal_id = ANY(%(ids)s))",
            {"ids": ids},
        ).fetchone()
    return int(row[0]) if row else 0


def wait_stored(
    db_url: str, scenario: Scenario, *, want: int, timeout_s: float, also: Callable[[], bool]
) -> None:
    """Wait until ``want`` records of the scenario are stored and ``also`` holds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if stored_count(db_url, scenario) >= want and also():
            return
        time.sleep(0.05)
    have = stored_count(db_url, scenario)
    raise ScenarioError(f"{scenario.name}: {have} of {want} records stored after {timeout_s}s")


def run(
    scenario: Scenario,
    *,
    db_url: str,
    publisher: Publisher,
    hooks: Hooks,
    speed: float = 0.0,
    timeout_s: float = 60.0,
    committed: Callable[[int], bool] = lambda _n: True,
    progress: Callable[[str], None] = lambda _s: None,
    gateway: str | None = None,
) -> list[ObservedHazard]:
    """Register, import grids, publish phase by phase (rules between), return the hazards.

    ``speed`` > 0 paces publishing by device time (2.0: twice real time); 0 sends at once.
    ``committed(n)`` may add a check that the first ``n`` published messages are committed
    (a test knows its ingest's batches; a running FireGrid is judged by stored records).
    ``gateway`` (``host:port``) is where ``Transmit`` steps go; a scenario with such steps
    and no gateway raises ``GatewayOffError`` before anything is registered.
    """
    if scenario.transmits and gateway is None:
        raise GatewayOffError(scenario.name)
    register(db_url, scenario)
    if scenario.grids is not None:
        hooks.import_grids(scenario.grids)
    progress(
        f"{scenario.name}: registered {len(scenario.units)} units, "
        f"{len(scenario.devices)} devices, {len(scenario.staff)} staff"
    )
    pending: list[SimMessage] = []
    sent: list[SimMessage] = []
    last_at: timedelta | None = None

    def flush() -> None:
        publisher.publish_all(pending, timeout_s=timeout_s)
        sent.extend(pending)
        pending.clear()
        n = len(sent)
        wait_stored(
            db_url,
            scenario,
            want=len(identities(sent)),
            timeout_s=timeout_s,
            also=lambda: committed(n),
        )
        hooks.evaluate()
        progress(f"{scenario.name}: {n} messages published and committed; rules ran")

    transmitter = Transmitter(scenario.name, gateway)
    step: Step
    try:
        for step in scenario.timeline:
            if isinstance(step, Publish):
                if speed > 0 and last_at is not None and step.at > last_at:
                    publisher.publish_all(pending, timeout_s=timeout_s)
                    sent.extend(pending)
                    pending.clear()
                    time.sleep((step.at - last_at).total_seconds() / speed)
                last_at = step.at
                pending.append(step.message)
                continue
            if isinstance(step, Transmit):
                transmitter.send(step, scenario.at(step.at))
                continue
            flush()
            if isinstance(step, Tick):
                hooks.tick(scenario.at(step.at), step.checks)
                progress(f"{scenario.name}: rules ticked at {scenario.at(step.at).isoformat()}")
    finally:
        transmitter.close()
    flush()
    return hooks.hazards(scenario)
