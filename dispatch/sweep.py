"""The deadline sweep: reminders before deadlines, supervision (督办) and escalation after.

``sweep(conn, now=…)`` takes the cases whose ``next_due`` (m0012: the reminder time, else the
deadline, while that deadline has not been answered) has come, a batch at a time, each batch
ONE transaction with its effects: history steps, the case's columns and ``case.updated`` events.
Each step is keyed by the deadline it answers (``reminded_for``, ``escalated_for``), so a
second sweep finds nothing to do and a crash before the commit leaves the batch to be done
again whole: every step exactly once. Rows are locked ``SKIP LOCKED``: an action holding a
case is not waited for (the next sweep sees it), and two sweeps never take the same case.

A batch is planned in Python first (``plan_case``: pure but for the staff already read), then
written with one statement per table (history, cases, event log): the sweep's cost is per
batch, not per case. A case whose planning raises is logged and left due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from dispatch import service
from dispatch.assign import staff_by_id
from dispatch.config import DispatchSettings
from dispatch.events import UPDATED, Notice, entries, payload
from dispatch.ladder import climb
from dispatch.models import Actor, Case, CaseStep, Deadlines
from dispatch.timing import ASKS, deadline_changes, kind_of
from dispatch.views import rfc3339
from infra.database import Conn
from infra.eventlog import append_rows

__all__ = ["Planned", "StaffIndex", "SweepStats", "due_cases", "plan_case", "sweep", "write"]

log = logging.getLogger(__name__)

SYSTEM: Final = "system"
STREET_LEN: Final = 9  # DOMAIN.md §1: a street's code has 9 digits


@dataclass
class SweepStats:
    """What one sweep did."""

    cases: int = 0
    reminders: int = 0
    supervisions: int = 0
    escalations: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class Planned:
    """One case's steps, each with the case as it stands after it and who is told."""

    case: Case  # as it stands after the last step
    steps: list[tuple[CaseStep, Case, list[Notice]]] = field(default_factory=list)


class StaffIndex:
    """Staff by id, and by area for the ladder's look-ups (built once a batch)."""

    def __init__(self, staff: Mapping[str, Actor]) -> None:
        self.by_id = dict(staff)
        self._by_area: dict[str, list[Actor]] = {}
        for s in self.by_id.values():
            if s.area:
                self._by_area.setdefault(s.area, []).append(s)
        # Areas wider than a street (a county): few, tried as prefixes of the case's street.
        self._wide = [s for s in self.by_id.values() if s.area and len(s.area) < STREET_LEN]

    def near(self, case: Case) -> list[Actor]:
        """Return the staff whose area may hold the case: its codes, or a prefix of its street."""
        out: list[Actor] = []
        for code in dict.fromkeys((case.grid_code, case.community_code, case.street_code)):
            if code:
                out += self._by_area.get(code, [])
        street = case.street_code or ""
        out += [s for s in self._wide if s.area and street.startswith(s.area)]
        return out


def due_cases(conn: Conn, *, now: datetime, limit: int) -> list[Case]:
    """Lock and return up to ``limit`` cases with a reminder or an escalation due at ``now``."""
    with conn.cursor(row_factory=class_row(Case)) as cur:
        return cur.execute(
            f"SELECT {service.FIELDS} FROM cases c WHERE c.case_id IN ("
            " SELECT case_id FROM cases WHERE next_due IS NOT NULL AND next_due <= %s"
            " ORDER BY next_due LIMIT %s FOR UPDATE SKIP LOCKED)"
            " ORDER BY c.next_due, c.case_id",
            (now, limit),
        ).fetchall()


