"""The deadline sweep: reminders before deadlines, supervision (督办) and escalation after.

``sweep(conn, now=…)`` takes the cases whose ``next_due`` (m0012: the reminder time, else the
deadline, while that deadline has not been answered) has come, a batch at a time, each batch
ONE transaction with its effects: history steps, the case's columns and ``case.updated`` events.
Each step is keyed by the deadline it answers (``reminded_for``, ``escalated_for``), so a
second sweep finds nothing to do and a crash before the commit leaves the batch to be done
again whole: every step exactly once. Rows are locked ``SKIP LOCKED``: an action holding a
case is not waited for (the next sweep sees it), and two sweeps never take the same case.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg.rows import class_row

from dispatch import service
from dispatch.assign import staff_by_id
from dispatch.config import DispatchSettings
from dispatch.events import UPDATED, Notice, emit
from dispatch.ladder import climb
from dispatch.models import Actor, Case, Deadlines
from dispatch.timing import ASKS, deadline_changes, kind_of
from dispatch.views import rfc3339
from infra.database import Conn

__all__ = ["SweepStats", "due_cases", "sweep", "sweep_case"]

log = logging.getLogger(__name__)

SYSTEM: Final = "system"


@dataclass
class SweepStats:
    """What one sweep did."""

    cases: int = 0
    reminders: int = 0
    supervisions: int = 0
    escalations: int = 0
    errors: list[str] = field(default_factory=list)


def due_cases(conn: Conn, *, now: datetime, limit: int) -> list[Case]:
    """Lock and return up to ``limit`` cases with a reminder or an escalation due at ``now``."""
    ids = [
        str(r[0])
        for r in conn.execute(
            "SELECT case_id FROM cases WHERE next_due IS NOT NULL AND next_due <= %s"
            " ORDER BY next_due LIMIT %s FOR UPDATE SKIP LOCKED",
            (now, limit),
        ).fetchall()
    ]
    if not ids:
        return []
    with conn.cursor(row_factory=class_row(Case)) as cur:
        return cur.execute(
            f"SELECT {service.FIELDS} FROM cases c WHERE c.case_id = ANY(%s::text[])"
            " ORDER BY c.next_due, c.case_id",
            (ids,),
        ).fetchall()


def _ladder_staff(conn: Conn, cases: Sequence[Case], ladder: Sequence[str]) -> list[Actor]:
    """Return the ladder's staff whose area may hold one of ``cases`` (one query a batch)."""
    codes = sorted(
        {c for case in cases for c in (case.grid_code, case.community_code, case.street_code) if c}
    )
    streets = sorted({case.street_code for case in cases if case.street_code})
    with conn.cursor(row_factory=class_row(Actor)) as cur:
        return cur.execute(
            "SELECT staff_id, role, area, terminal_id FROM staff"
            " WHERE role = ANY(%s::text[]) AND area <> '' AND (area = ANY(%s::text[])"
            " OR EXISTS (SELECT 1 FROM unnest(%s::text[]) s WHERE starts_with(s, area)))",
            (list(ladder), codes, streets),
        ).fetchall()


def sweep(
    conn: Conn,
    *,
    now: datetime,
    deadlines: Deadlines,
    settings: DispatchSettings,
    before_commit: Callable[[], None] | None = None,
) -> SweepStats:
    """Send every reminder and escalation due at ``now``; one transaction per batch.

    ``before_commit`` (tests): called after a batch's effects, before its commit.
    """
    stats = SweepStats()
    while True:
        with conn.transaction():
            cases = due_cases(conn, now=now, limit=settings.sweep_batch)
            if not cases:
                return stats
            staff = _ladder_staff(conn, cases, settings.ladder)
            for case in cases:
                try:
                    with conn.transaction():  # a savepoint: one bad case never stops the rest
                        sweep_case(
                            conn,
                            case,
                            now=now,
                            deadlines=deadlines,
                            settings=settings,
                            staff=staff,
                            stats=stats,
                        )
                except psycopg.OperationalError:
                    raise
                except Exception as exc:
                    log.exception("sweep: case %s failed; left for the next sweep", case.case_id)
                    stats.errors.append(f"{case.case_id}: {type(exc).__name__}: {exc}")
            stats.cases += len(cases)
            if before_commit is not None:
                before_commit()
        if len(cases) < settings.sweep_batch or stats.errors:
            # A failed case stays due: stop rather than take it again at once.
            return stats


def sweep_case(
    conn: Conn,
    case: Case,
    *,
    now: datetime,
    deadlines: Deadlines,
    settings: DispatchSettings,
    staff: Sequence[Actor],
    stats: SweepStats,
) -> None:
    """Take the one step due for ``case`` (locked by the caller): escalate, else remind."""
    if case.deadline is None or case.stage is None or case.suspended_since is not None:
        return
    if case.deadline <= now and case.escalated_for != case.deadline:
        _escalate(conn, case, now=now, deadlines=deadlines, settings=settings, staff=staff)
        stats.supervisions += 1
        stats.escalations += 1
    elif (
        case.remind_at is not None and case.remind_at <= now and case.reminded_for != case.deadline
    ):
        _remind(conn, case, now=now)
        stats.reminders += 1


