"""Hazards open cases, or join the open one of their place and category (no case storms)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Final, Literal

from dispatch import service
from dispatch.assign import assign
from dispatch.case_rules import CaseRules, Match
from dispatch.config import DispatchSettings
from dispatch.events import CREATED, UPDATED, Notice, emit
from dispatch.models import CaseStatus, Deadlines, Stage
from dispatch.timing import deadline_changes
from dispatch.workflow import CREATION_STEPS
from infra.database import Conn

__all__ = ["CHINA", "Opened", "open_key", "open_or_join"]

CHINA: Final = timezone(timedelta(hours=8))  # case ids carry China's date of creation
SYSTEM: Final = "system"


@dataclass(frozen=True, slots=True)
class Opened:
    """What a hazard did: opened a case, joined one, was seen before, or opens none."""

    outcome: Literal["opened", "joined", "seen", "none"]
    case_id: str | None = None


def open_key(hazard: Mapping[str, Any]) -> str:
    """Return the place a case is kept one-open-per: the unit, else the grid, else the subject."""
    if hazard.get("unit_id"):
        return f"unit:{hazard['unit_id']}"
    if hazard.get("grid_code"):
        return f"grid:{hazard['grid_code']}"
    return f"{hazard.get('subject_type')}:{hazard.get('subject_id')}"


def _operators(conn: Conn, hazard: Mapping[str, Any]) -> list[str]:
    """Return the operators on duty whose area holds the place (or who have no area)."""
    rows = conn.execute(
        "SELECT staff_id FROM staff WHERE role = 'operator' AND (area IS NULL OR area = ''"
        " OR area IN (%s, %s, %s) OR starts_with(%s, area)) ORDER BY staff_id",
        (
            hazard.get("grid_code"),
            hazard.get("community_code"),
            hazard.get("street_code"),
            hazard.get("street_code") or "",
        ),
    ).fetchall()
    return [str(r[0]) for r in rows]


def open_or_join(
    conn: Conn,
    *,
    hazard: Mapping[str, Any],
    rules: CaseRules,
    deadlines: Deadlines,
    settings: DispatchSettings,
    now: datetime,
) -> Opened:
    """Open a case for a newly opened hazard (a ``hazards`` row), or join the open one."""
    match = rules.match(hazard)
    if match is None:
        return Opened("none")
    hazard_id = int(hazard["id"])
    key = open_key(hazard)
    detail = hazard.get("detail") or {}
    report_id = detail.get("report_id") if hazard.get("subject_type") == "report" else None
    case = service.open_case_for(conn, open_key=key, category=match.category)
    if case is not None:
        if not service.link_hazard(conn, case_id=case.case_id, hazard_id=hazard_id):
            return Opened("seen", case.case_id)
        if report_id:
            service.link_report(conn, case_id=case.case_id, report_id=str(report_id))
        changes: dict[str, Any] = {}
        if match.urgency == "urgent" and case.urgency != "urgent":
            changes["urgency"] = "urgent"
        service.update_case(conn, case_id=case.case_id, now=now, changes=changes)
        step = service.add_step(
            conn,
            case_id=case.case_id,
            action="join",
            from_status=case.status,
            to_status=case.status,
            actor=SYSTEM,
            at=now,
            note=f"hazard {hazard_id} ({hazard.get('rule_id')}) joined the case",
            detail={"hazard_id": hazard_id, "rule": hazard.get("rule_id")},
        )
        notices: list[Notice] = []
        if match.confirmed_fire:
            notices = _fire_notices(conn, hazard, case.assignee, case.case_id)
        joined = service.get_case(conn, case_id=case.case_id)
        assert joined is not None
        emit(conn, kind=UPDATED, case=joined, step=step, notices=notices)
        return Opened("joined", case.case_id)
    case_id = _create(
        conn,
        hazard=hazard,
        match=match,
        key=key,
        report_id=report_id,
        deadlines=deadlines,
        settings=settings,
        now=now,
    )
    return Opened("opened", case_id)


def _fire_notices(
    conn: Conn, hazard: Mapping[str, Any], assignee: str | None, case_id: str
) -> list[Notice]:
    text = f"confirmed fire: case {case_id}"
    out = [Notice(assignee, "confirmed_fire", asks="sign", text=text)] if assignee else []
    out += [Notice(s, "confirmed_fire", text=text) for s in _operators(conn, hazard)]
    return out


def _create(
    conn: Conn,
    *,
    hazard: Mapping[str, Any],
    match: Match,
    key: str,
    report_id: object,
    deadlines: Deadlines,
    settings: DispatchSettings,
    now: datetime,
) -> str:
    grid, community = hazard.get("grid_code"), hazard.get("community_code")
    who = assign(conn, grid_code=grid, community_code=community)
    case_id = service.next_case_id(conn, day=now.astimezone(CHINA).date())
    # With no one to dispatch to, the case waits filed: a person must pick it up.
    status: CaseStatus = "dispatched" if who.staff_id else "filed"
    stage: Stage = "sign" if who.staff_id else "file"
    timing = deadline_changes(
        deadlines,
        stage,
        now,
        kind={
            "category": match.category,
            "urgency": match.urgency,
            "area_type": settings.area_type,
        },
    )
    deadline = timing["deadline"]
    service.insert_case(
        conn,
        values={
            "case_id": case_id,
            "category": match.category,
            "urgency": match.urgency,
            "status": status,
            "unit_id": hazard.get("unit_id"),
            "grid_code": grid,
            "community_code": community,
            "street_code": hazard.get("street_code"),
            "lat": hazard.get("lat"),
            "lon": hazard.get("lon"),
            "area_type": settings.area_type,
            "assignee": who.staff_id,
            "assignee_reason": who.reason,
            "deadline": deadline,
            "remind_at": timing["remind_at"],
            "stage": stage,
            "created_at": now,
            "updated_at": now,
            "open_key": key,
        },
    )
    service.link_hazard(conn, case_id=case_id, hazard_id=int(hazard["id"]))
    if report_id:
        service.link_report(conn, case_id=case_id, report_id=str(report_id))
    step = None
    for action, source, target in CREATION_STEPS:
        if target == "dispatched" and who.staff_id is None:
            break
        step = service.add_step(
            conn,
            case_id=case_id,
            action=action,
            from_status=source,
            to_status=target,
            actor=SYSTEM,
            at=now,
            note=who.reason if action == "dispatch" else "",
            detail={"hazard_id": int(hazard["id"]), "rule": hazard.get("rule_id")}
            if action == "report"
            else ({"assignee": who.staff_id} if action == "dispatch" else {}),
        )
    notices: list[Notice] = []
    if who.staff_id:
        notices.append(
            Notice(
                who.staff_id,
                "case_assigned",
                asks="sign",
                due=deadline,
                text=f"case {case_id} ({match.category}) assigned: {who.reason}",
            )
        )
    if match.confirmed_fire:
        notices += _fire_notices(conn, hazard, None, case_id)
    case = service.get_case(conn, case_id=case_id)
    assert case is not None
    emit(conn, kind=CREATED, case=case, step=step, notices=notices)
    return case_id