def _staff(conn: Conn, cases: Sequence[Case], ladder: Sequence[str]) -> StaffIndex:
    """Return the ladder's staff who may hold one of ``cases``, and their assignees, by id."""
    codes = sorted(
        {c for case in cases for c in (case.grid_code, case.community_code, case.street_code) if c}
    )
    streets = sorted({case.street_code for case in cases if case.street_code})
    with conn.cursor(row_factory=class_row(Actor)) as cur:
        found = cur.execute(
            "SELECT staff_id, role, area, terminal_id FROM staff"
            " WHERE role = ANY(%s::text[]) AND area <> '' AND (area = ANY(%s::text[])"
            " OR EXISTS (SELECT 1 FROM unnest(%s::text[]) s WHERE starts_with(s, area)))",
            (list(ladder), codes, streets),
        ).fetchall()
    staff = {s.staff_id: s for s in found}
    missing = sorted({c.assignee for c in cases if c.assignee and c.assignee not in staff})
    staff.update(staff_by_id(conn, staff_ids=missing))
    return StaffIndex(staff)


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
        failed = len(stats.errors)
        with conn.transaction():
            cases = due_cases(conn, now=now, limit=settings.sweep_batch)
            if not cases:
                return stats
            staff = _staff(conn, cases, settings.ladder)
            plans: list[Planned] = []
            for case in cases:
                try:
                    plans.append(
                        plan_case(
                            case, now=now, deadlines=deadlines, settings=settings, staff=staff
                        )
                    )
                except Exception as exc:
                    log.exception("sweep: case %s failed; left for the next sweep", case.case_id)
                    stats.errors.append(f"{case.case_id}: {type(exc).__name__}: {exc}")
            write(conn, plans, staff=staff, now=now)
            for p in plans:
                for step, _, _ in p.steps:
                    if step.action == "remind":
                        stats.reminders += 1
                    elif step.action == "supervise":
                        stats.supervisions += 1
                    else:
                        stats.escalations += 1
            stats.cases += len(cases)
            if before_commit is not None:
                before_commit()
        if len(cases) < settings.sweep_batch or len(stats.errors) > failed:
            # A failed case stays due: stop rather than take it again at once.
            return stats


def plan_case(
    case: Case,
    *,
    now: datetime,
    deadlines: Deadlines,
    settings: DispatchSettings,
    staff: StaffIndex,
) -> Planned:
    """Plan the one step due for ``case``: supervise and escalate, else remind (else nothing)."""
    planned = Planned(case)
    if case.deadline is None or case.stage is None or case.suspended_since is not None:
        return planned
    if case.deadline <= now and case.escalated_for != case.deadline:
        _escalate(planned, now=now, deadlines=deadlines, settings=settings, staff=staff)
    elif (
        case.remind_at is not None and case.remind_at <= now and case.reminded_for != case.deadline
    ):
        _remind(planned, now=now)
    return planned


def _step(planned: Planned, now: datetime, changes: dict[str, Any], **fields: Any) -> CaseStep:
    """Add a step to the plan, the case's ``changes`` with it (a version each)."""
    before = planned.case
    after = before.model_copy(update={**changes, "version": before.version + 1, "updated_at": now})
    step = CaseStep(
        seq=0,  # numbered when written, after the case's last stored step
        from_status=before.status,
        to_status=before.status,
        actor=SYSTEM,
        at=now,
        **fields,
    )
    planned.case = after
    return step


def _remind(planned: Planned, *, now: datetime) -> None:
    case = planned.case
    assert case.stage is not None
    assert case.deadline is not None
    asks = ASKS[case.stage]
    due = rfc3339(case.deadline)
    step = _step(
        planned,
        now,
        {"reminded_for": case.deadline},
        action="remind",
        note=f"reminder: {asks} due {due}",
        detail={"stage": case.stage, "deadline": due, "assignee": case.assignee},
    )
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
    planned.steps.append((step, planned.case, notices))


