"""Case dispatch end to end over the real broker and database: a smoke alarm becomes a case for
the grid worker, who signs and gives feedback from the terminal over MQTT; another worker
verifies through the API with a photo and a position; the case closes. Plus the refusals
(separation of duties, too far, not the assignee), idempotent actions and an alarm storm.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from api.tokens import create_token
from dispatch.flows import DispatchService
from rules.flows import RulesService
from simulators.sensors import event
from simulators.terminal import offset_m
from tests.fix_ingest import IngestHarness, wait_until
from tests.integration.dispatch_support import (
    T0,
    act,
    add_staff,
    alarm,
    case_events,
    case_of,
    dispatch,
    grids,
    photo,
    rules,
    staff_client,
)

__all__ = ["dispatch", "grids", "rules"]  # fixtures, used by name


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
    add_staff(
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

    alarm(ingest, rules, dev)
    dispatch.process_pending()
    case_id, status, assignee, reason, category, urgency, case_grid, _, _ = case_of(ingest, unit)
    assert (status, assignee, reason, category, urgency, case_grid) == (
        "dispatched",
        w1,
        "unit's grid worker",
        "fire",
        "urgent",
        grid,
    )
    (created,) = case_events(ingest, case_id, "case.created")
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
    wrong = act(ingest, t2, case_id, "sign")
    dispatch.process_pending()
    (refused,) = case_events(ingest, case_id, "case.refused")
    (entry,) = refused["notify"]
    assert (entry["terminal_id"], entry["action_id"], entry["kind"]) == (t2, wrong, "refusal")
    assert "assigned to" in entry["reason"]
    assert case_of(ingest, unit)[1] == "dispatched"

    # The worker signs and gives feedback with a photo, over MQTT.
    sign = act(ingest, t1, case_id, "sign", note="已到现场")
    dispatch.process_pending()
    assert case_of(ingest, unit)[1] == "signed"
    fix_photo = photo(ingest, t1, seed=11, gps=(lat, lon))
    act(
        ingest,
        t1,
        case_id,
        "feedback",
        note="已处置",
        photos=[fix_photo],
        position={"lat": lat, "lon": lon},
    )
    dispatch.process_pending()
    row = case_of(ingest, unit)
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
    assert len(case_events(ingest, case_id, "case.refused")) == 1

    near = offset_m(lat, lon, 20, 10)
    far = offset_m(lat, lon, 200, 0)
    check_photo = photo(ingest, t2, seed=12, gps=near)
    with staff_client(ingest.db_url, w1) as own, staff_client(ingest.db_url, w2) as other:
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
        # The indicators count it closed on time (the steps came within their deadlines).
        now = datetime.now(UTC)
        period = {
            "from": (now - timedelta(days=1)).isoformat(),
            "to": (now + timedelta(days=2)).isoformat(),
        }
        answer = other.get("/api/v1/indicators", params={"area": grid, **period})
        assert answer.status_code == 200, answer.text
        assert [
            (i["code"], i["due"], i["closed"], i["closed_on_time"], i["signed_on_time"])
            for i in answer.json()["items"]
        ] == [(grid, 1, 1, 1, 1)]
    closure = case_events(ingest, case_id, "case.updated")[-1]
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
        alarm(ingest, rules, dev)
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
    alarm(ingest, rules, dev)
    dispatch.process_pending()
    case_id, status = case_of(ingest, unit)[:2]
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
    assert case_of(ingest, unit)[:2] == (case_id, status)
    assert ingest.scalar("SELECT closed_at FROM cases WHERE case_id = %s", case_id) is None
