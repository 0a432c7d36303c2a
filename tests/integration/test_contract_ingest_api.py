"""CONTRACT §1 and §4 over the real broker, database and API, found by auditing against them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from devices.geo import from_wgs84
from tests.fix_ingest import IngestHarness, wait_until

T0 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


def _sample(h: IngestHarness, dev: str, ts: datetime, seq: int, value: float) -> tuple[str, bytes]:
    doc = {"ts": ts.isoformat(), "seq": seq, "values": {"pressure_mpa": value}}
    return f"{h.prefix}/d/{dev}/telemetry", json.dumps(doc).encode()


def test_conflicting_resend_changes_neither_readings_nor_latest(
    ingest: IngestHarness, client: TestClient, auth: dict[str, str]
) -> None:
    # "a different value under an identity already stored is kept as a conflict and counted,
    # never silently overwritten": that holds for the device view's latest values too.
    dev = ingest.device("CONFLICT")
    ingest.register(dev)
    ingest.publisher.publish_all([_sample(ingest, dev, T0, 7, 0.31)])
    status = "SELECT latest FROM device_status WHERE device_id = %s"
    wait_until(lambda: ingest.scalar(status, dev) is not None, what="the first sample")
    conflicts = "SELECT count(*) FROM ingest_conflicts WHERE device_id = %s"
    ingest.publisher.publish_all([_sample(ingest, dev, T0, 7, 0.99)])
    wait_until(lambda: ingest.scalar(conflicts, dev) == 1, what="the conflict")

    readings = client.get(
        f"/api/v1/devices/{dev}/readings", params={"metric": "pressure_mpa"}, headers=auth
    ).json()["items"]
    assert [(r["value"], r["seq"]) for r in readings] == [(0.31, 7)]
    latest = client.get(f"/api/v1/devices/{dev}", headers=auth).json()["latest"]
    assert latest["pressure_mpa"]["value"] == 0.31


def test_conflicting_twins_in_one_message_leave_the_stored_one_latest(
    ingest: IngestHarness, client: TestClient, auth: dict[str, str]
) -> None:
    # Two values under one identity in one message: one is stored, the other is the conflict;
    # the device view shows the stored one, and a new later sample still becomes latest.
    dev = ingest.device("TWIN")
    ingest.register(dev)
    doc = {
        "samples": [
            {"ts": T0.isoformat(), "seq": 1, "values": {"pressure_mpa": 0.20}},
            {"ts": T0.isoformat(), "seq": 1, "values": {"pressure_mpa": 0.90}},
        ]
    }
    topic = f"{ingest.prefix}/d/{dev}/telemetry"
    ingest.publisher.publish_all([(topic, json.dumps(doc).encode())])
    conflicts = "SELECT count(*) FROM ingest_conflicts WHERE device_id = %s"
    wait_until(lambda: ingest.scalar(conflicts, dev) == 1, what="the conflict")
    stored = ingest.scalar("SELECT value FROM readings WHERE device_id = %s", dev)
    view = client.get(f"/api/v1/devices/{dev}", headers=auth).json()
    assert view["latest"]["pressure_mpa"]["value"] == stored
    assert view["last_seen"] is not None

    ingest.publisher.publish_all([_sample(ingest, dev, T0 + timedelta(minutes=1), 2, 0.25)])
    count = "SELECT count(*) FROM readings WHERE device_id = %s"
    wait_until(lambda: ingest.scalar(count, dev) == 2, what="the later sample")
    latest = client.get(f"/api/v1/devices/{dev}", headers=auth).json()["latest"]
    assert latest["pressure_mpa"]["value"] == 0.25


def test_device_view_answers_in_the_crs_asked_for(
    ingest: IngestHarness, client: TestClient, auth: dict[str, str]
) -> None:
    # §4: "coordinates are WGS-84 lat/lon unless ?crs=gcj02|bd09 asks otherwise".
    dev = ingest.device("CRS")
    ingest.register(dev, lat=31.280844, lon=120.596931)
    url = f"/api/v1/devices/{dev}"
    plain = client.get(url, headers=auth).json()
    assert (plain["lat"], plain["lon"]) == pytest.approx((31.280844, 120.596931))
    for crs in ("gcj02", "bd09"):
        shown = client.get(url, params={"crs": crs}, headers=auth).json()
        assert (shown["lat"], shown["lon"]) == pytest.approx(
            from_wgs84(31.280844, 120.596931, crs), abs=1e-9
        ), crs
    # DOMAIN §5's test vector
    gcj = client.get(url, params={"crs": "gcj02"}, headers=auth).json()
    assert (gcj["lat"], gcj["lon"]) == pytest.approx((31.278648624428175, 120.60109998322247))
    bad = client.get(url, params={"crs": "osgb36"}, headers=auth)
    assert bad.status_code == 422
    assert "error" in bad.json()
