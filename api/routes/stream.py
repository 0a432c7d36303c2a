"""The live feed over Server-Sent Events (CONTRACT §4): ``GET /api/v1/stream``.

Each hazard change arrives as ``id: <event_log.id>``, ``event: hazard.opened|updated|cleared``
and ``data:`` the hazard as ``GET /api/v1/hazards`` shows it plus the event's type, time and
change. ``Last-Event-ID`` (header, or ``?last_event_id=`` for tests and for browsers whose
EventSource reconnects by URL) replays every later event from the event log, then goes on live;
without it the stream starts now, or at ``?since=``. EventSource, which sends no headers,
authenticates by ``?ticket=`` from ``POST /api/v1/stream/tickets`` (single use, 60 s), never by a
token in the URL. The feed itself is the ``feed`` package.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from pydantic_core import to_json
from starlette.types import Message, Send

from api.deps import Caller, Conn, Now, get_principal
from api.errors import ERROR_RESPONSES, ApiError, ErrorEnvelope
from api.routes.hazards import visible
from api.tickets import TICKET_TTL, redeem_ticket
from api.tickets import issue_ticket as store_ticket
from api.tokens import Principal
from devices.geo import Crs, from_wgs84
from feed.flows import follow
from feed.models import LiveEvent, LiveFeed
from hazards.views import hazard_view

__all__ = ["StreamTicket", "close_streams", "frame", "issue_ticket", "router", "stream"]

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["stream"])

HEARTBEAT_S: Final = 15.0  # a comment line this often keeps proxies from closing the stream
RETRY_MS: Final = 2000  # how soon EventSource reconnects after the stream ends
_READY_S: Final = 10.0
_CASE_KINDS: Final = frozenset({"case.created", "case.updated"})  # CONTRACT §4's stream kinds
_LAST_WORD_S: Final = 1.0  # how long the closing comment may take to go out at shutdown

_FRAME_EXAMPLE = (
    "retry: 2000\n: connected\n\n"
    "id: 42\nevent: hazard.opened\n"
    'data: {"id":7,"rule":"smoke","kind":"smoke_alarm","severity":"critical","status":"open",'
    '"...":"...","type":"hazard.opened","event_id":42,"event_at":"2026-12-07T09:00:00Z",'
    '"change":{}}\n\n'
    ": ping\n\n"
)
# The stream is text/event-stream, not JSON: documented as what it is, its errors (answered
# before the stream starts) as the envelope every other route answers.
STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "Server-Sent Events: per hazard change `id` (the event log id, for Last-Event-ID),"
            " `event` (hazard.opened, hazard.updated, hazard.cleared) and `data`, one JSON"
            " object: the hazard as `GET /api/v1/hazards` shows it (HazardView) plus `type`,"
            " `event_id`, `event_at` and `change`. A `: ping` comment every"
            f" {HEARTBEAT_S:g} s. A slow reader is never cut off (it is served from the event"
            " log); one whose connection takes nothing for `stream_stall_s` is, and the stream"
            " ends with a comment when the server stops: EventSource resumes with Last-Event-ID."
        ),
        "content": {"text/event-stream": {"schema": {"type": "string"}, "example": _FRAME_EXAMPLE}},
    },
    **{status: ERROR_RESPONSES[status] for status in (400, 401, 422, 500)},
    503: {
        "model": ErrorEnvelope,
        "description": "the live feed cannot reach the database (`feed_unavailable`)",
    },
}


def frame(ev: LiveEvent, crs: Crs) -> str:
    """Render one event as an SSE frame: a hazard or a case as the REST answers show it."""
    if ev.case is not None:
        # The case as GET /api/v1/cases shows it (WGS-84 as stored), and the step it took.
        case_body = {**ev.case, "type": ev.type, "event_id": ev.id, "event_at": ev.at}
        if ev.case.get("lat") is not None and ev.case.get("lon") is not None:
            case_body["lat"], case_body["lon"] = from_wgs84(ev.case["lat"], ev.case["lon"], crs)
        data = to_json(case_body | {"step": ev.data}).decode()
        return f"id: {ev.id}\nevent: {ev.type}\ndata: {data}\n\n"
    if ev.hazard is None:  # _accept lets none through
        raise ValueError(f"event {ev.id} carries no hazard or case to show")
    body: dict[str, Any] = {
        **hazard_view(ev.hazard, crs).model_dump(),
        "type": ev.type,
        "event_id": ev.id,
        "event_at": ev.at,
        "change": ev.data,
    }
    # pydantic's encoder, as the REST responses use: times come out the same way (…Z) in both.
    data = to_json(body).decode()
    return f"id: {ev.id}\nevent: {ev.type}\ndata: {data}\n\n"


def _last_id(header: str | None, query: str | None) -> int | None:
    raw = header if header not in (None, "") else query
    if raw in (None, ""):
        return None
    try:
        value = int(str(raw).strip())
    except ValueError as exc:
        raise ApiError(400, "invalid_last_event_id", "Last-Event-ID must be an event id") from exc
    if value < 0:
        raise ApiError(400, "invalid_last_event_id", "Last-Event-ID must be an event id")
    return value


def _accept(caller: Principal) -> Callable[[LiveEvent], bool]:
    def accept(ev: LiveEvent) -> bool:
        if ev.type in _CASE_KINDS:  # refusals go to the actor's inbox, not to the feed
            return ev.case is not None and caller.sees_place(
                grid=ev.case.get("grid_code"),
                community=ev.case.get("community_code"),
                street=ev.case.get("street_code"),
            )
        hazard = ev.hazard
        return ev.type.startswith("hazard.") and hazard is not None and visible(caller, hazard)

    return accept


class StreamTicket(BaseModel):
    """A single-use ticket for ``GET /api/v1/stream?ticket=``, valid until ``expires_at``."""

    ticket: str
    expires_at: datetime


@router.post("/stream/tickets", response_model=StreamTicket, responses=ERROR_RESPONSES)
def issue_ticket(*, conn: Conn, caller: Caller, clock: Now) -> StreamTicket:
    """Trade the bearer token for a single-use, 60 s stream ticket of the same scope."""
    now = clock.now()
    ticket = store_ticket(conn, caller, now=now)
    return StreamTicket(ticket=ticket, expires_at=now + TICKET_TTL)


def stream_caller(
    conn: Conn,
    clock: Now,
    authorization: Annotated[str | None, Header()] = None,
    ticket: str | None = None,
) -> Principal:
    """Authenticate the stream by its ``?ticket=`` (used up here) or else the bearer token."""
    if ticket is None:
        return get_principal(conn, authorization)
    principal = redeem_ticket(conn, ticket, now=clock.now())
    if principal is None:
        raise ApiError(401, "unauthorized", "the stream ticket is unknown, used or expired")
    return principal


@router.get("/stream", response_class=StreamingResponse, responses=STREAM_RESPONSES)
async def stream(
    *,  # FastAPI passes every parameter by name
    request: Request,
    caller: Annotated[Principal, Depends(stream_caller)],
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    last_event_id: str | None = None,
    since: datetime | None = None,
    crs: Crs = Crs.WGS84,
) -> StreamingResponse:
    """Stream hazard and case events as Server-Sent Events, resuming after ``Last-Event-ID``."""
    after = _last_id(last_event_id_header, last_event_id)
    if since is not None and since.tzinfo is None:
        raise ApiError(400, "invalid_time", "since needs a UTC offset (e.g. ...Z)")
    feed: LiveFeed = request.app.state.live_feed
    try:
        async with asyncio.timeout(_READY_S):
            await feed.wait_ready()
    except TimeoutError as exc:
        raise ApiError(503, "feed_unavailable", "the live feed cannot reach the database") from exc
    events = follow(
        feed,
        after=after,
        since=None if after is not None else since,
        accept=_accept(caller),
        heartbeat_s=HEARTBEAT_S,
        maxsize=request.app.state.settings.limits.stream_queue_size,
    )
    return _SseResponse(
        _sse(events, crs),
        stall_s=request.app.state.settings.limits.stream_stall_s,
        closing=_closing(request.app),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _closing(app: FastAPI) -> asyncio.Event:
    closing: asyncio.Event | None = getattr(app.state, "stream_closing", None)
    if closing is None:
        app.state.stream_closing = closing = asyncio.Event()
    return closing


def close_streams(app: FastAPI) -> None:
    """End every open stream of ``app`` with a closing comment (call on its loop at shutdown)."""
    _closing(app).set()


class _StalledError(Exception):
    """The client's socket took nothing for the stall time."""


