"""The rejected-messages store, as operators list it."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.audit import record_write
from api.deps import Caller, Config, Conn
from api.errors import ERROR_RESPONSES, ApiError
from api.pagination import MAX_LIMIT, Page, cursor_int, decode_cursor, page
from api.permissions import allow
from ingest.rejected_replay import REGISTRY_REASONS, replay_stored
from ingest.service import list_rejected
from ingest.views import Rejected, rejected_view

router = APIRouter(prefix="/api/v1", tags=["ingest"], responses=ERROR_RESPONSES)


class ReplayAnswer(BaseModel):
    """What a replay fed through ingest and what it stored (``ingest.ReplayOutcome``)."""

    messages: int
    readings: int
    events: int
    fixes: int
    reports: int
    photos: int
    duplicates: int
    rejected_again: int
    still_unknown: int = 0  # gateway frames whose address is still unregistered: left pending
    batches: list[int]


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
) -> Page[Rejected]:
    """List rejected messages, newest first, with their raw payload in base64."""
    allow(caller, "rejected.read")
    rows = list_rejected(
        conn,
        since=since,
        topic=topic,
        reason=reason,
        after_id=decode_cursor(cursor, lambda p: cursor_int(p["id"])),
        limit=limit,
    )
    items = [rejected_view(r) for r in rows]
    return page(items, limit=limit, position={"id": rows[-1].id} if rows else None)


class ReplayBody(BaseModel):
    """Which stored rejections to replay: by reason (default: the registry ones), since when."""

    reasons: list[str] = Field(default_factory=lambda: list(REGISTRY_REASONS), min_length=1)
    since: datetime | None = None


@router.post("/rejected/replay")
def post_replay(
    conn: Conn, caller: Caller, settings: Config, body: ReplayBody | None = None
) -> ReplayAnswer:
    """Feed stored rejections through ingest again, e.g. once their devices are registered.

    Each replayed row is marked and never replayed twice; what is refused again is a new
    rejected row with its new reason. Answers what the replay stored.
    """
    allow(caller, "rejected.replay")
    body = body or ReplayBody()
    if body.since is not None and body.since.tzinfo is None:
        raise ApiError(400, "invalid_time", "since needs a UTC offset (e.g. ...Z)")
    outcome = replay_stored(
        settings.db_url.get_secret_value(),
        settings=settings.ingest,
        storage=settings.storage,
        data_dir=settings.data_dir,
        reasons=body.reasons,
        since=body.since,
    )
    answer = ReplayAnswer(**dataclasses.asdict(outcome))
    # The replay committed on its own connections; who asked for it commits with this request.
    asked = {"reasons": body.reasons, "since": body.since.isoformat() if body.since else None}
    counts = answer.model_dump(exclude={"batches"})  # a city's replay may name thousands
    record_write(conn, caller, action="rejected.replay", detail=asked | counts)
    return answer
