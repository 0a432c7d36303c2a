"""GET /api/v1/gateway/connections and the gateway's /metrics, with a device connected."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from api.tokens import create_token
from simulators.transmission import TransmissionDevice
from tests.integration.gateway_support import GatewayHarness, gateways
from tests.integration.test_gateway import NOW

__all__ = ["gateways"]  # fixture, used by name


def test_connections_are_listed_city_wide_only_and_counted_in_metrics(
    gateways: GatewayHarness,
) -> None:
    role = gateways.start()
    port = role.gateway.port
    assert port is not None
    app = create_app(ApiSettings(db_url=gateways.db_url), broker_probe=lambda: True)
    app.state.gateway_connections = role.gateway.snapshot
    with psycopg.connect(gateways.db_url) as conn:
        city = create_token(conn, role="operator", areas=[])
        area = create_token(conn, role="operator", areas=["310115005"])
    address = gateways.address()
    with (
        TransmissionDevice("127.0.0.1", port, address=address) as unit,
        TestClient(app) as client,
    ):
        assert unit.pressure(5, 1, 320.0, at=NOW).confirmed
        assert unit.pressure(5, 1, 321.0, at=NOW).confirmed
        answer = client.get(
            "/api/v1/gateway/connections", headers={"Authorization": f"Bearer {city}"}
        )
        assert answer.status_code == 200, answer.text
        (item,) = answer.json()["items"]
        assert item["address"] == address
        assert (item["frames_in"], item["frames_out"]) == (2, 2)
        assert item["bytes_out"] == 60  # two 30-byte confirms
        assert item["bytes_in"] == 2 * 48
        refused = client.get(
            "/api/v1/gateway/connections", headers={"Authorization": f"Bearer {area}"}
        )
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
        text = client.get("/metrics").text
        assert "firegrid_gateway_connections 1.0" in text
        assert 'firegrid_gateway_answers_total{answer="confirm"}' in text
    unit.close()
