"""A small world behind the API, made the way its data arrives: grids, units, devices and staff
imported over HTTP, readings and a patrol track fed through the rejected replay (a device's
messages that came before it was registered), a resident's report with a PNG photo, a case
with its staff, a rejected message and a failed webhook delivery.

The schemathesis test fills it before drawing requests, so lists answer real items and every
item route has one to show.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from api.tokens import create_token
from simulators.grid_layout import generate_street, grid_centres
from simulators.nmea_out import SimFix, write
from simulators.sensors import batch
from simulators.terminal import make_photo
from tests.integration.sweep_support import Place, cst

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)


@dataclass(frozen=True)
class World:
    """The IDs of what was made, for the item routes."""

    street: str
    grids: dict[str, Any]  # the street's GeoJSON, as imported
    grid: str
    lat: float
    lon: float
    device: str
    terminal: str
    unit: str
    staff: str
    hazard: int
    # Two of each item a write changes for good: one for drawn requests, one left for examples.
    case_id: str
    spare_case_id: str
    case_worker_token: str  # a token of the cases' grid worker, for case actions
    report_id: str
    photo: str
    rating_token: str
    rejected: int
    webhook_event: int
    spare_webhook_event: int


def build_world(client: httpx.Client, db_url: str) -> World:
    """Make the world through ``client`` (an admin's) and ``db_url``; return its IDs."""
    tag = uuid.uuid4().hex[:6]
    street_code = f"330106{uuid.uuid4().int % 1000:03d}"  # a street of Hangzhou's Xihu district
    street = generate_street(
        lat=30.25, lon=120.15, street_code=street_code, communities=1, grids_per_community=2
    )
    _ok(client.post("/api/v1/grids/import", json=street, params={"source": "world"}))
    grid, (lat, lon) = sorted(grid_centres(street).items())[0]
    device, terminal, unit, staff = f"HY-{tag}", f"T-{tag}", f"U-{tag}", f"S-{tag}"
    _ok(client.post("/api/v1/units/import", json=[
        {"unit_id": unit, "name": "西湖大厦", "level": 1, "address": "文三路1号", "lat": lat,
         "lon": lon, "responsible": "李四"},
    ]))  # fmt: skip
    _ok(client.post("/api/v1/devices/import", json=[
        {"device_id": device, "kind": "hydrant", "model": "MK-P1", "unit_id": unit, "lat": lat,
         "lon": lon, "hydrant_class": "municipal", "heartbeat_s": 3600},
        {"device_id": terminal, "kind": "terminal", "model": "PAD"},
    ]))  # fmt: skip
    _ok(client.post("/api/v1/staff/import", json=[
        {"staff_id": staff, "name": "王五", "role": "grid_worker", "area": grid,
         "terminal_id": terminal, "phone": "13800000000"},
    ]))  # fmt: skip
    _early_messages(db_url, device=device, terminal=terminal, lat=lat, lon=lon)
    replayed = _ok(
        client.post(
            "/api/v1/rejected/replay", json={"reasons": ["unknown_device", "unknown_terminal"]}
        )
    )
    assert replayed["readings"] > 0, replayed
    assert replayed["fixes"] > 0, replayed

    photo = make_photo(seed=7, fmt="PNG")
    report = _ok(client.post("/api/v1/public/reports", json={
        "category": "blocked_exit", "description": "消防通道堆物",
        "position": {"lat": lat, "lon": lon}, "photos": [_b64(photo)],
    }))  # fmt: skip
    with psycopg.connect(db_url) as conn:
        hazard = _hazard(conn, device=device, unit=unit, grid=grid)
        place = Place(conn)
        case_id, spare_case_id = (place.open(conn, cst(11, 26, 10)).case_id for _ in range(2))
        worker = place.staff["grid_worker"]
        worker_token = create_token(conn, role="grid_worker", areas=[], staff_id=worker)
        rejected = _rejected(conn)
        event, spare_event = (_failed_delivery(conn, case_id) for _ in range(2))
    return World(
        street=street_code,
        grids=street,
        grid=grid,
        lat=lat,
        lon=lon,
        device=device,
        terminal=terminal,
        unit=unit,
        staff=staff,
        hazard=hazard,
        case_id=case_id,
        spare_case_id=spare_case_id,
        case_worker_token=worker_token,
        report_id=report["report_id"],
        photo=report["photos"][0],
        rating_token=report["rating_token"],
        rejected=rejected,
        webhook_event=event,
        spare_webhook_event=spare_event,
    )


def _ok(answer: httpx.Response) -> Any:
    assert answer.status_code == 200, (answer.request.url, answer.text)
    return answer.json()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _early_messages(db_url: str, *, device: str, terminal: str, lat: float, lon: float) -> None:
    """Store, as ingest would have, the device's and terminal's messages that came too early."""
    samples = [(T0 + timedelta(minutes=m), m + 1, {"pressure_mpa": 0.3}) for m in range(20)]
    telemetry = batch(device, samples)
    fixes = [
        SimFix(ts=T0 + timedelta(seconds=2 * i), lat=lat + i * 1e-5, lon=lon) for i in range(30)
    ]
    with psycopg.connect(db_url) as conn:
        for topic, reason, payload in (
            (telemetry.topic, "unknown_device", telemetry.payload),
            (f"fg/v1/t/{terminal}/nmea", "unknown_terminal", write(fixes)),
        ):
            conn.execute(
                "INSERT INTO rejected_messages (received_at, topic, reason, payload)"
                " VALUES (now(), %s, %s, %s)",
                (topic, reason, payload),
            )


def _hazard(conn: psycopg.Connection[Any], *, device: str, unit: str, grid: str) -> int:
    row = conn.execute(
        "INSERT INTO hazards (rule_id, kind, severity, status, subject_type, subject_id, key,"
        " device_id, unit_id, opened_at, episode, grid_code, community_code, street_code,"
        " lat, lon) VALUES ('hydrant_municipal_low', 'threshold', 'warning', 'open', 'device',"
        " %s, %s, %s, %s, now(), 1, %s, %s, %s, 30.25, 120.15) RETURNING id",
        (device, device + "/pressure_mpa", device, unit, grid, grid[:12], grid[:9]),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _failed_delivery(conn: psycopg.Connection[Any], case_id: str) -> int:
    event = uuid.uuid4().int % 10**12
    conn.execute(
        "INSERT INTO webhook_deliveries (event_id, kind, subject, body, created_at, attempts,"
        " last_status, last_error, last_attempt_at, failed_at)"
        " VALUES (%s, 'case.created', %s, '{}', now(), 8, 502, 'bad gateway', now(), now())",
        (event, case_id),
    )
    return event


def _rejected(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "INSERT INTO rejected_messages (received_at, topic, reason, detail, payload)"
        " VALUES (now(), 'fg/v1/d/X/telemetry', 'invalid_json', 'line 1', %s) RETURNING id",
        (json.dumps({"ts": "soon"}).encode()[:-1],),
    ).fetchone()
    assert row is not None
    return int(row[0])
