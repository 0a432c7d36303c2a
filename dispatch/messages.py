"""What a case event on the log becomes: inbox messages for terminals, a webhook body.

Pure functions of the event, so a repeat after a crash is the same message byte for byte: the
``message_id`` is uuid5 of the event id and the ``notify`` entry's index, and ``sent_at`` is
when the step was logged (not when this attempt went out), so a terminal that sees one twice can
drop the second by its id and lose nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from infra.eventlog import Event

__all__ = [
    "CASE_KINDS",
    "MESSAGE_NAMESPACE",
    "WEBHOOK_KINDS",
    "InboxMessage",
    "backoff",
    "inbox_messages",
    "message_id",
    "rfc3339",
    "webhook_body",
    "webhook_wanted",
]

CASE_KINDS: Final = frozenset({"case.created", "case.updated", "case.refused"})
WEBHOOK_KINDS: Final = CASE_KINDS | {"hazard.opened"}
# Fixed for ever: changing it would give every message ever sent a new id.
MESSAGE_NAMESPACE: Final = uuid.UUID("6f1d3c0e-8f0b-5b8e-9a43-2c6e1f4f0a11")
# Fields of a notify entry carried to the terminal beside the case (the design's inbox JSON).
_ENTRY_FIELDS: Final = ("asks", "due", "text")
_REFUSAL_FIELDS: Final = ("action_id", "reason")


def message_id(event_id: int, index: int) -> uuid.UUID:
    """Return the id of the message for ``notify[index]`` of event ``event_id``."""
    return uuid.uuid5(MESSAGE_NAMESPACE, f"{event_id}:{index}")


def rfc3339(at: datetime) -> str:
    """Return ``at`` as RFC 3339 UTC with ``Z`` and milliseconds."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class InboxMessage:
    """One message for one terminal, ready to publish."""

    message_id: uuid.UUID
    event_id: int
    index: int  # the notify entry it came from
    terminal_id: str
    kind: str
    case_id: str
    body: bytes  # the JSON published

    def topic(self, prefix: str) -> str:
        """Return the terminal's inbox topic under ``prefix``."""
        return f"{prefix}/t/{self.terminal_id}/inbox"


def inbox_messages(event: Event) -> list[InboxMessage]:
    """Return one message per ``notify`` entry of a case event that names a terminal.

    Entries without a terminal (staff with no handheld) are skipped: the webhook carries them.
    Events of other kinds, or without ``notify``, give nothing.
    """
    if event.kind not in CASE_KINDS:
        return []
    payload = event.payload
    notify = payload.get("notify")
    if not isinstance(notify, list):
        return []
    case = payload.get("case")
    if not isinstance(case, dict):
        case = {}
    case_id = str(case.get("id") or event.subject)
    out: list[InboxMessage] = []
    for index, entry in enumerate(notify):
        if not isinstance(entry, Mapping):
            continue
        terminal = entry.get("terminal_id")
        if not isinstance(terminal, str) or not terminal:
            continue
        mid = message_id(event.id, index)
        kind = str(entry.get("kind", ""))
        body: dict[str, Any] = {"message_id": str(mid), "kind": kind, "case_id": case_id}
        body.update({f: entry.get(f) for f in _ENTRY_FIELDS})
        body["case"] = case
        body.update({f: entry[f] for f in _REFUSAL_FIELDS if f in entry})
        body["sent_at"] = rfc3339(event.at)
        out.append(
            InboxMessage(
                message_id=mid,
                event_id=event.id,
                index=index,
                terminal_id=terminal,
                kind=kind,
                case_id=case_id,
                body=_dumps(body),
            )
        )
    return out


def webhook_wanted(event: Event) -> bool:
    """Tell whether the webhook carries ``event``: every case event, critical hazards opening."""
    if event.kind in CASE_KINDS:
        return True
    if event.kind == "hazard.opened":
        hazard = event.payload.get("hazard")
        return isinstance(hazard, Mapping) and hazard.get("severity") == "critical"
    return False


def webhook_body(event: Event) -> bytes:
    """Return the JSON POSTed for ``event``: type, timestamp, subject and the event's data."""
    return _dumps(
        {
            "type": event.kind,
            "timestamp": rfc3339(event.at),
            "subject": event.subject,
            "data": event.payload,
        }
    )


def backoff(attempts: int, *, initial_s: float, max_s: float) -> timedelta:
    """Return the wait after the ``attempts``-th failed attempt: doubling from ``initial_s``."""
    exponent = min(max(attempts - 1, 0), 62)  # large counts must not overflow the float
    return timedelta(seconds=min(max_s, initial_s * 2.0**exponent))


def _dumps(value: Mapping[str, Any]) -> bytes:
    # Sorted keys and no spaces: the same event gives the same bytes in every process.
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
