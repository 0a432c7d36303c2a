"""The console's lists (units, devices, staff) scoped to the token's areas, paged by cursor and
filtered; and a key unit's file with its devices, hazards, cases, false alarms and checks."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from simulators.grid_layout import generate_street, grid_centres
from tests.fix_api import bearer

LAT, LON = 30.2741, 120.1551
STREET = "330106009"


@pytest.fixture
def world(client: TestClient, db_url: str) -> dict[str, Any]:
    """Two communities of two grids; units A (grid 1), B (other community), C (no position)."""
    street = generate_street(
        lat=LAT, lon=LON, street_code=STREET, communities=2, grids_per_community=2
    )
    answer = client.post(
        "/api/v1/grids/import",
        content=json.dumps(street, ensure_ascii=False).encode(),
        params={"replace": "true"},  # no grid another test merged may cover the units
        headers={**bearer(db_url), "Content-Type": "application/geo+json"},
    )
    assert answer.status_code == 200, answer.text
    centres = grid_centres(street)
    g1 = min(centres)
    g2 = max(centres)  # in the second community
    assert g1[:12] != g2[:12]
    tag = uuid.uuid4().hex[:6].upper()
    ids = {k: f"{k}-{tag}" for k in ("A", "B", "C", "D1", "D2", "S1", "S2", "S3")}
    now = datetime.now(UTC)
    with psycopg.connect(db_url) as conn:
        for key, level, point in (("A", 1, centres[g1]), ("B", 2, centres[g2]), ("C", 3, None)):
            conn.execute(
                "INSERT INTO key_units (unit_id, name, level, lat, lon, responsible)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (ids[key], key, level, *(point or (None, None)), f"boss-{tag}"),
            )
        for key, unit, point in (("D1", "A", centres[g1]), ("D2", "B", centres[g2])):
            conn.execute(
                "INSERT INTO devices (device_id, kind, unit_id, lat, lon, heartbeat_s)"
                " VALUES (%s, 'extinguisher', %s, %s, %s, 60)",
                (ids[key], ids[unit], *point),
            )
        conn.execute(
            "INSERT INTO device_status (device_id, last_received_at, last_ts) VALUES (%s, %s, %s)",
            (ids["D1"], now, now),
        )
        for key, area in (("S1", g1), ("S2", g2[:12]), ("S3", None)):
            conn.execute(
                "INSERT INTO staff (staff_id, name, role, area) VALUES (%s, %s, %s, %s)",
                (ids[key], key, f"worker-{tag}", area),
            )
    return {"ids": ids, "g1": g1, "g2": g2, "tag": tag, "now": now}


def _ids(answer: Any, field: str) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [item[field] for item in answer.json()["items"]]


def _all_pages(
    client: TestClient, path: str, params: dict[str, Any], auth: Any, field: str
) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(20):
        answer = client.get(
            path, params={**params, **({"cursor": cursor} if cursor else {})}, headers=auth
        )
        seen += _ids(answer, field)
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("paging did not end")


def test_units_page_by_cursor_and_filter(
    client: TestClient, db_url: str, world: dict[str, Any]
) -> None:
    ids, admin = world["ids"], bearer(db_url)
    params = {"responsible": f"boss-{world['tag']}", "limit": 1}
    assert _all_pages(client, "/api/v1/units", params, admin, "unit_id") == sorted(
        [ids["A"], ids["B"], ids["C"]]
    )
    # A full last page has no cursor to an empty one.
    full = client.get("/api/v1/units", params={**params, "limit": 3}, headers=admin)
    assert full.json()["next_cursor"] is None
    assert _ids(
        client.get("/api/v1/units", params={**params, "level": 2}, headers=admin), "unit_id"
    ) == [ids["B"]]
    by_grid = client.get(
        "/api/v1/units", params={**params, "limit": 10, "grid": world["g1"]}, headers=admin
    )
    assert _ids(by_grid, "unit_id") == [ids["A"]]


def test_lists_are_scoped_to_the_tokens_areas(
    client: TestClient, db_url: str, world: dict[str, Any]
) -> None:
    ids, tag = world["ids"], world["tag"]
    community = bearer(db_url, role="operator", areas=[world["g1"][:12]])
    street = bearer(db_url, role="operator", areas=[STREET])
    units = {"responsible": f"boss-{tag}"}
    assert _all_pages(client, "/api/v1/units", units, community, "unit_id") == [ids["A"]]
    assert _all_pages(client, "/api/v1/units", units, street, "unit_id") == [ids["A"], ids["B"]]
    devices = {"kind": "extinguisher", "limit": 1000}
    seen = _ids(client.get("/api/v1/devices", params=devices, headers=community), "device_id")
    assert ids["D1"] in seen
    assert ids["D2"] not in seen
    staff = {"role": f"worker-{tag}"}
    assert _all_pages(client, "/api/v1/staff", staff, community, "staff_id") == [ids["S1"]]
    assert _all_pages(client, "/api/v1/staff", staff, street, "staff_id") == [ids["S1"], ids["S2"]]
    everyone = _all_pages(client, "/api/v1/staff", staff, bearer(db_url), "staff_id")
    assert everyone == [ids["S1"], ids["S2"], ids["S3"]]
    assert _all_pages(
        client, "/api/v1/staff", {**staff, "area": world["g2"][:12]}, bearer(db_url), "staff_id"
    ) == [ids["S2"]]


def test_devices_show_and_filter_by_status(
    client: TestClient, db_url: str, world: dict[str, Any]
) -> None:
    ids, admin = world["ids"], bearer(db_url)
    answer = client.get("/api/v1/devices", params={"unit_id": ids["A"]}, headers=admin)
    assert _ids(answer, "device_id") == [ids["D1"]]
    assert answer.json()["items"][0]["status"] == "online"
    unknown = client.get(
        "/api/v1/devices", params={"status": "unknown", "limit": 1000}, headers=admin
    )
    assert ids["D2"] in _ids(unknown, "device_id")
    assert ids["D1"] not in _ids(unknown, "device_id")


def _hazard(
    conn: Any,
    *,
    rule: str,
    kind: str,
    unit: str,
    device: str | None,
    opened: datetime,
    cleared: datetime | None,
) -> int:
    subject = device or unit
    row = conn.execute(
        "INSERT INTO hazards (rule_id, kind, severity, status, subject_type, subject_id, key,"
        " device_id, unit_id, opened_at, cleared_at, episode)"
        " VALUES (%s, %s, 'warning', %s, %s, %s, %s, %s, %s, %s, %s,"
        " (SELECT count(*) + 1 FROM hazards WHERE subject_id = %s AND rule_id = %s)) RETURNING id",
        (
            rule,
            kind,
            "cleared" if cleared else "open",
            "device" if device else "unit",
            subject,
            f"{subject}/{rule}",
            device,
            unit,
            opened,
            cleared,
            subject,
            rule,
        ),
    ).fetchone()
    return int(row[0])


def test_unit_file(client: TestClient, db_url: str, world: dict[str, Any]) -> None:
    ids, now = world["ids"], world["now"]
    jan, feb = datetime(2026, 1, 10, tzinfo=UTC), datetime(2026, 2, 10, tzinfo=UTC)
    with psycopg.connect(db_url) as conn:
        for opened in (jan, jan + timedelta(days=3), feb):
            _hazard(
                conn,
                rule="unit_false_alarms",
                kind="false_alarms",
                unit=ids["A"],
                device=None,
                opened=opened,
                cleared=opened + timedelta(days=1),
            )
        monthly_check = partial(
            _hazard,
            conn,
            rule="extinguisher_monthly_check",
            kind="dates",
            unit=ids["A"],
            device=ids["D1"],
        )
        done = monthly_check(opened=jan, cleared=jan + timedelta(days=2))
        overdue = monthly_check(opened=feb, cleared=None)
        conn.execute(
            "INSERT INTO cases (case_id, category, urgency, status, unit_id, created_at,"
            " updated_at, open_key)"
            " VALUES (%s, 'fire_alarm', 'urgent', 'reported', %s, %s, %s, %s)",
            (f"C-{world['tag']}", ids["A"], now, now, ids["A"]),
        )
    answer = client.get(f"/api/v1/units/{ids['A']}", headers=bearer(db_url))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["unit"]["level"] == 1
    assert body["unit"]["responsible"] == f"boss-{world['tag']}"
    assert [(d["device_id"], d["status"]) for d in body["devices"]] == [(ids["D1"], "online")]
    assert [h["id"] for h in body["open_hazards"]] == [overdue]
    assert [c["id"] for c in body["cases"]] == [f"C-{world['tag']}"]
    assert body["false_alarms"] == [
        {"month": "2026-01", "count": 2},
        {"month": "2026-02", "count": 1},
    ]
    checks = {i["hazard_id"]: i for i in body["inspections"]}
    assert set(checks) == {done, overdue}
    assert checks[done]["checked_at"] is not None
    assert checks[overdue]["checked_at"] is None
    # Outside the caller's areas it is answered like a missing unit.
    other = bearer(db_url, role="operator", areas=[world["g2"][:12]])
    hidden = client.get(f"/api/v1/units/{ids['A']}", headers=other)
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/units/NOPE", headers=bearer(db_url)).status_code == 404
