"""A panel's fire alarm over GB/T 26875.3 TCP to a case: the gateway stores it through ingest's
path, the rules raise a hazard in the key unit's grid, dispatch opens a case, and the live feed's
log carries ``hazard.opened``; all the while the device had its confirm well before it would
have resent."""

from __future__ import annotations

import json

import psycopg

from devices import registry
from devices import service as devices_service
from dispatch.flows import DispatchService
from rules.flows import RulesService
from simulators.transmission import TransmissionDevice
from tests.fix_ingest import wait_until
from tests.integration.dispatch_support import dispatch, grids, rules
from tests.integration.gateway_support import GatewayHarness, gateways
from tests.integration.test_gateway import NOW

__all__ = ["dispatch", "gateways", "grids", "rules"]  # fixtures, used by name


def test_a_panels_fire_alarm_becomes_a_hazard_in_the_units_grid_a_case_and_a_feed_event(
    gateways: GatewayHarness,
    rules: RulesService,
    dispatch: DispatchService,
    grids: dict[str, tuple[float, float]],
) -> None:
    grid = sorted(grids)[2]
    lat, lon = grids[grid]
    unit, dev, address = f"KU-{gateways.tag}", f"UITD-{gateways.tag}", gateways.address()
    units = registry.parse_units(
        json.dumps([{"unit_id": unit, "name": "重点单位", "lat": lat, "lon": lon}]), fmt="json"
    )
    with psycopg.connect(gateways.db_url) as conn:
        devices_service.upsert_units(conn, rows=units.rows)
    gateways.register(dev, address, unit_id=unit)  # no position of its own: the unit's
    port = gateways.start().gateway.port
    assert port is not None

    with TransmissionDevice("127.0.0.1", port, address=address) as panel:
        sent = panel.fire_alarm(3, 7, at=NOW, description="3区7号感烟探测器")
    assert sent.confirmed
    assert sent.attempts == 1
    assert sent.latency_s is not None
    assert sent.latency_s < panel.resend_after_s

    rules.process_pending()
    hazards = gateways.rows(
        "SELECT id, rule_id, unit_id, grid_code, status FROM hazards WHERE device_id = %s", dev
    )
    assert [h[1:] for h in hazards] == [("transmission_fire_alarm", unit, grid, "open")]
    hazard_id = hazards[0][0]
    dispatch.process_pending()
    cases = gateways.rows(
        "SELECT c.category, c.grid_code, h.hazard_id FROM cases c"
        " JOIN case_hazards h USING (case_id) WHERE c.unit_id = %s",
        unit,
    )
    assert cases == [("fire", grid, hazard_id)]
    wait_until(
        lambda: bool(
            gateways.rows(
                "SELECT 1 FROM event_log WHERE kind = 'hazard.opened' AND subject = %s",
                str(hazard_id),
            )
        ),
        what="hazard.opened on the live feed's log",
    )
