"""The case workflow: a declared transition table and one pure decision per action.

    reported → filed → dispatched → signed → handled → verified → closed
    dispatched | signed --return--> returned --dispatch (community handler)--> dispatched
    handled --verify result=fail--> signed (rework + 1, back to the handler)
    dispatched | signed | handled --extend | suspend | resume | approve | refuse--> the same

``decide`` knows no database and no clock: the caller gives it the case, the action and who
acts, and applies the ``Transition`` it answers (or reports the ``Refusal``). Filing and the
first dispatch are the system's own steps when a case is created (``CREATION_STEPS``).
Closure's evidence (photos, position) is ``dispatch.evidence``; a device clearing its hazard is
no action here at all, so it never closes a case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from dispatch.models import ActionKind, Case, CaseAction, CaseStatus, Stage
from grids.codes import in_area

__all__ = [
    "CLOCK_STATES",
    "CREATION_STEPS",
    "LEVELS",
    "TRANSITIONS",
    "Refusal",
    "Rule",
    "Transition",
    "decide",
    "level_of",
]

# The ladder, lowest first (CONTRACT §3 staff roles). "A higher level" is a later rung whose
# area covers the case; operators stand beside the ladder and may act on any case in their area.
LEVELS: Final = (
    "grid_worker",
    "grid_head",
    "community_handler",
    "department",
    "street_leader",
    "county_leader",
)
OPERATOR: Final = "operator"


def level_of(role: str) -> int:
    """Return a staff role's rung on the ladder (operators above it; unknown roles: -1)."""
    if role == OPERATOR:
        return len(LEVELS)
    return LEVELS.index(role) if role in LEVELS else -1


# The states whose stage has a running deadline someone is answerable for.
CLOCK_STATES: Final[tuple[CaseStatus, ...]] = ("dispatched", "signed", "handled")
# The clock's actions and who takes them.
CLOCK_RULES: Final[tuple[tuple[ActionKind, str], ...]] = (
    ("extend", "assignee"),
    ("suspend", "assignee"),
    ("resume", "assignee"),
    ("approve", "approver"),
    ("refuse", "approver"),
)


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the table: ``action`` takes a case from ``source`` to ``target``."""

    action: ActionKind
    source: CaseStatus
    target: CaseStatus
    stage: Stage | None  # what the next deadline is for (None: no deadline, closed)
    who: str  # "assignee" (or higher), "handler" (community handler or higher), "verifier",
    # "approver" (community handler or higher: never the assignee as such)
    clock: bool = False  # the clock's actions: the status stays, the deadline may move


# Verify's ``fail`` result is its own row (``verify_fail``): same action, other target.
TRANSITIONS: Final[dict[tuple[str, CaseStatus], Rule]] = {
    ("sign", "dispatched"): Rule("sign", "dispatched", "signed", "handle", "assignee"),
    ("feedback", "signed"): Rule("feedback", "signed", "handled", "verify", "assignee"),
    ("return", "dispatched"): Rule("return", "dispatched", "returned", "file", "assignee"),
    ("return", "signed"): Rule("return", "signed", "returned", "file", "assignee"),
    ("dispatch", "returned"): Rule("dispatch", "returned", "dispatched", "sign", "handler"),
    # A passed verification is followed at once by the system's "close" (verified → closed).
    ("verify", "handled"): Rule("verify", "handled", "verified", None, "verifier"),
    ("verify_fail", "handled"): Rule("verify", "handled", "signed", "handle", "verifier"),
    # The clock (issue 8 point 7): in any state with a running stage the assignee asks for more
    # time (extend: until a new deadline) or a pause (suspend, 挂账), with a reason; the
    # community handler or higher approves or refuses, naming the request; resume restarts a
    # paused clock with the stage's time left. Stage and status stay (``dispatch.requests``).
    **{
        (action, state): Rule(action, state, state, None, who, clock=True)
        for state in CLOCK_STATES
        for action, who in CLOCK_RULES
    },
}

# The system's steps when a case is created: (action, from, to); it waits for "sign" after.
CREATION_STEPS: Final[tuple[tuple[str, CaseStatus | None, CaseStatus], ...]] = (
    ("report", None, "reported"),
    ("file", "reported", "filed"),
    ("dispatch", "filed", "dispatched"),
)


@dataclass(frozen=True, slots=True)
class Transition:
    """What an allowed action does to the case."""

    action: str
    source: CaseStatus
    target: CaseStatus
    stage: Stage | None
    rework: bool = False  # a failed verification: rework + 1
    sets_handled_by: bool = False  # feedback: the actor becomes ``handled_by``
    reassign: bool = False  # return / dispatch: the assignee changes
    clock: bool = False  # extend, suspend, resume, approve, refuse: dispatch.requests


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an action was refused: a short code and a sentence for the actor."""

    code: str  # not_allowed_in_state, not_assignee, same_person, reason_required, ...
    reason: str


