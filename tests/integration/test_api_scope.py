"""Route by route (issue 9 point 1): a token limited to one community never reads another
community's data. Every GET route of the app is called with such a token on objects placed in
the other community; each answers 403, 404 or a page that names none of them. A new route is
called too, and fails here until it is scoped."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from api.tokens import create_token
from grids.models import parse_grids
from grids.service import import_grids
from simulators.grid_layout import generate_street, grid_centres

STREET = "330107004"
INSIDE, OUTSIDE = STREET + "001", STREET + "002"
# Not data routes: the live feed streams until closed (its scope is tested with the feed), the
# public routes take no token.
_SKIPPED = {"/api/v1/stream", "/api/v1/public/ratings/{token}"}


def _seed(db_url: str) -> dict[str, str]:
    """Store a key unit, a device, a terminal, a report with a photo and a hazard in OUTSIDE."""
    tag = uuid.uuid4().hex[:8]
    street = generate_street(
        lat=30.30, lon=120.20, street_code=STREET, communities=2, grids_per_community=2
    )
    centres = grid_centres(street)
    out_grid = next(code for code in sorted(centres) if code.startswith(OUTSIDE))
    lat, lon = centres[out_grid]
    seeded = {
        "device": f"OUT-{tag}",
        "bare": f"BARE-{tag}",
        "terminal": f"TOUT-{tag}",
        "report": str(uuid.uuid4()),
        "photo": uuid.uuid4().hex + uuid.uuid4().hex,
        "community": OUTSIDE,
        "unit": f"UOUT-{tag}",
    }
    with psycopg.connect(db_url) as conn:
        import_grids(
            conn,
            grid_set=parse_grids(json.dumps(street).encode()),
            source="scope test",
        )
        conn.execute(
            "INSERT INTO key_units (unit_id, name, level, lat, lon) VALUES (%s, %s, 1, %s, %s)",
            (seeded["unit"], "外区单位", lat, lon),
        )
        conn.execute(
            "INSERT INTO devices (device_id, kind, lat, lon) VALUES (%s, 'hydrant', %s, %s),"
            " (%s, 'smoke', NULL, NULL), (%s, 'terminal', %s, %s)",
            (seeded["device"], lat, lon, seeded["bare"], seeded["terminal"], lat, lon),
        )
        conn.execute(
            "INSERT INTO hazard_reports (report_id, terminal_id, ts, category, lat, lon,"
            " position_source, photos, received_at, batch_id, grid_code, community_code,"
            " street_code) VALUES (%s, %s, now(), 'blocked_exit', %s, %s, 'report',"
            " ARRAY[%s], now(), 0, %s, %s, %s)",
            (
                seeded["report"],
                seeded["terminal"],
                lat,
                lon,
                seeded["photo"],
                out_grid,
                OUTSIDE,
                STREET,
            ),
        )
        conn.execute(
            "INSERT INTO photos (sha256, terminal_id, content_type, size, path, received_at)"
            " VALUES (%s, %s, 'image/jpeg', 1, 'x.jpg', now())",
            (seeded["photo"], seeded["terminal"]),
        )
        row = conn.execute(
            "INSERT INTO hazards (rule_id, kind, severity, status, subject_type, subject_id,"
            " key, device_id, opened_at, episode, grid_code, community_code, street_code)"
            " VALUES ('hydrant_municipal_low', 'threshold', 'warning', 'open', 'device', %s,"
            " %s, %s, now(), 1, %s, %s, %s) RETURNING id",
            (
                seeded["device"],
                seeded["device"] + "/p",
                seeded["device"],
                out_grid,
                OUTSIDE,
                STREET,
            ),
        ).fetchone()
        assert row is not None
        seeded["hazard"] = str(row[0])
    return seeded


def _path(template: str, seeded: dict[str, str], device: str) -> str:
    values = {
        "device_id": device,
        "terminal_id": seeded["terminal"],
        "report_id": seeded["report"],
        "sha256": seeded["photo"],
        "hazard_id": seeded["hazard"],
        "case_id": "C-none",
        "unit_id": seeded["unit"],
    }
    return template.format(**{name: values[name] for name in re.findall(r"{(\w+)}", template)})


_QUERY: dict[str, dict[str, Any]] = {
    "/api/v1/devices/{device_id}/readings": {"metric": "pressure_mpa"},
    "/api/v1/grids/locate": {"lat": 30.30, "lon": 120.20},
    "/api/v1/indicators": {"from": "2026-06-01T00:00:00Z", "to": "2027-06-01T00:00:00Z"},
}


def test_an_out_of_area_token_never_reads_another_areas_data(
    client: TestClient, db_url: str
) -> None:
    seeded = _seed(db_url)
    with psycopg.connect(db_url) as conn:
        token = create_token(conn, role="operator", areas=[INSIDE])
        city = create_token(conn, role="admin", areas=[])
    limited = {"Authorization": f"Bearer {token}"}
    # Every route the app documents (the OpenAPI document lists the included routers' routes).
    paths: dict[str, Any] = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    called = 0
    for template, methods in paths.items():
        if "get" not in methods or not template.startswith("/api/v1"):
            continue
        if template in _SKIPPED:
            continue
        for device in (seeded["device"], seeded["bare"]):
            path = _path(template, seeded, device)
            answer = client.get(path, params=_QUERY.get(template, {}), headers=limited)
            called += 1
            assert answer.status_code in {200, 403, 404}, (path, answer.text)
            if answer.status_code == 403:
                assert answer.json()["error"]["code"] == "forbidden"
            if answer.status_code == 200:
                for secret in (
                    seeded["device"],
                    seeded["report"],
                    seeded["photo"],
                    seeded["unit"],
                    OUTSIDE,
                ):
                    assert secret not in answer.text, (path, secret)
    assert called > 10
    # The same items are there for a city-wide token: the 403s above are scope, not absence.
    city_auth = {"Authorization": f"Bearer {city}"}
    for path in (
        f"/api/v1/devices/{seeded['device']}",
        f"/api/v1/reports/{seeded['report']}",
        f"/api/v1/terminals/{seeded['terminal']}/track",
        f"/api/v1/units/{seeded['unit']}",
    ):
        assert client.get(path, headers=city_auth).status_code == 200, path
    grids = client.get("/api/v1/grids", headers=city_auth).json()["items"]
    assert any(i["code"] == OUTSIDE for i in grids)
    mine = client.get("/api/v1/grids", headers=limited).json()["items"]
    assert {i["code"] for i in mine} == {INSIDE} | {
        i["code"] for i in grids if i["code"].startswith(INSIDE)
    }