def _update(conn: Conn, case: Case, now: datetime, changes: dict[str, Any]) -> Case:
    service.update_case(conn, case_id=case.case_id, now=now, changes=changes)
    # The row as it now stands, without reading it back (the sweep's hot path).
    return case.model_copy(update={**changes, "version": case.version + 1, "updated_at": now})


def _remind(conn: Conn, case: Case, *, now: datetime) -> None:
    assert case.stage is not None
    assert case.deadline is not None
    asks = ASKS[case.stage]
    due = rfc3339(case.deadline)
    step = service.add_step(
        conn,
        case_id=case.case_id,
        action="remind",
        from_status=case.status,
        to_status=case.status,
        actor=SYSTEM,
        at=now,
        note=f"reminder: {asks} due {due}",
        detail={"stage": case.stage, "deadline": due, "assignee": case.assignee},
    )
    updated = _update(conn, case, now, {"reminded_for": case.deadline})
    notices = (
        [
            Notice(
                case.assignee,
                "reminder",
                asks=asks,
                due=case.deadline,
                text=f"case {case.case_id}: {asks} due {due}",
            )
        ]
        if case.assignee
        else []
    )
    emit(conn, kind=UPDATED, case=updated, step=step, notices=notices)


def _escalate(
    conn: Conn,
    case: Case,
    *,
    now: datetime,
    deadlines: Deadlines,
    settings: DispatchSettings,
    staff: Sequence[Actor],
) -> None:
    """Supervise the overdue case, then climb the ladder: two steps, two events."""
    assert case.stage is not None
    assert case.deadline is not None
    asks = ASKS[case.stage]
    old_due = rfc3339(case.deadline)
    assignee_role = _role_of(conn, staff, case.assignee)
    to = climb(case, ladder=settings.ladder, staff=staff, assignee_role=assignee_role)
    skipped = (
        f"; skipped {', '.join(to.skipped)}: nobody holds it for this place" if to.skipped else ""
    )
    top = "" if to.staff is not None else f"; top of the ladder: no higher level{skipped}"
    step = service.add_step(
        conn,
        case_id=case.case_id,
        action="supervise",
        from_status=case.status,
        to_status=case.status,
        actor=SYSTEM,
        at=now,
        note=f"督办: {asks} was due {old_due}{top}",
        detail={"stage": case.stage, "deadline": old_due, "assignee": case.assignee},
    )
    supervised = _update(conn, case, now, {"escalated_for": case.deadline})
    notices = (
        [
            Notice(
                case.assignee,
                "supervision",
                asks=asks,
                due=case.deadline,
                text=f"督办 case {case.case_id}: {asks} was due {old_due}",
            )
        ]
        if case.assignee
        else []
    )
    emit(conn, kind=UPDATED, case=supervised, step=step, notices=notices)
    if to.staff is None:
        return
    role = settings.ladder[to.level]
    changes = deadline_changes(deadlines, case.stage, now, kind=kind_of(case))
    changes.update(
        escalation_level=to.level,
        assignee=to.staff.staff_id,
        assignee_reason=f"escalated to the {role}: {asks} overdue since {old_due}",
    )
    new_due = rfc3339(changes["deadline"])
    step = service.add_step(
        conn,
        case_id=case.case_id,
        action="escalate",
        from_status=case.status,
        to_status=case.status,
        actor=SYSTEM,
        at=now,
        note=f"escalated to {role} {to.staff.staff_id}{skipped}",
        detail={
            "stage": case.stage,
            "from_level": case.escalation_level,
            "to_level": to.level,
            "role": role,
            "from_assignee": case.assignee,
            "to_assignee": to.staff.staff_id,
            "skipped": list(to.skipped),
            "old_deadline": old_due,
            "new_deadline": new_due,
        },
    )
    escalated = _update(conn, supervised, now, changes)
    emit(
        conn,
        kind=UPDATED,
        case=escalated,
        step=step,
        notices=[
            Notice(
                to.staff.staff_id,
                "escalation",
                asks=asks,
                due=changes["deadline"],
                text=f"case {case.case_id} escalated to you ({role}): {asks} due {new_due}"
                f" (was due {old_due})",
            )
        ],
    )


def _role_of(conn: Conn, staff: Sequence[Actor], staff_id: str | None) -> str | None:
    if staff_id is None:
        return None
    for s in staff:
        if s.staff_id == staff_id:
            return s.role
    who = staff_by_id(conn, staff_ids=[staff_id]).get(staff_id)
    return None if who is None else who.role
