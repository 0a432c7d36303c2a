"""Case events on the log (``case.created``, ``case.updated``, ``case.refused``), each with the
case as the API shows it, the step, and who must be told (``notify``): in the change's
transaction, so a message exists exactly when its step committed (dispatch-design.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from dispatch.assign import staff_by_id
from dispatch.models import Actor, Case, CaseStep
from dispatch.views import case_view, rfc3339, step_view
from infra.database import Conn
from infra.eventlog import append

__all__ = [
    "CREATED",
    "REFUSED",
    "UPDATED",
    "Notice",
    "emit",
    "emit_refusal",
    "entries",
    "payload",
]

CREATED: Final = "case.created"
UPDATED: Final = "case.updated"
REFUSED: Final = "case.refused"


class Notice:
    """One person to tell of a step: whom, why, what is asked of them and by when."""

    __slots__ = ("action_id", "asks", "due", "kind", "reason", "staff_id", "text")

    def __init__(
        self,
        staff_id: str,
        kind: str,
        *,
        asks: str | None = None,
        due: datetime | None = None,
        text: str = "",
        action_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.staff_id = staff_id
        self.kind = kind
        self.asks = asks
        self.due = due
        self.text = text
        self.action_id = action_id
        self.reason = reason


def _entries(conn: Conn, notices: Sequence[Notice]) -> list[dict[str, Any]]:
    staff = staff_by_id(conn, staff_ids=sorted({n.staff_id for n in notices}))
    return entries(notices, staff)


def entries(notices: Sequence[Notice], staff: Mapping[str, Actor]) -> list[dict[str, Any]]:
    """Return the ``notify`` entries of ``notices``, terminals from ``staff`` (by id)."""
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, Any]] = []
    for n in notices:
        if (n.staff_id, n.kind) in seen:  # one message per person and reason per step
            continue
        seen.add((n.staff_id, n.kind))
        who: Actor | None = staff.get(n.staff_id)
        entry: dict[str, Any] = {
            "staff_id": n.staff_id,
            # A staff member without a terminal still appears: the webhook carries it.
            "terminal_id": who.terminal_id if who is not None else None,
            "kind": n.kind,
            "asks": n.asks,
            "due": rfc3339(n.due),
            "text": n.text,
        }
        if n.action_id is not None:
            entry["action_id"] = n.action_id
        if n.reason is not None:
            entry["reason"] = n.reason
        out.append(entry)
    return out


def payload(case: Case, step: CaseStep | None, notify: list[dict[str, Any]]) -> dict[str, Any]:
    """Return a case event's payload: the case as it now stands, the step, who is told."""
    return {
        "case": case_view(case).model_dump(mode="json", exclude={"history"}),
        "step": None if step is None else _step(step),
        "notify": notify,
    }


def emit(
    conn: Conn, *, kind: str, case: Case, step: CaseStep | None, notices: Sequence[Notice]
) -> int:
    """Append a case event for ``step`` of ``case`` (as it now stands); return its id."""
    return append(
        conn,
        kind=kind,
        subject=case.case_id,
        payload=payload(case, step, _entries(conn, notices)),
        place=(case.grid_code, case.community_code, case.street_code),
    )


def _step(step: CaseStep) -> dict[str, Any]:
    view = step_view(step).model_dump(mode="json")
    return {
        k: view[k] for k in ("seq", "action", "actor", "at", "note", "from_status", "to_status")
    }


def emit_refusal(
    conn: Conn,
    *,
    case: Case | None,
    case_id: str,
    action: str,
    action_id: str,
    actor_id: str | None,
    terminal_id: str | None,
    code: str,
    reason: str,
    at: datetime,
) -> int:
    """Append ``case.refused``: the actor is told which action was refused and why."""
    entry: dict[str, Any] = {
        "staff_id": actor_id,
        "terminal_id": terminal_id,
        "kind": "refusal",
        "asks": None,
        "due": None,
        "text": f"{action} refused: {reason}",
        "action_id": action_id,
        "reason": reason,
        "code": code,
    }
    payload = {
        "case": None
        if case is None
        else case_view(case).model_dump(mode="json", exclude={"history"}),
        "step": {
            "seq": None,
            "action": action,
            "actor": actor_id,
            "at": rfc3339(at),
            "note": reason,
        },
        "notify": [entry],
    }
    place = (
        (None, None, None)
        if case is None
        else (case.grid_code, case.community_code, case.street_code)
    )
    return append(conn, kind=REFUSED, subject=case_id, payload=payload, place=place)
