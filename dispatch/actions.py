"""Apply a case action (sign, feedback, return, verify, re-dispatch): shared by the terminals'
MQTT path (the dispatch role) and the API, idempotent by ``action_id``.

One call is one unit of the caller's transaction: the action is claimed, decided by the pure
workflow, checked for evidence, applied, recorded in the history, told on the event log, and its
outcome kept for repeats. A repeat answers the first outcome and changes nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from dispatch import service
from dispatch.assign import choose, staff_by_id, staff_of_area
from dispatch.config import DispatchSettings
from dispatch.events import UPDATED, Notice, emit, emit_refusal
from dispatch.evidence import check_verify_evidence
from dispatch.models import Actor, Case, CaseAction, Deadlines
from dispatch.requests import Request, apply_clock, check_clock
from dispatch.timing import deadline_changes, kind_of
from dispatch.workflow import Refusal, Transition, decide
from infra.database import Conn

__all__ = ["ActionOutcome", "apply_action"]


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """What an action came to; ``repeat`` when it is the stored answer to an earlier try."""

    action_id: str
    case_id: str
    status: Literal["applied", "refused"]
    code: str | None = None
    reason: str | None = None
    case_status: str | None = None
    seq: int | None = None
    repeat: bool = False

    def to_json(self) -> dict[str, Any]:
        """Return the outcome as stored in ``case_actions``."""
        out = asdict(self)
        out.pop("repeat")
        return out

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ActionOutcome:
        """Read a stored outcome back, as a repeat."""
        return cls(**doc, repeat=True)


def apply_action(
    conn: Conn,
    *,
    action: CaseAction,
    actor: Actor | None,
    deadlines: Deadlines,
    settings: DispatchSettings,
    now: datetime,
    terminal_id: str | None = None,
    announce_refusal: bool = False,
) -> ActionOutcome:
    """Apply ``action`` by ``actor`` (None: no staff member) in the caller's transaction.

    ``announce_refusal``: append ``case.refused`` for a refusal (the MQTT path answers on the
    terminal's inbox; the API answers with its error envelope instead).
    """
    prior = service.claim_action(conn, action_id=action.action_id, case_id=action.case_id, now=now)
    if prior:
        return ActionOutcome.from_json(prior)
    case = service.get_case(conn, case_id=action.case_id, lock=True)
    decision: Transition | _Clock | Refusal
    if case is None:
        decision = Refusal("not_found", f"no case {action.case_id}")
    elif actor is None:
        decision = Refusal("unknown_staff", "the sender is not a registered staff member")
    else:
        decision = _decide(conn, case, action, actor, settings)
    if isinstance(decision, Refusal):
        outcome = ActionOutcome(
            action.action_id,
            action.case_id,
            "refused",
            decision.code,
            decision.reason,
            None if case is None else case.status,
        )
        if announce_refusal:
            emit_refusal(
                conn,
                case=case,
                case_id=action.case_id,
                action=action.action,
                action_id=action.action_id,
                actor_id=None if actor is None else actor.staff_id,
                terminal_id=terminal_id if actor is None else actor.terminal_id or terminal_id,
                code=decision.code,
                reason=decision.reason,
                at=now,
            )
    elif isinstance(decision, _Clock):
        assert case is not None
        assert actor is not None
        step, notices = apply_clock(
            conn,
            case=case,
            action=action,
            actor=actor,
            request=decision.request,
            deadlines=deadlines,
            now=now,
        )
        updated = service.get_case(conn, case_id=case.case_id)
        assert updated is not None
        emit(conn, kind=UPDATED, case=updated, step=step, notices=notices)
        outcome = ActionOutcome(
            action.action_id, case.case_id, "applied", case_status=updated.status, seq=step.seq
        )
    else:
        assert case is not None
        assert actor is not None
        outcome = _apply(
            conn,
            case=case,
            action=action,
            actor=actor,
            t=decision,
            deadlines=deadlines,
            now=now,
        )
    service.set_outcome(conn, action_id=action.action_id, outcome=outcome.to_json())
    return outcome


@dataclass(frozen=True, slots=True)
class _Clock:
    """An allowed clock action and the request an approval names."""

    transition: Transition
    request: Request | None


def _decide(
    conn: Conn, case: Case, action: CaseAction, actor: Actor, settings: DispatchSettings
) -> Transition | _Clock | Refusal:
    assignee = (
        staff_by_id(conn, staff_ids=[case.assignee]).get(case.assignee) if case.assignee else None
    )
    decision = decide(
        case,
        action,
        actor.role,
        actor.staff_id,
        actor_area=actor.area,
        assignee_role=None if assignee is None else assignee.role,
    )
    if isinstance(decision, Transition) and decision.clock:
        checked = check_clock(conn, case, action, actor)
        if isinstance(checked, Refusal):
            return checked
        return _Clock(decision, checked)
    if isinstance(decision, Transition) and action.action == "verify":
        refusal = check_verify_evidence(
            case,
            action,
            photo_positions=service.photo_positions(conn, shas=action.photos),
            max_distance_m=settings.verify_max_distance_m,
        )
        if refusal is not None:
            return refusal
    return decision


def _apply(
    conn: Conn,
    *,
    case: Case,
    action: CaseAction,
    actor: Actor,
    t: Transition,
    deadlines: Deadlines,
    now: datetime,
) -> ActionOutcome:
    changes: dict[str, Any] = {"status": t.target, "stage": t.stage}
    # The deadline and its reminder, fixed now: an edited table moves neither afterwards.
    changes.update(deadline_changes(deadlines, t.stage, now, kind=kind_of(case)))
    if case.suspended_since is not None:  # a new stage runs its own clock: the pause ends
        changes.update(suspended_since=None, paused_left=None)
    notices: list[Notice] = []
    assignee = case.assignee
    if t.sets_handled_by:
        changes["handled_by"] = actor.staff_id
        notices += _verifiers(conn, case, actor.staff_id, changes["deadline"])
    if t.rework:
        changes["rework"] = case.rework + 1
        changes["handled_by"] = None
        if case.assignee:
            notices.append(
                Notice(
                    case.assignee,
                    "rework",
                    asks="feedback",
                    due=changes["deadline"],
                    text=f"case {case.case_id} failed verification: {action.note}",
                )
            )
    if action.action == "return":
        staff = staff_of_area(conn, codes=[case.community_code])
        handler = choose(staff, grid_code=None, community_code=case.community_code)
        assignee = handler.staff_id
        changes["assignee"] = assignee
        changes["assignee_reason"] = f"returned by {actor.staff_id}: {action.note}"
        if assignee:
            notices.append(
                Notice(
                    assignee,
                    "returned",
                    asks="dispatch",
                    due=changes["deadline"],
                    text=f"case {case.case_id} returned by {actor.staff_id}: {action.note}",
                )
            )
    if action.action == "dispatch":
        assignee = action.assignee or case.assignee
        changes["assignee"] = assignee
        changes["assignee_reason"] = f"re-dispatched by {actor.staff_id}"
        if assignee:
            notices.append(
                Notice(
                    assignee,
                    "case_assigned",
                    asks="sign",
                    due=changes["deadline"],
                    text=f"case {case.case_id} ({case.category}) dispatched to you",
                )
            )
    step = service.add_step(
        conn,
        case_id=case.case_id,
        action=action.action,
        from_status=t.source,
        to_status=t.target,
        actor=actor.staff_id,
        at=now,
        note=action.note,
        photos=action.photos,
        lat=action.lat,
        lon=action.lon,
        detail=_detail(action) | _due(case),
    )
    if t.target == "verified":  # verified and evidenced: the system closes it at once
        changes.update(status="closed", closed_at=now)
        step = service.add_step(
            conn,
            case_id=case.case_id,
            action="close",
            from_status="verified",
            to_status="closed",
            actor="system",
            at=now,
            detail=_due(case),
        )
        for who in {case.assignee, case.handled_by} - {None}:
            assert who is not None
            notices.append(Notice(who, "closure", text=f"case {case.case_id} closed"))
    service.update_case(conn, case_id=case.case_id, now=now, changes=changes)
    updated = service.get_case(conn, case_id=case.case_id)
    assert updated is not None
    emit(conn, kind=UPDATED, case=updated, step=step, notices=notices)
    return ActionOutcome(
        action.action_id, case.case_id, "applied", case_status=updated.status, seq=step.seq
    )


def _detail(action: CaseAction) -> dict[str, Any]:
    """What the history keeps beside the step: the action's id, result and the device's time."""
    detail: dict[str, Any] = {"action_id": action.action_id}
    if action.result:
        detail["result"] = action.result
    if action.ts is not None:  # the step's ``at`` is when FireGrid applied it
        detail["ts"] = action.ts.isoformat()
    if action.assignee:
        detail["assignee"] = action.assignee
    return detail


def _due(case: Case) -> dict[str, Any]:
    """The deadline the step answers, as the case stored it before the step: the indicators
    judge "on time" by it (an extension or a suspension already moved it)."""
    if case.deadline is None:
        return {}
    return {"due": case.deadline.isoformat(), "due_stage": case.stage}


def _verifiers(conn: Conn, case: Case, handler: str, due: datetime | None) -> list[Notice]:
    """Who is asked to verify: the case's grid staff other than its handler, else upwards."""
    staff = staff_of_area(conn, codes=[case.grid_code, case.community_code])
    grid = [s for s in staff if s.area == case.grid_code and s.staff_id != handler]
    pick = grid or [s for s in staff if s.role == "community_handler" and s.staff_id != handler]
    return [
        Notice(
            s.staff_id,
            "case_assigned",
            asks="verify",
            due=due,
            text=f"case {case.case_id}: feedback given, please verify on site",
        )
        for s in sorted(pick, key=lambda s: s.staff_id)
    ]
