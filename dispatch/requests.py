"""The clock's actions: extension (延期) and suspension (挂账) requests, approval, resumption.

``extend`` (a reason and ``until``, the deadline asked for) and ``suspend`` (a reason) are
requests, kept in ``case_requests`` under their ``action_id``; the community handler or higher
``approve``s or ``refuse``s one, naming it (``request_id``; without it, the one pending). A
request answers the deadline it was asked against: once that deadline has moved (an
escalation, a new stage) it is stale and can no longer be approved. An approved extension
moves the deadline to ``until``; an approved suspension pauses the clock (``suspended_since``,
the stage's time left in ``paused_left``, no deadline: no reminder or escalation runs);
``resume`` sets the deadline that time left after now. Each is a history step whose ``detail``
records the old and new deadline; all state is in the database, so it survives restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dispatch import service
from dispatch.assign import staff_of_area
from dispatch.events import Notice
from dispatch.models import Actor, Case, CaseAction, CaseStep, Deadlines
from dispatch.timing import kind_of, put_back, remind_at, time_left
from dispatch.views import rfc3339
from dispatch.workflow import LEVELS, Refusal, level_of
from infra.database import Conn

__all__ = ["Request", "apply_clock", "check_clock"]


@dataclass(frozen=True, slots=True)
class Request:
    """One stored extension or suspension request."""

    request_id: str
    case_id: str
    kind: str
    asked_by: str
    reason: str
    until: datetime | None
    for_deadline: datetime | None
    status: str


_FIELDS = "request_id, case_id, kind, asked_by, reason, until, for_deadline, status"


def _request(conn: Conn, request_id: str) -> Request | None:
    row = conn.execute(
        f"SELECT {_FIELDS} FROM case_requests WHERE request_id = %s", (request_id,)
    ).fetchone()
    return None if row is None else Request(*row)


def _live(case: Case, r: Request) -> bool:
    """Tell whether a pending request still answers the case's running deadline."""
    return (
        r.status == "pending"
        and case.suspended_since is None
        and r.for_deadline is not None
        and r.for_deadline == case.deadline
    )


def _pending(conn: Conn, case: Case) -> Request | None:
    rows = conn.execute(
        f"SELECT {_FIELDS} FROM case_requests WHERE case_id = %s AND status = 'pending'"
        " ORDER BY asked_at, request_id",
        (case.case_id,),
    ).fetchall()
    return next((r for r in (Request(*row) for row in rows) if _live(case, r)), None)


def check_clock(
    conn: Conn, case: Case, action: CaseAction, actor: Actor
) -> Refusal | Request | None:
    """Refuse what the case's clock does not allow; return the request an approval names."""
    if action.action in {"extend", "suspend"}:
        return _check_ask(conn, case, action)
    if action.action == "resume":
        if case.suspended_since is None:
            return Refusal("not_suspended", f"case {case.case_id} is not suspended")
        return None
    return _check_decision(conn, case, action, actor)


def _check_ask(conn: Conn, case: Case, action: CaseAction) -> Refusal | None:
    if case.suspended_since is not None:
        return Refusal("suspended", f"case {case.case_id} is suspended: resume it first")
    if case.deadline is None:
        return Refusal("no_deadline", f"case {case.case_id} has no running deadline")
    if action.action == "extend" and action.until is not None and action.until <= case.deadline:
        return Refusal(
            "bad_until", f"until must be later than the deadline {rfc3339(case.deadline)}"
        )
    pending = _pending(conn, case)
    if pending is not None:
        return Refusal(
            "request_pending", f"request {pending.request_id} ({pending.kind}) awaits approval"
        )
    return None


def _check_decision(conn: Conn, case: Case, action: CaseAction, actor: Actor) -> Refusal | Request:
    request = _request(conn, action.request_id) if action.request_id else _pending(conn, case)
    if request is None or request.case_id != case.case_id:
        return Refusal("no_request", f"no such request on case {case.case_id}")
    refusal = None
    if request.status != "pending":
        refusal = Refusal("request_decided", f"request {request.request_id} is {request.status}")
    elif not _live(case, request):
        refusal = Refusal(
            "request_stale",
            f"request {request.request_id} was asked against a deadline that has moved",
        )
    elif request.asked_by == actor.staff_id:
        refusal = Refusal("same_person", f"{actor.staff_id} asked; someone else decides")
    return refusal or request


