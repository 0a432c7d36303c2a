"""Dispatch's database parts on the real PostgreSQL: assignment from the staff registry, case
ids, opening and joining, reports' own categories, concurrent repeats of one action."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg

from dispatch import service
from dispatch.actions import apply_action
from dispatch.assign import assign
from dispatch.config import DispatchSettings
from dispatch.models import Actor, CaseAction
from dispatch.wallclock import WallClockDeadlines
from tests.integration.case_support import open_for, smoke_alarm

NOW = datetime(2026, 11, 26, 17, 30, tzinfo=UTC)  # 01:30 on the 27th in China


def _codes() -> tuple[str, str]:
    community = f"3401{uuid.uuid4().int % 10**8:08d}"
    return community + "001", community


def _staff(conn: psycopg.Connection[Any], *rows: tuple[str, str, str, str | None]) -> None:
    for staff_id, role, area, terminal in rows:
        conn.execute(
            "INSERT INTO staff (staff_id, name, role, area, terminal_id)"
            " VALUES (%s, %s, %s, %s, %s)",
            (staff_id, staff_id, role, area, terminal),
        )


def _open(conn: psycopg.Connection[Any], hazard: dict[str, Any]) -> Any:
    # Any: the tests read ``case_id`` of cases they know were opened, without a None check each.
    return open_for(conn, hazard, NOW)


def test_assignment_reads_the_staff_registry(conn: psycopg.Connection[Any]) -> None:
    grid, community = _codes()
    tag = grid[-8:]
    assert assign(conn, grid_code=grid, community_code=community).staff_id is None
    _staff(conn, (f"CH{tag}", "community_handler", community, None))
    who = assign(conn, grid_code=grid, community_code=community)
    assert who.staff_id == f"CH{tag}"
    assert who.reason == f"no grid worker or head registered for grid {grid}: community handler"
    _staff(conn, (f"GH{tag}", "grid_head", grid, None))
    assert assign(conn, grid_code=grid, community_code=community).reason == "grid head"
    _staff(conn, (f"W{tag}", "grid_worker", grid, None))
    assert assign(conn, grid_code=grid, community_code=community).staff_id == f"W{tag}"


def test_case_ids_follow_china_date_and_a_daily_sequence(conn: psycopg.Connection[Any]) -> None:
    grid, _ = _codes()
    first = _open(conn, smoke_alarm(grid, unit_id=f"U{grid}"))
    second = _open(conn, smoke_alarm(grid, unit_id=f"V{grid}"))
    assert first.outcome == second.outcome == "opened"
    assert first.case_id.startswith("C-20261127-")
    assert int(second.case_id[-6:]) == int(first.case_id[-6:]) + 1


def test_hazards_join_the_open_case_of_their_place_and_category(
    conn: psycopg.Connection[Any],
) -> None:
    grid, _ = _codes()
    unit = f"U{grid}"
    origin = smoke_alarm(grid, unit_id=unit)
    first = _open(conn, origin)
    same = smoke_alarm(grid, unit_id=unit)
    joined = _open(conn, same)
    assert (joined.outcome, joined.case_id) == ("joined", first.case_id)
    assert _open(conn, same).outcome == "seen"  # a redelivered event changes nothing
    # Another category of the same unit is another case; a hazard no row names opens none.
    tilt = _open(conn, smoke_alarm(grid, unit_id=unit, rule_id="hydrant_tilt", severity="critical"))
    assert tilt.outcome == "opened"
    assert tilt.case_id != first.case_id
    assert _open(conn, smoke_alarm(grid, rule_id="smoke_low_battery")).outcome == "none"
    case = service.get_case(conn, case_id=first.case_id)
    assert case is not None
    assert case.hazard_ids == sorted([origin["id"], same["id"]])
    assert [s.action for s in service.history(conn, case_id=first.case_id)][-1] == "join"


def test_a_report_opens_a_case_of_its_own_category(conn: psycopg.Connection[Any]) -> None:
    grid, _ = _codes()
    report_id = str(uuid.uuid4())
    hazard = smoke_alarm(
        grid,
        rule_id="worker_report",
        severity="warning",
        subject_type="report",
        subject_id=report_id,
        detail={"report_id": report_id, "category": "blocked_exit"},
    )
    opened = _open(conn, hazard)
    case = service.get_case(conn, case_id=opened.case_id)
    assert case is not None
    assert (case.category, case.urgency, case.report_ids) == ("blocked_exit", "normal", [report_id])


def test_concurrent_repeats_of_one_action_apply_once(db_url: str) -> None:
    grid, _ = _codes()
    tag = grid[-8:]
    with psycopg.connect(db_url) as setup:
        _staff(setup, (f"W{tag}", "grid_worker", grid, None))
        case_id = _open(setup, smoke_alarm(grid, unit_id=f"U{grid}")).case_id
    actor = Actor(staff_id=f"W{tag}", role="grid_worker", area=grid)
    action = CaseAction(action_id=f"sign-{tag}", case_id=case_id, action="sign")
    outcomes: list[Any] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        with psycopg.connect(db_url) as conn:
            barrier.wait()
            outcomes.append(
                apply_action(
                    conn,
                    action=action,
                    actor=actor,
                    deadlines=WallClockDeadlines(),
                    settings=DispatchSettings(),
                    now=NOW,
                )
            )

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o.repeat for o in outcomes) == [False, True, True, True]
    assert {(o.status, o.case_status, o.seq) for o in outcomes} == {("applied", "signed", 4)}
    with psycopg.connect(db_url) as conn:
        steps = service.history(conn, case_id=case_id)
    assert [s.action for s in steps] == ["report", "file", "dispatch", "sign"]


def _apply(
    conn: psycopg.Connection[Any], actor: Actor, case_id: str, action: str, **kw: Any
) -> Any:
    return apply_action(
        conn,
        action=CaseAction(
            action_id=str(uuid.uuid4()),
            case_id=case_id,
            action=action,
            **kw,
        ),
        actor=actor,
        deadlines=WallClockDeadlines(),
        settings=DispatchSettings(),
        now=NOW,
    )


def test_return_redispatch_and_rework_then_closure(conn: psycopg.Connection[Any]) -> None:
    grid, community = _codes()
    tag = grid[-8:]
    worker = Actor(staff_id=f"W{tag}", role="grid_worker", area=grid)
    head = Actor(staff_id=f"GH{tag}", role="grid_head", area=grid)
    handler = Actor(staff_id=f"CH{tag}", role="community_handler", area=community)
    _staff(
        conn,
        (worker.staff_id, worker.role, grid, None),
        (head.staff_id, head.role, grid, None),
        (handler.staff_id, handler.role, community, None),
    )
    case_id = _open(conn, smoke_alarm(grid, unit_id=f"U{grid}")).case_id
    assert _apply(conn, worker, case_id, "sign").status == "applied"
    refused = _apply(conn, worker, case_id, "return")
    assert (refused.status, refused.code) == ("refused", "reason_required")
    assert _apply(conn, worker, case_id, "return", note="物业负责").case_status == "returned"
    case = service.get_case(conn, case_id=case_id)
    assert case is not None
    assert (case.assignee, case.stage) == (handler.staff_id, "file")
    assert "物业负责" in case.assignee_reason
    # Only the community handler (or higher) re-dispatches; the worker no longer may.
    assert _apply(conn, worker, case_id, "dispatch").code == "not_handler"
    out = _apply(conn, handler, case_id, "dispatch", assignee=worker.staff_id)
    assert out.case_status == "dispatched"
    assert _apply(conn, worker, case_id, "sign").case_status == "signed"
    assert _apply(conn, worker, case_id, "feedback", note="done").case_status == "handled"
    # The head checks and rejects the fix: back to the worker, rework counted.
    assert _apply(
        conn, head, case_id, "verify", result="fail", note="still blocked"
    ).case_status == ("signed")
    case = service.get_case(conn, case_id=case_id)
    assert case is not None
    assert (case.rework, case.handled_by, case.stage) == (1, None, "handle")
    assert _apply(conn, worker, case_id, "feedback", note="cleared").case_status == "handled"
    sha = uuid.uuid4().hex * 2
    conn.execute(
        "INSERT INTO photos (sha256, terminal_id, content_type, size, path, exif_lat, exif_lon,"
        " received_at) VALUES (%s, 'T', 'image/jpeg', 1, 'p', %s, %s, %s)",
        (sha, 31.2, 121.5, NOW),
    )
    closed = _apply(conn, head, case_id, "verify", photos=[sha], lat=31.2001, lon=121.5)
    assert closed.case_status == "closed"
    assert _apply(conn, worker, case_id, "sign").code == "not_allowed_in_state"
    kinds = [
        n["kind"]
        for (payload,) in conn.execute(
            "SELECT payload FROM event_log WHERE subject = %s AND kind = 'case.updated'"
            " ORDER BY id",
            (case_id,),
        ).fetchall()
        for n in payload["notify"]
    ]
    assert kinds == [
        "returned",
        "case_assigned",
        "case_assigned",
        "rework",
        "case_assigned",
        "closure",
    ]


def test_a_confirmed_fire_joining_tells_the_operators(conn: psycopg.Connection[Any]) -> None:
    grid, community = _codes()
    tag = grid[-8:]
    _staff(
        conn,
        (f"W{tag}", "grid_worker", grid, f"T{tag}"),
        (f"OP{tag}", "operator", community[:9], None),
    )
    unit = f"U{grid}"
    first = _open(conn, smoke_alarm(grid, unit_id=unit))
    fire = _open(
        conn,
        smoke_alarm(grid, unit_id=unit, rule_id="smoke_confirmed_fire", severity="critical"),
    )
    assert (fire.outcome, fire.case_id) == ("joined", first.case_id)
    row = conn.execute(
        "SELECT payload FROM event_log WHERE subject = %s AND kind = 'case.updated'"
        " ORDER BY id DESC LIMIT 1",
        (first.case_id,),
    ).fetchone()
    assert row is not None
    notify = {(n["staff_id"], n["kind"], n["terminal_id"]) for n in row[0]["notify"]}
    assert notify == {
        (f"W{tag}", "confirmed_fire", f"T{tag}"),
        (f"OP{tag}", "confirmed_fire", None),
    }
