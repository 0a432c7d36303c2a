"""The demo fleet ``firegrid up`` runs on the embedded services, so something happens.

It registers ``simulators.fleet``'s units, devices and grid worker, imports the demo street's
grids when the database has none yet (a real city's grids are never replaced), and publishes
the fleet every few seconds: hydrants and smoke alarms reporting, a worker walking a grid, and
every ten minutes one hydrant losing pressure for two, so the rules role has hazards to raise.

On a broker that enforces device credentials each simulated device connects as itself, as a
real one must: the demo gives its devices new secrets at every start (only hashes are kept, so
last start's are gone) and publishes each device's messages with its own.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

import psycopg

from devices import flows, registry, service
from devices.broker_accounts import BrokerAccounts
from firegrid.embedded.accounts import with_user
from gateway.config import parse_listen
from infra.clock import SYSTEM_CLOCK, Clock
from infra.roles import ThreadRole
from simulators.fleet import (
    TRANSMISSION_ADDRESS,
    DemoFleetSim,
    demo_devices,
    demo_grids,
    demo_staff,
    demo_units,
)
from simulators.models import SimMessage
from simulators.publish import Publisher
from simulators.transmission import TransmissionDevice

log = logging.getLogger(__name__)


def register(db_url: str, *, today: datetime) -> int:
    """Register the demo rows (and grids if none exist); return the number of devices."""
    return len(_register(db_url, today=today))


def _register(db_url: str, *, today: datetime) -> list[str]:
    """Register the demo rows (and grids if none exist); return the device IDs."""
    from grids.models import parse_grids
    from grids.service import current_version, import_grids

    units = registry.parse_units(json.dumps(demo_units()), fmt="json")
    devices = registry.parse_devices(json.dumps(demo_devices(today.date())), fmt="json")
    staff = registry.parse_staff(json.dumps(demo_staff()), fmt="json")
    with psycopg.connect(db_url) as conn:
        if current_version(conn) is None:
            import_grids(conn, grid_set=parse_grids(demo_grids()), source="demo")
        service.upsert_units(conn, rows=units.rows)
        service.upsert_devices(conn, rows=devices.rows)
        service.upsert_staff(conn, rows=staff.rows)
    return [row.device_id for row in devices.rows]


def issue_credentials(db_url: str, ids: list[str], accounts: BrokerAccounts) -> dict[str, str]:
    """Give each demo device a new secret, at the broker too; return them by device ID."""
    with psycopg.connect(db_url) as conn:
        return {
            i: flows.rotate_credential(conn, username=i, accounts=accounts).password for i in ids
        }


class DemoFleet(ThreadRole):
    """The demo role: registers the demo fleet and publishes it every few seconds."""

    def __init__(
        self,
        *,
        db_url: str,
        mqtt_url: str,
        prefix: str,
        period_s: float = 5.0,
        clock: Clock = SYSTEM_CLOCK,
        gateway: str | None = None,
        accounts: BrokerAccounts | None = None,
        secrets_out: dict[str, str] | None = None,
    ) -> None:
        super().__init__("demo")
        self._gateway = gateway  # FIREGRID_GB26875: the demo panel reports there when set
        self._db_url = db_url
        self._mqtt_url = mqtt_url
        # None: the broker takes anyone (tests), and one client publishes for every device.
        self._accounts = accounts
        self._secrets: dict[str, str] = {}
        self._secrets_out = secrets_out  # told the secrets at each start (the first command)
        self._prefix = prefix
        self._clock = clock
        self._period = period_s

    def start(self) -> None:
        """Register the fleet and start publishing."""
        ids = _register(self._db_url, today=self._clock.now())
        if self._accounts is not None:
            self._secrets = issue_credentials(self._db_url, ids, self._accounts)
            if self._secrets_out is not None:
                self._secrets_out.update(self._secrets)
        print(f"demo: {len(ids)} simulated devices publishing every {self._period:.0f}s")
        super().start()

    def run(self) -> None:
        """Publish the fleet every period until stopped, each device with its credential."""
        fleet = DemoFleetSim(self._clock.now(), prefix=self._prefix)
        publishers: dict[str, Publisher] = {}
        panel = self._panel()
        try:
            self.set_state("running")
            while not self.stopping.wait(self._period):
                now = self._clock.now()
                by_sender: dict[str, list[SimMessage]] = {}
                for message in fleet.messages(now):
                    by_sender.setdefault(self._sender(message.topic), []).append(message)
                for sender, messages in by_sender.items():
                    if sender not in publishers:
                        publishers[sender] = self._publisher(sender)
                    publishers[sender].publish_all(messages)
                if panel is not None:
                    # The unit's pump-room pressure (kPa), over TCP; a missed confirm is only
                    # logged: the demo must go on while the gateway restarts.
                    sent = panel.pressure(5, 1, 320.0 + 10 * (now.minute % 3), at=now)
                    if not sent.confirmed:
                        log.info("demo panel: frame %d not confirmed", sent.serial)
        finally:
            for publisher in publishers.values():
                publisher.close()
            if panel is not None:
                panel.close()

    def _sender(self, topic: str) -> str:
        """Return the device whose credential publishes ``topic``; "" for FireGrid's own."""
        # {prefix}/d/{id}/... or {prefix}/t/{id}/...
        sender = topic.removeprefix(f"{self._prefix}/").split("/")[1:2]
        return sender[0] if sender and sender[0] in self._secrets else ""

    def _publisher(self, sender: str) -> Publisher:
        if not sender:
            return Publisher(self._mqtt_url, client_id="firegrid-demo")
        url = with_user(self._mqtt_url, sender, self._secrets[sender])
        return Publisher(url, client_id=f"demo-{sender}")

    def _panel(self) -> TransmissionDevice | None:
        if self._gateway is None:
            return None
        host, port = parse_listen(self._gateway)
        host = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104 - a bind-all
        return TransmissionDevice(
            host, port, address=TRANSMISSION_ADDRESS, resend_after_s=2.0, retries=0
        )