def _approvers(conn: Conn, case: Case, asker: str) -> list[Notice]:
    """The community handlers (else higher staff of the area) asked to approve."""
    staff = staff_of_area(conn, codes=[case.community_code, case.street_code])
    floor = LEVELS.index("community_handler")
    pick = [s for s in staff if level_of(s.role) >= floor and s.staff_id != asker]
    handlers = [s for s in pick if s.role == "community_handler"] or pick
    return [
        Notice(s.staff_id, "approval", asks="approve", text="")
        for s in sorted(handlers, key=lambda s: s.staff_id)
    ]


def apply_clock(
    conn: Conn,
    *,
    case: Case,
    action: CaseAction,
    actor: Actor,
    request: Request | None,
    deadlines: Deadlines,
    now: datetime,
) -> tuple[CaseStep, list[Notice]]:
    """Apply an allowed clock action: its step, the case's and request's changes, who is told."""
    changes: dict[str, Any] = {}
    detail: dict[str, Any] = {"action_id": action.action_id, "deadline": rfc3339(case.deadline)}
    notices: list[Notice] = []
    kind = action.action
    if kind in {"extend", "suspend"}:
        conn.execute(
            "INSERT INTO case_requests (request_id, case_id, kind, asked_by, asked_at, reason,"
            " until, for_deadline) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                action.action_id,
                case.case_id,
                kind,
                actor.staff_id,
                now,
                action.note,
                action.until if kind == "extend" else None,
                case.deadline,
            ),
        )
        detail["request_id"] = action.action_id
        if kind == "extend":
            detail["until"] = rfc3339(action.until)
        what = f"until {rfc3339(action.until)}" if kind == "extend" else "a pause"
        for n in _approvers(conn, case, actor.staff_id):
            n.text = f"case {case.case_id}: {actor.staff_id} asks {what}: {action.note}"
            n.action_id = action.action_id
            notices.append(n)
    elif kind == "resume":
        assert case.suspended_since is not None
        left = case.paused_left or timedelta(0)
        new = put_back(deadlines, case, now, left)
        changes.update(
            suspended_since=None,
            paused_left=None,
            deadline=new,
            remind_at=_remind(deadlines, case, new, now),
        )
        detail.update(
            suspended_since=rfc3339(case.suspended_since),
            left_s=left.total_seconds(),
            new_deadline=rfc3339(new),
        )
    else:
        assert request is not None
        conn.execute(
            "UPDATE case_requests SET status = %s, decided_by = %s, decided_at = %s"
            " WHERE request_id = %s",
            (
                "approved" if kind == "approve" else "refused",
                actor.staff_id,
                now,
                request.request_id,
            ),
        )
        detail.update(request_id=request.request_id, request=request.kind)
        if kind == "approve" and request.kind == "extend":
            assert request.until is not None
            changes.update(
                deadline=request.until, remind_at=_remind(deadlines, case, request.until, now)
            )
            detail.update(old_deadline=rfc3339(case.deadline), new_deadline=rfc3339(request.until))
        elif kind == "approve":
            left = time_left(deadlines, case, now)
            changes.update(suspended_since=now, paused_left=left, deadline=None, remind_at=None)
            detail.update(old_deadline=rfc3339(case.deadline), left_s=left.total_seconds())
        decided = "approved" if kind == "approve" else "refused"
        notices.append(
            Notice(
                request.asked_by,
                f"request_{decided}",
                due=changes.get("deadline", case.deadline),
                text=f"case {case.case_id}: your {request.kind} request was {decided}"
                + (f": {action.note}" if action.note else ""),
                action_id=request.request_id,
            )
        )
    step = service.add_step(
        conn,
        case_id=case.case_id,
        action=kind,
        from_status=case.status,
        to_status=case.status,
        actor=actor.staff_id,
        at=now,
        note=action.note,
        photos=action.photos,
        lat=action.lat,
        lon=action.lon,
        detail=detail,
    )
    service.update_case(conn, case_id=case.case_id, now=now, changes=changes)
    return step, notices


def _remind(deadlines: Deadlines, case: Case, deadline: datetime, now: datetime) -> datetime:
    assert case.stage is not None
    return remind_at(deadlines, case.stage, deadline, start=now, kind=kind_of(case))
