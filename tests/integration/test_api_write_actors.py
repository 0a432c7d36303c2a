"""Issue 9 point 1: the actor recorded on every write is the token's (its staff member, else its
name), never a field the caller sends; and only a city-wide admin or integrator imports.

Each write route is called with a body (or query) that claims another actor, then the stored
actor is read back from the database.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from api.app import create_app
from api.settings import ApiSettings
from api.tokens import create_token
from infra.clock import FixedClock
from simulators.grid_layout import generate_street
from tests.fix_api import open_hazard
from tests.integration.sweep_support import TABLE, Place, cst

CLAIMED = "mallory"  # who every request below pretends to be
REGISTRY_IMPORTS = ("/api/v1/devices/import", "/api/v1/units/import", "/api/v1/staff/import")
ALL_IMPORTS = (*REGISTRY_IMPORTS, "/api/v1/grids/import")
JSON = {"Content-Type": "application/json"}


def _token(db_url: str, role: str = "admin", areas: list[str] | None = None, **kw: Any) -> str:
    with psycopg.connect(db_url) as conn:
        return create_token(conn, role=role, areas=areas or [], **kw)


def _named(db_url: str, role: str = "admin") -> tuple[str, dict[str, str]]:
    name = f"desk-{uuid.uuid4().hex[:8]}"
    return name, {"Authorization": f"Bearer {_token(db_url, role, name=name)}"}


def _writes(db_url: str, action: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Return (actor, role, detail) of every recorded write of ``action``, oldest first."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT actor, role, detail FROM api_writes WHERE action = %s ORDER BY id", (action,)
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def _registry_bodies(tag: str) -> dict[str, list[dict[str, Any]]]:
    # A registry row has no author field: one claiming an author is refused as an unknown field
    # (tests/unit/test_registry_parse_formats.py), so the actor can only come from the token.
    return {
        "/api/v1/devices/import": [{"device_id": f"{tag}-D", "kind": "smoke"}],
        "/api/v1/units/import": [{"unit_id": f"{tag}-U", "name": "金桥大厦", "level": 1}],
        "/api/v1/staff/import": [{"staff_id": f"{tag}-S", "name": "张三", "role": "grid_worker"}],
    }


def test_registry_imports_record_the_tokens_name_as_actor(client: TestClient, db_url: str) -> None:
    name, headers = _named(db_url, "integrator")
    tag = uuid.uuid4().hex[:6]
    for path, rows in _registry_bodies(tag).items():
        answer = client.post(path, content=json.dumps(rows), headers=headers | JSON)
        assert answer.status_code == 200, answer.text
        assert answer.json()["created"] == 1, answer.text
        action = path.split("/")[3] + ".import"  # devices.import, units.import, staff.import
        assert _writes(db_url, action)[-1] == (
            name,
            "integrator",
            {"created": 1, "updated": 0, "rejected": 0},
        )


def test_grid_import_records_the_tokens_name_not_the_source(
    client: TestClient, db_url: str
) -> None:
    name, headers = _named(db_url)
    answer = client.post(
        "/api/v1/grids/import",
        params={"source": CLAIMED},
        content=json.dumps(_street()),
        headers=headers | JSON,
    )
    assert answer.status_code == 200, answer.text
    actor, role, detail = _writes(db_url, "grids.import")[-1]
    assert (actor, role) == (name, "admin")
    # The source stays what it is: a label of the file, never taken as its importer.
    assert detail == {"version": answer.json()["version"], "mode": "merge",
                      "counts": answer.json()["counts"], "source": CLAIMED}  # fmt: skip


def test_rejected_replay_records_the_tokens_name(client: TestClient, db_url: str) -> None:
    name, headers = _named(db_url)
    answer = client.post(
        "/api/v1/rejected/replay",
        json={"reasons": ["unknown_device"], "by": CLAIMED, "actor": CLAIMED},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    actor, role, detail = _writes(db_url, "rejected.replay")[-1]
    assert (actor, role) == (name, "admin")
    assert detail["reasons"] == ["unknown_device"]
    assert detail["messages"] == answer.json()["messages"]
    assert "batches" not in detail  # counts only: a city's replay names thousands of batches


def test_webhook_replay_records_the_tokens_name(client: TestClient, db_url: str) -> None:
    name, headers = _named(db_url, "integrator")
    event_id = uuid.uuid4().int % 10**12
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO webhook_deliveries (event_id, kind, subject, body, created_at,"
            " attempts, failed_at) VALUES (%s, 'case.created', 'C-1', '{}', now(), 8, now())",
            (event_id,),
        )
    answer = client.post(
        f"/api/v1/webhooks/failures/{event_id}/replay", json={"by": CLAIMED}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    assert _writes(db_url, "webhooks.replay")[-1] == (
        name,
        "integrator",
        {"event_id": event_id, "kind": "case.created"},
    )


def test_acknowledgement_records_the_tokens_name_not_the_bodys_by(
    client: TestClient, db_url: str
) -> None:
    name, headers = _named(db_url, "operator")
    hazard_id = open_hazard(db_url)
    answer = client.post(
        f"/api/v1/hazards/{hazard_id}/ack",
        json={"by": CLAIMED, "note": "已派人"},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT acknowledged_by, acknowledged_note FROM hazards WHERE id = %s", (hazard_id,)
        ).fetchone()
    assert row == (name, "已派人")


def test_case_action_records_the_tokens_staff_member(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        place = Place(conn)
        case_id = place.open(conn, cst(11, 26, 10)).case_id
        conn.commit()
    worker = place.staff["grid_worker"]
    token = _token(db_url, "grid_worker", staff_id=worker, name=f"pad-{worker}")
    app = create_app(
        ApiSettings(db_url=db_url),
        broker_probe=lambda: True,
        clock=FixedClock(cst(11, 26, 10, 5)),
        deadlines=TABLE,
    )
    body = {
        "action_id": str(uuid.uuid4()),
        "action": "sign",
        "note": "已到现场",
        # Claims of another author, in every spelling a caller might try: all ignored.
        "by": CLAIMED,
        "actor": CLAIMED,
        "staff_id": place.staff["community_handler"],
    }
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        answer = client.post(f"/api/v1/cases/{case_id}/actions", json=body)
        assert answer.status_code == 200, answer.text
        history = client.get(f"/api/v1/cases/{case_id}").json()["history"]
    assert [s["actor"] for s in history if s["action"] == "sign"] == [worker]
    with psycopg.connect(db_url) as conn:
        actors = conn.execute(
            "SELECT actor FROM case_history WHERE case_id = %s AND action = 'sign'", (case_id,)
        ).fetchall()
    assert actors == [(worker,)]


@pytest.mark.parametrize(
    ("role", "areas"),
    [
        ("operator", []),  # a fire-brigade desk watches the city but keeps no register
        ("viewer", []),
        ("operator", ["310115005"]),
        ("community_handler", ["310115005003"]),
        ("integrator", ["310115005"]),  # the right role, limited to an area
        ("admin", ["310115005"]),
    ],
)
def test_only_a_city_wide_admin_or_integrator_imports(
    client: TestClient, db_url: str, role: str, areas: list[str]
) -> None:
    headers = {"Authorization": f"Bearer {_token(db_url, role, areas)}"} | JSON
    tag = uuid.uuid4().hex[:6]
    bodies: dict[str, Any] = {**_registry_bodies(tag), "/api/v1/grids/import": _street()}
    before = _count(db_url, "api_writes"), _count(db_url, "grid_versions")
    for path in ALL_IMPORTS:
        answer = client.post(path, content=json.dumps(bodies[path]), headers=headers)
        assert answer.status_code == 403, (path, answer.text)
        assert answer.json()["error"]["code"] == "forbidden"
    assert (_count(db_url, "api_writes"), _count(db_url, "grid_versions")) == before
    with psycopg.connect(db_url) as conn:
        stored = conn.execute(
            "SELECT (SELECT count(*) FROM devices WHERE device_id LIKE %(t)s)"
            " + (SELECT count(*) FROM key_units WHERE unit_id LIKE %(t)s)"
            " + (SELECT count(*) FROM staff WHERE staff_id LIKE %(t)s)",
            {"t": f"{tag}-%"},
        ).fetchone()
    assert stored == (0,)


def test_a_city_wide_integrator_imports_everything(client: TestClient, db_url: str) -> None:
    _, headers = _named(db_url, "integrator")
    tag = uuid.uuid4().hex[:6]
    bodies: dict[str, Any] = {**_registry_bodies(tag), "/api/v1/grids/import": _street()}
    for path in ALL_IMPORTS:
        answer = client.post(path, content=json.dumps(bodies[path]), headers=headers | JSON)
        assert answer.status_code == 200, (path, answer.text)


def _count(db_url: str, table: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        ).fetchone()
    assert row is not None
    return int(row[0])


def _street() -> dict[str, Any]:
    """A street of one community of two grids, as GeoJSON (CONTRACT §2)."""
    code = f"330106{uuid.uuid4().int % 1000:03d}"  # a street of Hangzhou's Xihu district
    return generate_street(
        lat=30.25, lon=120.15, street_code=code, communities=1, grids_per_community=2
    )
