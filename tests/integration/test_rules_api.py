"""Hazards over HTTP: list, filters, one, acknowledge (idempotent, 409 when cleared), areas;
and ``firegrid rules replay`` printing JSON lines without touching live hazards."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.tokens import create_token
from firegrid.cli import main

STREET, COMMUNITY = "310115005", "310115005003"


def _token(db_url: str, role: str = "admin", areas: list[str] | None = None) -> dict[str, str]:
    with psycopg.connect(db_url) as conn:
        token = create_token(conn, role=role, areas=areas or [])
    return {"Authorization": f"Bearer {token}"}


def _hazard(db_url: str, *, device: str, grid: str | None, status: str = "open") -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "INSERT INTO hazards (rule_id, kind, severity, status, subject_type, subject_id,"
            " key, device_id, grid_code, community_code, street_code, lat, lon, opened_at,"
            " cleared_at, episode) VALUES ('hydrant_municipal_low', 'threshold', 'warning',"
            " %s, 'device', %s, %s, %s, %s, %s, %s, 31.280844, 120.596931, now(),"
            " CASE WHEN %s = 'cleared' THEN now() END, 1) RETURNING id",
            (
                status,
                device,
                device + "/pressure_mpa",
                device,
                grid,
                grid[:12] if grid else None,
                grid[:9] if grid else None,
                status,
            ),
        ).fetchone()
        assert row is not None
        return int(row[0])


def _ids(answer: Any) -> list[int]:
    assert answer.status_code == 200, answer.text
    return [h["id"] for h in answer.json()["items"]]


def test_list_filter_get_and_crs(client: TestClient, db_url: str) -> None:
    tag = uuid.uuid4().hex[:6]
    inside = _hazard(db_url, device=f"D{tag}a", grid=COMMUNITY + "007")
    other = _hazard(db_url, device=f"D{tag}b", grid="310115006001002")
    admin = _token(db_url)
    assert _ids(client.get(f"/api/v1/hazards?device_id=D{tag}a", headers=admin)) == [inside]
    got = _ids(client.get(f"/api/v1/hazards?grid={COMMUNITY}&limit=1000", headers=admin))
    assert inside in got
    assert other not in got
    got = _ids(
        client.get(
            "/api/v1/hazards?status=open&rule=hydrant_municipal_low&limit=1000", headers=admin
        )
    )
    assert {inside, other} <= set(got)
    one = client.get(f"/api/v1/hazards/{inside}", headers=admin).json()
    for f in (
        "id",
        "rule",
        "kind",
        "severity",
        "status",
        "device_id",
        "unit_id",
        "grid_code",
        "community_code",
        "street_code",
        "lat",
        "lon",
        "opened_at",
        "cleared_at",
        "occurrences",
    ):
        assert f in one
    assert one["street_code"] == STREET
    assert one["occurrences"] == 1
    gcj = client.get(f"/api/v1/hazards/{inside}?crs=gcj02", headers=admin).json()
    assert gcj["lat"] == pytest.approx(31.278648624428175, abs=1e-5)
    assert client.get("/api/v1/hazards/999999999", headers=admin).status_code == 404


def test_pagination_walks_every_hazard_once(client: TestClient, db_url: str) -> None:
    tag = uuid.uuid4().hex[:6]
    ids = {_hazard(db_url, device=f"P{tag}{i}", grid=None) for i in range(5)}
    admin = _token(db_url)
    seen: list[int] = []
    url: str | None = "/api/v1/hazards?limit=2"
    while url is not None:
        body = client.get(url, headers=admin).json()
        seen += [h["id"] for h in body["items"]]
        url = (
            f"/api/v1/hazards?limit=2&cursor={body['next_cursor']}" if body["next_cursor"] else None
        )
    assert ids <= set(seen)
    assert len(seen) == len(set(seen))


def test_ack_is_idempotent_and_cleared_is_409(client: TestClient, db_url: str) -> None:
    tag = uuid.uuid4().hex[:6]
    live = _hazard(db_url, device=f"A{tag}", grid=None)
    gone = _hazard(db_url, device=f"C{tag}", grid=None, status="cleared")
    admin = _token(db_url)
    first = client.post(f"/api/v1/hazards/{live}/ack", headers=admin)
    assert first.status_code == 200
    assert first.json()["status"] == "acknowledged"
    again = client.post(f"/api/v1/hazards/{live}/ack", headers=admin)
    assert again.status_code == 200
    assert again.json()["acknowledged_at"] == first.json()["acknowledged_at"]
    with psycopg.connect(db_url) as conn:
        events = conn.execute(
            "SELECT count(*) FROM hazard_events WHERE hazard_id = %s", (live,)
        ).fetchone()
    assert events == (1,)  # one acknowledgement event, not two
    refused = client.post(f"/api/v1/hazards/{gone}/ack", headers=admin)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "hazard_cleared"
    viewer = _token(db_url, role="viewer")
    assert client.post(f"/api/v1/hazards/{live}/ack", headers=viewer).status_code == 403


def test_the_acknowledger_is_the_tokens_actor_and_the_note_is_kept(
    client: TestClient, db_url: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    staff_id, name = f"S-{tag}", f"desk-{tag}"
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO staff (staff_id, name, role) VALUES (%s, 'op', 'operator')", (staff_id,)
        )
        staffed = create_token(conn, role="admin", areas=[], staff_id=staff_id)
        named = create_token(conn, role="admin", areas=[], name=name)
    first, second = (
        _hazard(db_url, device=f"A{tag}", grid=None),
        _hazard(db_url, device=f"B{tag}", grid=None),
    )
    # A `by` in the body is ignored: the caller cannot name someone else.
    done = client.post(
        f"/api/v1/hazards/{first}/ack",
        headers={"Authorization": f"Bearer {staffed}"},
        json={"by": "someone else", "note": "crew on the way"},
    )
    assert done.status_code == 200, done.text
    assert (done.json()["acknowledged_by"], done.json()["acknowledged_note"]) == (
        staff_id,
        "crew on the way",
    )
    done = client.post(
        f"/api/v1/hazards/{second}/ack", headers={"Authorization": f"Bearer {named}"}
    )
    assert done.json()["acknowledged_by"] == name
    with psycopg.connect(db_url) as conn:
        event = conn.execute(
            "SELECT data FROM hazard_events WHERE hazard_id = %s", (first,)
        ).fetchone()
    assert event is not None
    assert event[0]["acknowledged_by"] == staff_id
    assert event[0]["acknowledged_note"] == "crew on the way"


def test_operator_sees_only_its_areas(client: TestClient, db_url: str) -> None:
    tag = uuid.uuid4().hex[:6]
    inside = _hazard(db_url, device=f"I{tag}", grid=COMMUNITY + "008")
    outside = _hazard(db_url, device=f"O{tag}", grid="310115006001003")
    nowhere = _hazard(db_url, device=f"N{tag}", grid=None)
    op = _token(db_url, role="operator", areas=[COMMUNITY])
    got = _ids(client.get("/api/v1/hazards?limit=1000", headers=op))
    assert inside in got
    assert outside not in got
    assert nowhere not in got
    assert client.get(f"/api/v1/hazards/{outside}", headers=op).status_code == 404
    assert client.post(f"/api/v1/hazards/{outside}/ack", headers=op).status_code == 404
    assert client.post(f"/api/v1/hazards/{inside}/ack", headers=op).status_code == 200


def test_cli_replay_prints_json_lines_and_writes_nothing(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    count = "SELECT (SELECT count(*) FROM hazards), (SELECT count(*) FROM rule_state)"
    with psycopg.connect(db_url) as conn:
        before = conn.execute(count).fetchone()
    code = main(
        [
            "--db-url",
            db_url,
            "rules",
            "replay",
            "--from",
            "2026-11-24T16:00:00Z",
            "--to",
            "2026-11-25T16:00:00Z",
        ]
    )
    assert code == 0
    for line in capsys.readouterr().out.splitlines():
        assert {"rule", "key", "opened_at", "occurrences"} <= json.loads(line).keys()
    with psycopg.connect(db_url) as conn:
        assert conn.execute(count).fetchone() == before
    assert main(["--db-url", db_url, "rules", "replay", "--from", "yesterday", "--to", "x"]) == 2
