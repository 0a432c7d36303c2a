"""The webhook's failed deliveries: listed, and replayed on an integrator's word."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.audit import record_write
from api.deps import Caller, Conn, Now
from api.errors import ERROR_RESPONSES, ApiError
from api.pagination import MAX_LIMIT, Page, cursor_int, decode_cursor, page
from api.permissions import allow
from dispatch.deliveries import Delivery, list_failures, replay_failure

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses=ERROR_RESPONSES)

# Who may see what the city platform was sent and resend it: not an area-limited operator.


class WebhookDelivery(BaseModel):
    """One event's webhook delivery: what was sent, how often, how it ended."""

    event_id: int  # also the webhook-id header
    kind: str
    subject: str
    attempts: int
    last_status: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None
    replays: int
    created_at: datetime

    @classmethod
    def of(cls, d: Delivery) -> WebhookDelivery:
        """Return the view of a stored delivery (without its body)."""
        return cls(
            event_id=d.event_id,
            kind=d.kind,
            subject=d.subject,
            attempts=d.attempts,
            last_status=d.last_status,
            last_error=d.last_error,
            last_attempt_at=d.last_attempt_at,
            next_attempt_at=d.next_attempt_at,
            delivered_at=d.delivered_at,
            failed_at=d.failed_at,
            replays=d.replays,
            created_at=d.created_at,
        )


@router.get("/failures")
def get_failures(
    *,  # FastAPI passes every parameter by name
    conn: Conn,
    caller: Caller,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: str | None = None,
) -> Page[WebhookDelivery]:
    """List deliveries that failed after their last attempt, by event id."""
    allow(caller, "webhooks.failures")
    rows = list_failures(
        conn, after_id=decode_cursor(cursor, lambda p: cursor_int(p["id"])), limit=limit
    )
    items = [WebhookDelivery.of(r) for r in rows]
    return page(items, limit=limit, position={"id": rows[-1].event_id} if rows else None)


@router.post("/failures/{event_id}/replay")
def post_replay(conn: Conn, caller: Caller, clock: Now, event_id: int) -> WebhookDelivery:
    """Queue a failed delivery again (fresh attempts, the same webhook-id); the webhook role
    sends it. Answers the delivery as queued."""
    allow(caller, "webhooks.failures")
    delivery = replay_failure(conn, event_id=event_id, now=clock.now())
    if delivery is None:
        raise ApiError(404, "not_found", f"no failed webhook delivery for event {event_id}")
    record_write(
        conn, caller, action="webhooks.replay", detail={"event_id": event_id, "kind": delivery.kind}
    )
    return WebhookDelivery.of(delivery)
