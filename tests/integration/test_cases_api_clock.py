"""POST /api/v1/cases/{id}/actions with the clock's actions: an extension asked with `until`
and approved by the community handler moves the deadline; refusals in the error envelope."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from dispatch.views import rfc3339
from infra.clock import FixedClock
from tests.fix_api import api_client, bearer
from tests.integration.sweep_support import TABLE, Place, cst


def _client(db_url: str, staff_id: str, clock: FixedClock) -> TestClient:
    headers = bearer(db_url, "grid_worker", staff_id=staff_id)
    return api_client(db_url, headers, clock=clock, deadlines=TABLE)


def test_extension_over_the_api(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        place = Place(conn)
        case_id = place.open(conn, cst(11, 26, 10)).case_id
        conn.commit()
    clock = FixedClock(cst(11, 26, 10, 10))
    worker = _client(db_url, place.staff["grid_worker"], clock)
    handler = _client(db_url, place.staff["community_handler"], clock)
    with worker, handler:
        ask: dict[str, Any] = {
            "action_id": str(uuid.uuid4()),
            "action": "extend",
            "note": "等配件",
            "until": "2026-11-26T16:00:00+08:00",
        }
        r = worker.post(f"/api/v1/cases/{case_id}/actions", json=ask)
        assert r.status_code == 200, r.text
        bad = worker.post(
            f"/api/v1/cases/{case_id}/actions",
            json={"action_id": str(uuid.uuid4()), "action": "approve"},
        )
        assert bad.status_code == 403
        assert bad.json()["error"]["code"] == "not_approver"
        late = worker.post(
            f"/api/v1/cases/{case_id}/actions",
            json={"action_id": str(uuid.uuid4()), "action": "extend", "note": "x", "until": "soon"},
        )
        assert (late.status_code, late.json()["error"]["code"]) == (422, "bad_until")
        r = handler.post(
            f"/api/v1/cases/{case_id}/actions",
            json={
                "action_id": str(uuid.uuid4()),
                "action": "approve",
                "request_id": ask["action_id"],
            },
        )
        assert r.status_code == 200, r.text
        assert r.json()["case"]["deadline"] == rfc3339(cst(11, 26, 16))
        again = handler.post(
            f"/api/v1/cases/{case_id}/actions",
            json={
                "action_id": str(uuid.uuid4()),
                "action": "refuse",
                "request_id": ask["action_id"],
            },
        )
        assert (again.status_code, again.json()["error"]["code"]) == (409, "request_decided")
        history = handler.get(f"/api/v1/cases/{case_id}").json()["history"]
        assert [s["action"] for s in history][-2:] == ["extend", "approve"]
        assert history[-1]["detail"]["new_deadline"] == rfc3339(cst(11, 26, 16))