def _covers(area: str | None, case: Case) -> bool:
    if not area:
        return False
    return in_area(
        area, grid=case.grid_code, community=case.community_code, street=case.street_code
    )


def _higher(
    case: Case, *, actor_role: str, actor_area: str | None, assignee_role: str | None
) -> bool:
    above = level_of(assignee_role) if assignee_role is not None else 0
    return level_of(actor_role) > above and _covers(actor_area, case)


def decide(
    case: Case,
    action: CaseAction,
    actor_role: str,
    actor_id: str,
    *,
    actor_area: str | None = None,
    assignee_role: str | None = None,
) -> Transition | Refusal:
    """Decide what ``action`` by ``actor_id`` (of ``actor_role``, in ``actor_area``) does to
    ``case``: the transition of the table, or a refusal saying why."""
    key = "verify_fail" if action.action == "verify" and action.result == "fail" else action.action
    rule = TRANSITIONS.get((key, case.status))
    if rule is None:
        allowed = sorted({r.action for (_, s), r in TRANSITIONS.items() if s == case.status})
        return Refusal(
            "not_allowed_in_state",
            f"case {case.case_id} is {case.status}: {action.action} is not allowed"
            + (f" (allowed: {', '.join(allowed)})" if allowed else ""),
        )
    refusal = _who_refuses(
        rule,
        case,
        actor_role=actor_role,
        actor_id=actor_id,
        actor_area=actor_area,
        assignee_role=assignee_role,
    )
    if refusal is not None:
        return refusal
    if action.action in {"return", "extend", "suspend"} and not action.note.strip():
        return Refusal("reason_required", f"{action.action} needs the reason in its note")
    if action.action == "extend" and action.until is None:
        return Refusal("until_required", "extend needs `until`: the deadline asked for")
    if rule.clock:
        return Transition(action.action, rule.source, rule.target, case.stage, clock=True)
    return Transition(
        action=action.action,
        source=rule.source,
        target=rule.target,
        stage=rule.stage,
        rework=key == "verify_fail",
        sets_handled_by=action.action == "feedback",
        reassign=action.action in {"return", "dispatch"},
    )


def _who_refuses(
    rule: Rule,
    case: Case,
    *,
    actor_role: str,
    actor_id: str,
    actor_area: str | None,
    assignee_role: str | None,
) -> Refusal | None:
    """Return why the actor may not take this row of the table, or None when they may."""
    is_assignee = case.assignee is not None and actor_id == case.assignee
    higher = _higher(
        case, actor_role=actor_role, actor_area=actor_area, assignee_role=assignee_role
    )
    if rule.who == "assignee" and not (is_assignee or higher):
        return Refusal(
            "not_assignee",
            f"case {case.case_id} is assigned to {case.assignee}; {actor_id} is neither the"
            " assignee nor above them for this area",
        )
    if (
        rule.who == "handler"
        and not (
            level_of(actor_role) >= LEVELS.index("community_handler") and _covers(actor_area, case)
        )
        and not is_assignee
    ):
        return Refusal(
            "not_handler",
            f"only the community handler (or higher) of case {case.case_id} may re-dispatch it",
        )
    if rule.who == "approver" and not (
        level_of(actor_role) >= LEVELS.index("community_handler") and _covers(actor_area, case)
    ):
        return Refusal(
            "not_approver",
            f"only the community handler (or higher) of case {case.case_id} may {rule.action}",
        )
    if rule.who == "verifier":
        # Separation of duties: whoever handled it does not check it, whatever their rank.
        if case.handled_by is not None and actor_id == case.handled_by:
            return Refusal(
                "same_person",
                f"{actor_id} gave the feedback on case {case.case_id}; someone else must verify",
            )
        if not (is_assignee or _covers(actor_area, case) or higher):
            return Refusal(
                "not_in_area", f"{actor_id} is not staff of the area of case {case.case_id}"
            )
    return None