def _escalate(
    planned: Planned,
    *,
    now: datetime,
    deadlines: Deadlines,
    settings: DispatchSettings,
    staff: StaffIndex,
) -> None:
    """Supervise the overdue case, then climb the ladder: two steps, two events."""
    case = planned.case
    assert case.stage is not None
    assert case.deadline is not None
    asks = ASKS[case.stage]
    old_due = rfc3339(case.deadline)
    own = staff.by_id.get(case.assignee) if case.assignee else None
    to = climb(
        case,
        ladder=settings.ladder,
        staff=staff.near(case),
        assignee_role=None if own is None else own.role,
    )
    skipped = (
        f"; skipped {', '.join(to.skipped)}: nobody holds it for this place" if to.skipped else ""
    )
    top = "" if to.staff is not None else f"; top of the ladder: no higher level{skipped}"
    step = _step(
        planned,
        now,
        {"escalated_for": case.deadline},
        action="supervise",
        note=f"督办: {asks} was due {old_due}{top}",
        detail={"stage": case.stage, "deadline": old_due, "assignee": case.assignee},
    )
    told = (
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
    planned.steps.append((step, planned.case, told))
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
    step = _step(
        planned,
        now,
        changes,
        action="escalate",
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
    told = [
        Notice(
            to.staff.staff_id,
            "escalation",
            asks=asks,
            due=changes["deadline"],
            text=f"case {case.case_id} escalated to you ({role}): {asks} due {new_due}"
            f" (was due {old_due})",
        )
    ]
    planned.steps.append((step, planned.case, told))


_HISTORY: Final = (
    "INSERT INTO case_history (case_id, seq, action, from_status, to_status, actor, at, note,"
    " detail) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_CASE: Final = (
    "UPDATE cases SET version = %s, updated_at = %s, reminded_for = %s, escalated_for = %s,"
    " escalation_level = %s, assignee = %s, assignee_reason = %s, deadline = %s, remind_at = %s"
    " WHERE case_id = %s"
)
# One JSON array of events: a jsonb[] parameter would be escaped element by element.
_EVENTS: Final = (
    "INSERT INTO event_log (kind, subject, payload, grid_code, community_code, street_code)"
    " SELECT %s, e.doc->>'subject', e.doc->'payload', e.doc->>'grid', e.doc->>'community',"
    " e.doc->>'street' FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS e(doc, n)"
    " ORDER BY e.n"
)


def write(conn: Conn, plans: Sequence[Planned], *, staff: StaffIndex, now: datetime) -> None:
    """Write planned steps: history rows, the cases' columns and their events, per table."""
    plans = [p for p in plans if p.steps]
    if not plans:
        return
    last = dict(
        conn.execute(
            "SELECT case_id, max(seq) FROM case_history WHERE case_id = ANY(%s::text[])"
            " GROUP BY case_id",
            ([p.case.case_id for p in plans],),
        ).fetchall()
    )
    history: list[tuple[Any, ...]] = []
    events: list[dict[str, Any]] = []
    for p in plans:
        seq = int(last.get(p.case.case_id) or 0)
        for step, after, notices in p.steps:
            seq += 1
            numbered = step.model_copy(update={"seq": seq})
            history.append(
                (
                    after.case_id,
                    seq,
                    step.action,
                    step.from_status,
                    step.to_status,
                    step.actor,
                    step.at,
                    step.note,
                    Jsonb(step.detail),
                )
            )
            events.append(
                {
                    "subject": after.case_id,
                    "payload": payload(after, numbered, entries(notices, staff.by_id)),
                    "grid": after.grid_code,
                    "community": after.community_code,
                    "street": after.street_code,
                }
            )
    with conn.cursor() as cur:
        cur.executemany(_HISTORY, history)
        cur.executemany(
            _CASE,
            [
                (
                    c.version,
                    now,
                    c.reminded_for,
                    c.escalated_for,
                    c.escalation_level,
                    c.assignee,
                    c.assignee_reason,
                    c.deadline,
                    c.remind_at,
                    c.case_id,
                )
                for c in (p.case for p in plans)
            ],
        )
    append_rows(conn, sql=_EVENTS, params=(UPDATED, Jsonb(events)))
