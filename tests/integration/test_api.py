"""The HTTP API over a real database: registry import, device view, readings, rejections."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.tokens import create_token
from simulators.sensors import batch
from tests.fix_ingest import IngestHarness, wait_until

T0 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


@pytest.fixture
def token(db_url: str) -> str:
    with psycopg.connect(db_url) as conn:
        return create_token(conn, role="admin", areas=[])


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_requests_without_a_valid_token_get_a_structured_401(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}):
        answer = client.get("/api/v1/devices/x", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "unauthorized"


def test_device_import_csv_answers_counts_and_row_errors(client: TestClient, token: str) -> None:
    tag = uuid.uuid4().hex[:6]
    units = client.post(  # a device naming an unregistered unit would be refused
        "/api/v1/units/import",
        content="unit_id,name\nU-1,金桥大厦\n",
        headers={**_auth(token), "Content-Type": "text/csv"},
    )
    assert units.status_code == 200, units.text
    csv = (
        "device_id,kind,model,unit_id,lat,lon,crs,heartbeat_s\n"
        f"{tag}-A,hydrant,MK-P1,U-1,31.2481,121.5875,gcj02,3600\n"
        f"{tag}-B,toaster,,,,,,\n"
        f"{tag}-C,smoke,S1,U-1,31.25,121.59,,86400\n"
    )
    answer = client.post(
        "/api/v1/devices/import", content=csv, headers={**_auth(token), "Content-Type": "text/csv"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["created"], body["updated"], body["rejected"]) == (2, 0, 1)
    assert body["errors"][0]["row"] == 2
    assert body["errors"][0]["field"] == "kind"
    again = client.post(
        "/api/v1/devices/import", content=csv, headers={**_auth(token), "Content-Type": "text/csv"}
    ).json()
    assert (again["created"], again["updated"]) == (0, 2)
    device = client.get(f"/api/v1/devices/{tag}-A", headers=_auth(token)).json()
    assert device["status"] == "unknown"
    assert device["last_seen"] is None
    # stored in WGS-84: the GCJ-02 input moved by a few hundred metres
    assert abs(device["lat"] - 31.2481) > 1e-4


def test_unparseable_import_is_a_400_with_a_reason(client: TestClient, token: str) -> None:
    answer = client.post(
        "/api/v1/devices/import",
        content=b'{"not": "an array"}',
        headers={**_auth(token), "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_input"


def test_readings_without_seq_page_with_a_null_seq(
    ingest: IngestHarness, client: TestClient, token: str
) -> None:
    dev = ingest.device("NOSEQ")
    ingest.register(dev, heartbeat_s=60)
    samples = [(T0 + timedelta(minutes=i), None, {"pressure_mpa": 0.3}) for i in range(30)]
    ingest.publisher.publish_all([batch(dev, samples, prefix=ingest.prefix)])
    wait_until(
        lambda: ingest.scalar("SELECT count(*) FROM readings WHERE device_id = %s", dev) == 30,
        what="30 readings",
    )
    url = f"/api/v1/devices/{dev}/readings"
    params = {"metric": "pressure_mpa", "limit": 20}
    first = client.get(url, params=params, headers=_auth(token)).json()
    assert first["items"][0] == {"ts": "2026-11-26T06:00:00Z", "value": 0.3, "seq": None}
    # The cursor keeps the stored "no seq" (-1), so cursors issued before stay valid.
    position = json.loads(base64.urlsafe_b64decode(first["next_cursor"] + "=="))
    assert position == {"ts": "2026-11-26T06:19:00+00:00", "seq": -1}
    rest = client.get(
        url, params={**params, "cursor": first["next_cursor"]}, headers=_auth(token)
    ).json()
    assert [i["ts"][11:16] for i in rest["items"]] == [f"06:{m}" for m in range(20, 30)]
    assert {i["seq"] for i in rest["items"]} == {None}


def test_device_view_readings_and_buckets_after_ingest(
    ingest: IngestHarness, client: TestClient, token: str
) -> None:
    dev = ingest.device("API")
    ingest.register(dev, heartbeat_s=60)
    samples = [
        (T0 + timedelta(minutes=i), i + 1, {"pressure_mpa": 0.30 + (i % 3) / 100})
        for i in range(30)
    ]
    ingest.publisher.publish_all([batch(dev, samples, prefix=ingest.prefix)])
    wait_until(
        lambda: ingest.scalar("SELECT count(*) FROM readings WHERE device_id = %s", dev) == 30,
        what="30 readings",
    )
    device = client.get(f"/api/v1/devices/{dev}", headers=_auth(token)).json()
    assert device["status"] == "online"
    assert device["latest"]["pressure_mpa"]["value"] == pytest.approx(0.32)
    assert device["latest"]["pressure_mpa"]["ts"].startswith("2026-11-26T06:29:00")

    url = f"/api/v1/devices/{dev}/readings"
    first = client.get(
        url, params={"metric": "pressure_mpa", "limit": 20}, headers=_auth(token)
    ).json()
    assert len(first["items"]) == 20
    assert first["next_cursor"]
    assert first["items"][0] == {"ts": "2026-11-26T06:00:00Z", "value": 0.30, "seq": 1}
    rest = client.get(
        url,
        params={"metric": "pressure_mpa", "limit": 20, "cursor": first["next_cursor"]},
        headers=_auth(token),
    ).json()
    assert [i["seq"] for i in rest["items"]] == list(range(21, 31))
    assert rest["next_cursor"] is None

    for bucket in ("5m", "10m", "90s"):
        buckets = client.get(
            url, params={"metric": "pressure_mpa", "bucket": bucket}, headers=_auth(token)
        ).json()["items"]
        assert sum(b["count"] for b in buckets) == 30, bucket
    five = client.get(
        url, params={"metric": "pressure_mpa", "bucket": "5m"}, headers=_auth(token)
    ).json()["items"]
    assert five[0] == {
        "ts": "2026-11-26T06:00:00Z",
        "avg": pytest.approx(0.308),
        "min": 0.30,
        "max": 0.32,
        "count": 5,
    }

    bad = client.get(
        url, params={"metric": "pressure_mpa", "bucket": "fortnight"}, headers=_auth(token)
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_bucket"


def test_rejected_messages_are_listed_with_their_payload(
    ingest: IngestHarness, client: TestClient, token: str
) -> None:
    dev = ingest.device("REJ")
    ingest.register(dev)
    topic = f"{ingest.prefix}/d/{dev}/telemetry"
    ingest.publisher.publish_all([(topic, b"{broken"), (topic, b"")])
    wait_until(lambda: len(ingest.rejected()) == 2, what="two rejections")
    items = client.get("/api/v1/rejected", params={"topic": topic}, headers=_auth(token)).json()[
        "items"
    ]
    assert {i["reason"] for i in items} == {"bad_json", "empty_payload"}
    payloads = {base64.b64decode(i["payload_b64"]) for i in items}
    assert payloads == {b"{broken", b""}
    assert all(i["received_at"].endswith("Z") for i in items)
    page = client.get(
        "/api/v1/rejected", params={"topic": topic, "limit": 1}, headers=_auth(token)
    ).json()
    assert len(page["items"]) == 1
    assert page["next_cursor"]


def test_health_and_metrics(client: TestClient) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["database"]["ok"]
    assert health.json()["broker"]["ok"]
    text = client.get("/metrics").text
    for name in (
        "firegrid_messages_received_total",
        "firegrid_commit_seconds_bucket",
        "firegrid_queue_depth",
    ):
        assert name in text


def test_unknown_device_is_a_structured_404(client: TestClient, token: str) -> None:
    answer = client.get("/api/v1/devices/NO-SUCH", headers=_auth(token))
    assert answer.status_code == 404
    assert json.loads(answer.text)["error"]["code"] == "not_found"
