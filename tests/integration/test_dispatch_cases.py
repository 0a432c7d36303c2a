"""Case dispatch end to end over the real broker and database: a smoke alarm becomes a case for
the grid worker, who signs and gives feedback from the terminal over MQTT; another worker
verifies through the API with a photo and a position; the case closes. Plus the refusals
(separation of duties, too far, not the assignee), idempotent actions and an alarm storm.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from api.tokens import create_token
from devices import registry
from devices import service as devices_service
from dispatch.flows import DispatchService
from grids.locator import GridLocator
from grids.models import parse_grids
from grids.service import import_grids
from rules.config import RulesSettings
from rules.flows import RulesService
from simulators.grid_layout import generate_street, grid_centres
from simulators.sensors import event
from simulators.terminal import make_photo, offset_m
from tests.fix_ingest import IngestHarness, wait_until

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
LAT, LON = 31.262, 120.618


@pytest.fixture
def rules(db_url: str) -> Iterator[RulesService]:
    """A rules service run in-process; its locator sees a new grid import at once."""
    svc = RulesService(db_url=db_url, settings=RulesSettings())
    svc.locator = GridLocator(
        connect=lambda: psycopg.connect(db_url, autocommit=True), refresh_s=0.0
    )
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def dispatch(db_url: str) -> Iterator[DispatchService]:
    """The dispatch role run in-process, on demand."""
    svc = DispatchService(db_url=db_url)
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def grids(db_url: str) -> dict[str, tuple[float, float]]:
    """Import a street of 4 grids of 250 m; return a point inside each grid by code."""
    county = f"33{uuid.uuid4().int % 10_000:04d}"
    collection = generate_street(
        lat=LAT,
        lon=LON,
        street_code=f"{county}008",
        communities=1,
        grids_per_community=4,
        cell_m=250.0,
    )
    with psycopg.connect(db_url) as conn:
        import_grids(conn, grid_set=parse_grids(collection), source="test_dispatch_cases")
    return grid_centres(collection)


def _staff(h: IngestHarness, rows: list[dict[str, Any]]) -> None:
    for r in rows:
        if r.get("terminal_id"):
            h.register(r["terminal_id"], kind="terminal")
    parsed = registry.parse_staff(json.dumps(rows), fmt="json")
    assert not parsed.errors, parsed.errors
    with psycopg.connect(h.db_url) as conn:
        devices_service.upsert_staff(conn, rows=parsed.rows)


def _app(db_url: str, staff_id: str) -> TestClient:
    app = create_app(ApiSettings(db_url=db_url), broker_probe=lambda: True)
    with psycopg.connect(db_url) as conn:
        token = create_token(conn, role="grid_worker", areas=[], staff_id=staff_id)
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


def _alarm(h: IngestHarness, rules: RulesService, dev: str) -> None:
    h.publisher.publish_all([event(dev, T0, 0, "smoke_alarm", prefix=h.prefix)])
    wait_until(
        lambda: (
            h.scalar(
                "SELECT count(*) FROM device_events e JOIN ingest_batches b USING (batch_id)"
                " WHERE e.device_id = %s",
                dev,
            )
            == 1
        ),
        what=f"the alarm of {dev} committed",
    )
    rules.process_pending()


def _act(h: IngestHarness, terminal: str, case_id: str, action: str, **kw: Any) -> str:
    action_id = str(uuid.uuid4())
    body = {
        "action_id": action_id,
        "case_id": case_id,
        "action": action,
        "ts": (T0 + timedelta(minutes=5)).isoformat(),
        **kw,
    }
    h.publisher.publish_all([(f"{h.prefix}/t/{terminal}/case", json.dumps(body).encode())])
    wait_until(
        lambda: (
            h.scalar(
                "SELECT count(*) FROM terminal_case_actions a"
                " JOIN ingest_batches b USING (batch_id)"
                " WHERE a.action->>'action_id' = %s",
                action_id,
            )
            == 1
        ),
        what=f"case action {action} stored",
    )
    return action_id


def _photo(h: IngestHarness, terminal: str, seed: int, gps: tuple[float, float] | None) -> str:
    raw = make_photo(seed=seed, taken_at=T0, gps=gps)
    sha = hashlib.sha256(raw).hexdigest()
    h.publisher.publish_all([(f"{h.prefix}/t/{terminal}/photo/{sha}", raw)])
    wait_until(
        lambda: h.scalar("SELECT count(*) FROM photos WHERE sha256 = %s", sha) == 1,
        what="photo stored",
    )
    return sha


def _case_of(h: IngestHarness, unit: str) -> tuple[Any, ...]:
    rows = h.rows(
        "SELECT case_id, status, assignee, assignee_reason, category, urgency, grid_code,"
        " handled_by, rework FROM cases WHERE unit_id = %s",
        unit,
    )
    assert len(rows) == 1, rows
    return rows[0]


def _events(h: IngestHarness, case_id: str, kind: str) -> list[dict[str, Any]]:
    return [
        r[0]
        for r in h.rows(
            "SELECT payload FROM event_log WHERE subject = %s AND kind = %s ORDER BY id",
            case_id,
            kind,
        )
    ]


def test_smoke_alarm_to_closed_case(
    ingest: IngestHarness,
    rules: RulesService,
    dispatch: DispatchService,
    grids: dict[str, tuple[float, float]],
) -> None:
    grid = sorted(grids)[0]
    community = grid[:12]
    lat, lon = grids[grid]
    tag = ingest.tag
    w1, w2, ch = f"W1-{tag}", f"W2-{tag}", f"CH-{tag}"
    t1, t2 = ingest.device("T1"), ingest.device("T2")
    _staff(
        ingest,
        [
            {
                "staff_id": w1,
                "name": "一号",
                "role": "grid_worker",
                "area": grid,
                "terminal_id": t1,
            },
            {
                "staff_id": w2,
                "name": "二号",
                "role": "grid_worker",
                "area": grid,
                "terminal_id": t2,
            },
            {"staff_id": ch, "name": "社区", "role": "community_handler", "area": community},
        ],
    )
    unit, dev = f"U-{tag}", ingest.device("S1")
    ingest.register(dev, kind="smoke", unit_id=unit, lat=lat, lon=lon)

    _alarm(ingest, rules, dev)
    dispatch.process_pending()
    case_id, status, assignee, reason, category, urgency, case_grid, _, _ = _case_of(ingest, unit)
    assert (status, assignee, reason, category, urgency, case_grid) == (
        "dispatched",
        w1,
        "unit's grid worker",
        "fire",
        "urgent",
        grid,
    )
    (created,) = _events(ingest, case_id, "case.created")
    assert created["case"]["id"] == case_id
    assert created["case"]["assignee"] == w1
    (notice,) = created["notify"]
    assert (notice["staff_id"], notice["terminal_id"], notice["kind"], notice["asks"]) == (
        w1,
        t1,
        "case_assigned",
        "sign",
    )
    assert notice["due"].endswith("Z")

    # Not the assignee: the second worker's sign is refused, answered on their inbox.
    wrong = _act(ingest, t2, case_id, "sign")
    dispatch.process_pending()
    (refused,) = _events(ingest, case_id, "case.refused")
    (entry,) = refused["notify"]
    assert (entry["terminal_id"], entry["action_id"], entry["kind"]) == (t2, wrong, "refusal")
    assert "assigned to" in entry["reason"]
    assert _case_of(ingest, unit)[1] == "dispatched"

    # The worker signs and gives feedback with a photo, over MQTT.
    sign = _act(ingest, t1, case_id, "sign", note="已到现场")
    dispatch.process_pending()
    assert _case_of(ingest, unit)[1] == "signed"
    fix_photo = _photo(ingest, t1, seed=11, gps=(lat, lon))
    _act(
        ingest,
        t1,
        case_id,
        "feedback",
        note="已处置",
        photos=[fix_photo],
        position={"lat": lat, "lon": lon},
    )
    dispatch.process_pending()
    row = _case_of(ingest, unit)
    assert (row[1], row[7]) == ("handled", w1)

    # The same sign again (a terminal's resend): answered once, nothing changes.
    before = ingest.scalar("SELECT count(*) FROM case_history WHERE case_id = %s", case_id)
    ingest.publisher.publish_all(
        [
            (
                f"{ingest.prefix}/t/{t1}/case",
                json.dumps(
                    {"action_id": sign, "case_id": case_id, "action": "sign", "ts": T0.isoformat()}
                ).encode(),
            )
        ]
    )
    wait_until(
        lambda: (
            ingest.scalar(
                "SELECT count(*) FROM terminal_case_actions a"
                " JOIN ingest_batches b USING (batch_id)"
                " WHERE a.action->>'action_id' = %s",
                sign,
            )
            == 2
        ),
        what="resend stored",
    )
    dispatch.process_pending()
    assert ingest.scalar("SELECT count(*) FROM case_history WHERE case_id = %s", case_id) == before
    assert len(_events(ingest, case_id, "case.refused")) == 1

    near = offset_m(lat, lon, 20, 10)
    far = offset_m(lat, lon, 200, 0)
    check_photo = _photo(ingest, t2, seed=12, gps=near)
    with _app(ingest.db_url, w1) as own, _app(ingest.db_url, w2) as other:
        body = {
            "action": "verify",
            "photos": [check_photo],
            "position": {"lat": near[0], "lon": near[1]},
        }
        # Separation of duties: the handler does not verify their own work.
        r = own.post(f"/api/v1/cases/{case_id}/actions", json={"action_id": "v-own", **body})
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "same_person"
        # 200 m away is refused.
        r = other.post(
            f"/api/v1/cases/{case_id}/actions",
            json={**body, "action_id": "v-far", "position": {"lat": far[0], "lon": far[1]}},
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "too_far"
        # The second worker verifies on site: the case closes.
        verify_id = str(uuid.uuid4())
        r = other.post(f"/api/v1/cases/{case_id}/actions", json={"action_id": verify_id, **body})
        assert r.status_code == 200, r.text
        assert r.json()["case"]["status"] == "closed"
        assert r.json()["outcome"]["repeat"] is False
        again = other.post(
            f"/api/v1/cases/{case_id}/actions", json={"action_id": verify_id, **body}
        )
        assert again.status_code == 200
        assert again.json()["outcome"]["repeat"] is True
        assert again.json()["outcome"]["seq"] == r.json()["outcome"]["seq"]

        one = other.get(f"/api/v1/cases/{case_id}").json()
        assert one["status"] == "closed"
        assert one["closed_at"] is not None
        assert [s["action"] for s in one["history"]] == [
            "report",
            "file",
            "dispatch",
            "sign",
            "feedback",
            "verify",
            "close",
        ]
        assert one["history"][5]["actor"] == w2
        assert one["history"][5]["photos"] == [check_photo]
        listed = other.get("/api/v1/cases", params={"grid": grid, "status": "closed"}).json()
        assert case_id in [c["id"] for c in listed["items"]]
        mine = other.get("/api/v1/cases", params={"assignee": w1}).json()
        assert [c["id"] for c in mine["items"]] == [case_id]
    closure = _events(ingest, case_id, "case.updated")[-1]
    assert closure["step"]["action"] == "close"
    assert {n["staff_id"] for n in closure["notify"]} == {w1}
    assert {n["kind"] for n in closure["notify"]} == {"closure"}


def test_a_token_without_staff_may_not_act(db_url: str) -> None:
    app = create_app(ApiSettings(db_url=db_url), broker_probe=lambda: True)
    with psycopg.connect(db_url) as conn:
        token = create_token(conn, role="admin", areas=[])
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        r = client.post(
            "/api/v1/cases/C-20261126-999999/actions", json={"action_id": "x", "action": "sign"}
        )
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "no_staff"


def test_alarm_storm_makes_one_case_per_unit(
    ingest: IngestHarness,
    rules: RulesService,
    dispatch: DispatchService,
    grids: dict[str, tuple[float, float]],
) -> None:
    grid = sorted(grids)[1]
    lat, lon = grids[grid]
    units = [f"U{u}-{ingest.tag}" for u in range(10)]
    devices = {u: [ingest.device(f"S{u[1]}-{d}") for d in range(5)] for u in units}
    for u, devs in devices.items():
        ingest.register(*devs, kind="smoke", unit_id=u, lat=lat, lon=lon)
    msgs = [
        event(dev, T0 + timedelta(seconds=i), i, "smoke_alarm", prefix=ingest.prefix)
        for devs in devices.values()
        for dev in devs
        for i in range(10)
    ]
    assert len(msgs) == 500
    ingest.publisher.publish_all(msgs)
    wait_until(
        lambda: (
            ingest.scalar(
                "SELECT count(*) FROM device_events e JOIN ingest_batches b USING (batch_id)"
                " WHERE e.device_id LIKE %s",
                f"{ingest.tag}-%",
            )
            == 500
        ),
        what="500 alarms committed",
    )
    rules.process_pending()
    dispatch.process_pending()
    cases = ingest.rows(
        "SELECT unit_id, count(*), (SELECT count(*) FROM case_hazards h"
        " WHERE h.case_id = min(c.case_id)) FROM cases c WHERE unit_id = ANY(%s) GROUP BY unit_id",
        units,
    )
    assert len(cases) == 10
    assert all(n == 1 for _, n, _ in cases)
    hazards = ingest.scalar(
        "SELECT count(*) FROM hazards WHERE unit_id = ANY(%s) AND rule_id LIKE 'smoke%%'", units
    )
    joined = ingest.scalar(
        "SELECT count(*) FROM case_hazards h JOIN cases c USING (case_id)"
        " WHERE c.unit_id = ANY(%s)",
        units,
    )
    assert joined == hazards  # every hazard of the storm belongs to its unit's one case


def test_the_role_opens_cases_in_its_thread_and_reports_its_lag(
    ingest: IngestHarness, rules: RulesService, grids: dict[str, tuple[float, float]]
) -> None:
    grid = sorted(grids)[2]
    lat, lon = grids[grid]
    unit, dev = f"U-{ingest.tag}", ingest.device("S1")
    ingest.register(dev, kind="smoke", unit_id=unit, lat=lat, lon=lon)
    role = DispatchService(db_url=ingest.db_url)
    role.start()
    try:
        _alarm(ingest, rules, dev)
        wait_until(
            lambda: ingest.scalar("SELECT count(*) FROM cases WHERE unit_id = %s", unit) == 1,
            what="the role opened the case",
        )
        # No one registered for the grid: the case waits filed, saying why.
        row = ingest.rows(
            "SELECT status, assignee, assignee_reason FROM cases WHERE unit_id = %s", unit
        )[0]
        assert row[:2] == ("filed", None)
        assert grid in row[2]
        wait_until(lambda: role.health().state == "running", what="role running")
        wait_until(lambda: role.health().lag_s == 0.0, what="lag measured at zero")
    finally:
        role.stop()
    assert role.health().state == "stopped"


def test_a_hazard_cleared_by_its_device_does_not_close_its_case(
    ingest: IngestHarness,
    rules: RulesService,
    dispatch: DispatchService,
    grids: dict[str, tuple[float, float]],
) -> None:
    grid = sorted(grids)[3]
    lat, lon = grids[grid]
    unit, dev = f"U-{ingest.tag}", ingest.device("S1")
    ingest.register(dev, kind="smoke", unit_id=unit, lat=lat, lon=lon)
    _alarm(ingest, rules, dev)
    dispatch.process_pending()
    case_id, status = _case_of(ingest, unit)[:2]
    ingest.publisher.publish_all(
        [event(dev, T0 + timedelta(minutes=2), 1, "alarm_cleared", prefix=ingest.prefix)]
    )
    wait_until(
        lambda: (
            ingest.scalar(
                "SELECT count(*) FROM device_events e JOIN ingest_batches b USING (batch_id)"
                " WHERE e.device_id = %s",
                dev,
            )
            == 2
        ),
        what="the clearing committed",
    )
    rules.process_pending()
    assert (
        ingest.scalar(
            "SELECT count(*) FROM hazards WHERE device_id = %s AND status = 'cleared'", dev
        )
        == 1
    )
    dispatch.process_pending()
    assert _case_of(ingest, unit)[:2] == (case_id, status)
    assert ingest.scalar("SELECT closed_at FROM cases WHERE case_id = %s", case_id) is None
