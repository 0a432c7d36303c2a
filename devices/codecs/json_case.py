"""Case actions from handheld terminals (CONTRACT §1 `fg/v1/t/{terminal_id}/case`). Pure.

```
{"action_id": "…uuid…", "case_id": "C-20261126-000123", "action": "sign", "ts": "…",
 "note": "已到现场", "photos": [], "position": {"lat": 31.2481, "lon": 121.5875}}
```

Extensions: ``result`` (verify), ``until`` (extend: the deadline asked for) and ``request_id``
(approve / refuse: the asking action's ``action_id``).

An action is one thing: any unusable field rejects it whole (it is idempotent under its
``action_id``, so a corrected resend must not meet a half-stored first try). Whether the case's
state allows it is the dispatch role's question, answered on the terminal's inbox.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

from devices.codecs._json import load_object, show
from devices.codecs._terminal import (
    MAX_DESCRIPTION,
    check_terminal,
    photo_hashes,
    position,
    text,
    whole_time,
)
from devices.codecs.json_report import canonical_report_id
from devices.exceptions import DecodeError
from devices.models import CASE_ACTIONS, CaseActionMessage, DecodePolicy
from devices.timefmt import BadTime, parse_ts

CASE_ID: Final = re.compile(r"C-\d{8}-\d{6}")
VERIFY_RESULTS: Final = frozenset({"pass", "fail"})


def decode(
    raw: bytes, *, terminal_id: str, received_at: datetime, policy: DecodePolicy
) -> CaseActionMessage:
    """Decode one case action, converting its position to WGS-84, or raise DecodeError."""
    doc = load_object(raw)
    check_terminal(doc, raw, terminal_id)
    value = doc.get("action_id")
    # The same ID alphabet as a report's: a UUID (canonical spelling) or a vendor's number.
    action_id = canonical_report_id(value) if isinstance(value, str) else None
    if action_id is None:
        raise DecodeError(
            "missing_field" if value is None else "bad_action_id",
            raw,
            detail=f"action_id {show(value)} is neither a UUID nor [A-Za-z0-9_.-]{{1,64}}",
        )
    case_id = doc.get("case_id")
    if not isinstance(case_id, str) or not CASE_ID.fullmatch(case_id):
        raise DecodeError(
            "missing_field" if case_id is None else "bad_case_id",
            raw,
            detail=f"case_id {show(case_id)} is not C-YYYYMMDD-NNNNNN",
        )
    action = doc.get("action")
    if action not in CASE_ACTIONS:
        raise DecodeError(
            "missing_field" if action is None else "bad_action",
            raw,
            detail=f"action {show(action)} is not one of {', '.join(sorted(CASE_ACTIONS))}",
        )
    result = doc.get("result")
    if result is not None and result not in VERIFY_RESULTS:
        raise DecodeError("bad_field", raw, detail=f"result {show(result)} is not pass or fail")
    lat, lon = position(doc.get("position"), raw)
    until = _until(doc.get("until"), raw)
    request = doc.get("request_id")
    request_id = canonical_report_id(request) if isinstance(request, str) else None
    if request is not None and request_id is None:
        raise DecodeError(
            "bad_field", raw, detail=f"request_id {show(request)} is not an action_id"
        )
    return CaseActionMessage(
        action_id=action_id,
        terminal_id=terminal_id,
        case_id=case_id,
        action=action,
        ts=whole_time(doc, raw, received_at, policy),
        note=text(doc.get("note"), raw, "note", MAX_DESCRIPTION) or "",
        photos=photo_hashes(doc.get("photos"), raw),
        lat=lat,
        lon=lon,
        result=result,
        until=until,
        request_id=request_id,
    )


def _until(value: object, raw: bytes) -> datetime | None:
    """Return ``extend``'s deadline asked for: a contract time, not held to the time policy
    (it is meant to be in the future)."""
    if value is None:
        return None
    try:
        return parse_ts(value)
    except BadTime as exc:
        raise DecodeError("bad_field", raw, detail=f"until: {exc.detail}") from None
