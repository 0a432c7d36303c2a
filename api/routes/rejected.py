"""The rejected-messages store, as operators list it."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import Caller, Conn, require_role
from api.pagination import MAX_LIMIT, decode_cursor, page
from ingest.service import list_rejected

router = APIRouter(prefix="/api/v1", tags=["ingest"])


@router.get("/rejected")
def get_rejected(
    *,  # FastAPI passes every parameter by name
    conn: Conn,
    caller: Caller,
    since: datetime | None = None,
    topic: str | None = None,
    reason: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    """List rejected messages, newest first, with their raw payload in base64."""
    require_role(caller, "admin", "operator", "integrator")
    position = decode_cursor(cursor)
    rows = list_rejected(
        conn,
        since=since,
        topic=topic,
        reason=reason,
        after_id=int(position["id"]) if position else None,
        limit=limit,
    )
    items = [
        {
            "id": r["id"],
            "topic": r["topic"],
            "reason": r["reason"],
            "detail": r["detail"],
            "received_at": r["received_at"],
            "payload_b64": base64.b64encode(bytes(r["payload"])).decode(),
        }
        for r in rows
    ]
    return page(items, limit=limit, position={"id": rows[-1]["id"]} if rows else None)
