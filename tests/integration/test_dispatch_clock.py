"""Extensions (延期) and suspensions (挂账) on the real PostgreSQL, on an injected clock: an
approved extension moves the deadline exactly as recorded, a suspension and resumption move it
by the paused working time, refused requests change nothing."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import psycopg

from dispatch.actions import ActionOutcome, apply_action
from dispatch.assign import staff_by_id
from dispatch.config import DispatchSettings
from dispatch.models import CaseAction
from dispatch.sweep import sweep
from dispatch.views import rfc3339
from tests.integration.sweep_support import TABLE, Place, case, cst, events, steps


def act(
    conn: psycopg.Connection[Any],
    place: Place,
    role: str,
    case_id: str,
    action: str,
    now: datetime,
    **kw: Any,
) -> ActionOutcome:
    staff_id = place.staff[role]
    kw.setdefault("note", "")
    return apply_action(
        conn,
        action=CaseAction(
            action_id=kw.pop("action_id", str(uuid.uuid4())),
            case_id=case_id,
            action=action,  # type: ignore[arg-type]
            **kw,
        ),
        actor=staff_by_id(conn, staff_ids=[staff_id])[staff_id],
        deadlines=TABLE,
        settings=DispatchSettings(),
        now=now,
    )


def test_an_approved_extension_moves_the_deadline_as_recorded(
    conn: psycopg.Connection[Any],
) -> None:
    place = Place(conn)
    c = place.open(conn, cst(11, 26, 10)).case_id  # sign for by Thursday 11:00
    asked = act(
        conn,
        place,
        "grid_worker",
        c,
        "extend",
        cst(11, 26, 10, 10),
        note="钥匙在物业, 下午才能进",
        until=cst(11, 26, 16),
    )
    assert asked.status == "applied"
    (ask,) = events(conn, c)[-1]["notify"]
    assert (ask["staff_id"], ask["kind"], ask["asks"], ask["action_id"]) == (
        place.staff["community_handler"],
        "approval",
        "approve",
        asked.action_id,
    )
    assert case(conn, c).deadline == cst(11, 26, 11)  # asking moves nothing
    approved = act(
        conn,
        place,
        "community_handler",
        c,
        "approve",
        cst(11, 26, 10, 20),
        request_id=asked.action_id,
    )
    assert approved.status == "applied"
    now = case(conn, c)
    assert now.deadline == cst(11, 26, 16)
    assert now.remind_at == TABLE.remind_at(
        "sign",
        cst(11, 26, 16),
        start=cst(11, 26, 10, 20),
        category="hydrant_problem",
        urgency="normal",
        area_type="urban",
    )
    last = events(conn, c)[-1]
    assert last["step"]["action"] == "approve"
    detail = next(s for s in _history(conn, c) if s.action == "approve").detail
    assert detail["old_deadline"] == rfc3339(cst(11, 26, 11))
    assert detail["new_deadline"] == rfc3339(cst(11, 26, 16))
    assert detail["request"] == "extend"
    (told,) = last["notify"]
    assert (told["staff_id"], told["kind"]) == (place.staff["grid_worker"], "request_approved")
    # The old deadline passes unnoticed; the new one is swept.
    sweep(conn, now=cst(11, 26, 11, 30), deadlines=TABLE, settings=DispatchSettings())
    assert "supervise" not in steps(conn, c)
    sweep(conn, now=cst(11, 26, 16), deadlines=TABLE, settings=DispatchSettings())
    assert steps(conn, c)[-2:] == ["supervise", "escalate"]


def test_refused_and_unallowed_requests_change_nothing(conn: psycopg.Connection[Any]) -> None:
    place = Place(conn)
    c = place.open(conn, cst(11, 26, 10)).case_id
    start = case(conn, c)
    no_reason = act(
        conn, place, "grid_worker", c, "extend", cst(11, 26, 10, 5), until=cst(11, 27, 10)
    )
    assert no_reason.code == "reason_required"
    no_until = act(conn, place, "grid_worker", c, "extend", cst(11, 26, 10, 5), note="why")
    assert no_until.code == "until_required"
    earlier = act(
        conn,
        place,
        "grid_worker",
        c,
        "extend",
        cst(11, 26, 10, 5),
        note="x",
        until=cst(11, 26, 10, 30),
    )
    assert earlier.code == "bad_until"
    assert act(conn, place, "community_handler", c, "approve", cst(11, 26, 10, 6)).code == (
        "no_request"
    )
    asked = act(
        conn,
        place,
        "grid_worker",
        c,
        "extend",
        cst(11, 26, 10, 10),
        note="等材料",
        until=cst(11, 27, 10),
    )
    again = act(conn, place, "grid_worker", c, "suspend", cst(11, 26, 10, 11), note="one at a time")
    assert again.code == "request_pending"
    by_head = act(conn, place, "grid_head", c, "approve", cst(11, 26, 10, 12))
    assert by_head.code == "not_approver"
    refused = act(
        conn,
        place,
        "community_handler",
        c,
        "refuse",
        cst(11, 26, 10, 15),
        note="今天处理",
        request_id=asked.action_id,
    )
    assert refused.status == "applied"
    assert events(conn, c)[-1]["notify"][0]["kind"] == "request_refused"
    late = act(
        conn,
        place,
        "community_handler",
        c,
        "approve",
        cst(11, 26, 10, 16),
        request_id=asked.action_id,
    )
    assert late.code == "request_decided"
    now = case(conn, c)
    assert (now.deadline, now.remind_at, now.suspended_since) == (
        start.deadline,
        start.remind_at,
        None,
    )
    assert steps(conn, c)[-2:] == ["extend", "refuse"]


def test_a_request_against_a_moved_deadline_is_stale(conn: psycopg.Connection[Any]) -> None:
    place = Place(conn)
    c = place.open(conn, cst(11, 26, 10)).case_id
    asked = act(
        conn,
        place,
        "grid_worker",
        c,
        "extend",
        cst(11, 26, 10, 50),
        note="x",
        until=cst(11, 27, 10),
    )
    sweep(conn, now=cst(11, 26, 11), deadlines=TABLE, settings=DispatchSettings())
    stale = act(
        conn,
        place,
        "community_handler",
        c,
        "approve",
        cst(11, 26, 11, 5),
        request_id=asked.action_id,
    )
    assert stale.code == "request_stale"
    assert case(conn, c).deadline == cst(11, 26, 12)  # the escalation's, unmoved


def test_suspension_and_resumption_move_the_deadline_by_the_paused_time(
    conn: psycopg.Connection[Any],
) -> None:
    place = Place(conn)
    c = place.open(conn, cst(11, 26, 10)).case_id  # due Thursday 11:00
    asked = act(conn, place, "grid_worker", c, "suspend", cst(11, 26, 10, 20), note="等房东")
    act(
        conn,
        place,
        "community_handler",
        c,
        "approve",
        cst(11, 26, 10, 30),
        request_id=asked.action_id,
    )
    paused = case(conn, c)
    assert paused.suspended_since == cst(11, 26, 10, 30)
    assert paused.deadline is None
    assert events(conn, c)[-1]["case"]["suspended_since"] == rfc3339(cst(11, 26, 10, 30))
    assert paused.paused_left is not None
    assert paused.paused_left.total_seconds() == 30 * 60
    # Paused: no reminder, no escalation however late it gets.
    sweep(conn, now=cst(11, 26, 17), deadlines=TABLE, settings=DispatchSettings())
    assert steps(conn, c)[-1] == "approve"
    assert (
        act(
            conn, place, "grid_worker", c, "extend", cst(11, 26, 17), note="x", until=cst(11, 28, 1)
        ).code
        == "suspended"
    )
    resumed = act(conn, place, "grid_worker", c, "resume", cst(11, 27, 9), note="房东来了")
    assert resumed.status == "applied"
    now = case(conn, c)
    # The deadline moved by the paused working time (Thu 10:30 - Fri 09:00: 6 h of work).
    paused_for = TABLE.calendar.working_time_between(cst(11, 26, 10, 30), cst(11, 27, 9))
    assert now.deadline == TABLE.calendar.add_working_time(cst(11, 26, 11), paused_for)
    assert now.deadline == cst(11, 27, 9, 30)
    assert now.suspended_since is None
    assert now.paused_left is None
    detail = _history(conn, c)[-1].detail
    assert (detail["new_deadline"], detail["left_s"]) == (rfc3339(cst(11, 27, 9, 30)), 1800.0)
    assert act(conn, place, "grid_worker", c, "resume", cst(11, 27, 9, 1)).code == "not_suspended"
    sweep(conn, now=cst(11, 27, 9, 23), deadlines=TABLE, settings=DispatchSettings())
    sweep(conn, now=cst(11, 27, 9, 30), deadlines=TABLE, settings=DispatchSettings())
    assert steps(conn, c)[-3:] == ["remind", "supervise", "escalate"]


def _history(conn: psycopg.Connection[Any], case_id: str) -> list[Any]:
    from dispatch.service import history

    return history(conn, case_id=case_id)