class _SseResponse(StreamingResponse):
    """A stream that ends when its client stalls or the server stops, never by a traceback."""

    def __init__(
        self,
        content: AsyncIterator[str],
        *,
        stall_s: float,
        closing: asyncio.Event,
        headers: Mapping[str, str],
    ) -> None:
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self._stall_s = stall_s
        self._closing = closing

    async def stream_response(self, send: Send) -> None:
        """Stream until the events end, the client stalls or the server stops."""

        async def bounded(message: Message) -> None:
            # uvicorn's send waits while the socket's buffer is full: a reader that drains it,
            # however slowly, keeps its stream; one that takes nothing for stall_s loses it.
            try:
                async with asyncio.timeout(self._stall_s):
                    await send(message)
            except TimeoutError as exc:
                raise _StalledError from exc

        body = asyncio.create_task(super().stream_response(bounded), name="sse-body")
        closing = asyncio.create_task(self._closing.wait(), name="sse-closing")
        try:
            await asyncio.wait({body, closing}, return_when=asyncio.FIRST_COMPLETED)
            if body.done():
                body.result()
                return
            # The server stops: end the response ourselves, so uvicorn has nothing to cancel.
            body.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await body
            with contextlib.suppress(TimeoutError, OSError):
                async with asyncio.timeout(_LAST_WORD_S):
                    await send(
                        {
                            "type": "http.response.body",
                            "body": b": server stopping, reconnect with Last-Event-ID\n\n",
                            "more_body": False,
                        }
                    )
        except _StalledError:
            # Its socket is not draining, so no last word can reach it: the response just ends.
            log.warning("a live-feed client took nothing for %g s; cut off", self._stall_s)
        finally:
            body.cancel()
            closing.cancel()
            # Let the body task finish first: closing its generator while it runs would fail.
            await asyncio.gather(body, closing, return_exceptions=True)
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                await aclose()  # unsubscribes now, not whenever the generator is collected


async def _sse(events: AsyncGenerator[LiveEvent | None, None], crs: Crs) -> AsyncIterator[str]:
    yield f"retry: {RETRY_MS}\n: connected\n\n"
    try:
        async for ev in events:
            yield ": ping\n\n" if ev is None else frame(ev, crs)
    finally:
        await events.aclose()  # unsubscribes now, not whenever the generator is collected
