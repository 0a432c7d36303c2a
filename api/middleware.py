"""Around every request: its id, the body size limit, and the envelope for the unexpected.

A pure ASGI middleware rather than ``BaseHTTPMiddleware``: it sees the body as it streams in
(so an oversized one is refused before it is read whole) and adds no task per request.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Final

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import REQUEST_ID_HEADER, error_body

log = logging.getLogger(__name__)

# A caller's own id is kept when it is one a log line can carry safely.
_CALLER_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")


PUBLIC_REPORTS_PATH: Final = "/api/v1/public/reports"


def too_large(limit: int) -> str:
    """Say what the body limit is."""
    return f"the request body is larger than {limit} bytes, the limit here"


class BodyTooLargeError(HTTPException):
    """The request body passed its limit (raised while it streams in, answered 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit))


def _request_id(scope: Scope) -> str:
    given = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
    return given if _CALLER_ID.fullmatch(given) else uuid.uuid4().hex


class RequestContext:
    """Give each request an id (echoed in ``X-Request-ID``), bound its body, answer any
    exception no handler took as a 500 ``internal_error`` envelope, logged with the id."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_import_bytes: int,
        max_public_report_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_import_bytes = max_import_bytes
        self.max_public_report_bytes = max_public_report_bytes or max_body_bytes

    def limit_for(self, path: str) -> int:
        """Return the body limit of a path: registry and grid imports take whole files, a
        resident's report its photos."""
        if path == PUBLIC_REPORTS_PATH:
            return self.max_public_report_bytes
        return self.max_import_bytes if path.endswith("/import") else self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        # Request.state reads scope["state"]: handlers find the id as request.state.request_id.
        scope.setdefault("state", {})["request_id"] = rid
        limit = self.limit_for(scope["path"])
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = rid
            await send(message)

        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            # Refused on its declared length: nothing of the body is read.
            await _answer(send_with_id, 413, "payload_too_large", too_large(limit), rid)
            return
        seen = 0

        async def receive_bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLargeError(limit)
            return message

        try:
            await self.app(scope, receive_bounded, send_with_id)
        except BodyTooLargeError as exc:
            # Normally answered by the app's handlers; here if it surfaced outside a route.
            if started:
                raise
            await _answer(send_with_id, 413, "payload_too_large", str(exc.detail), rid)
        except Exception:
            if started:
                raise  # the status is on the wire already: only the server's log can tell
            log.exception("request %s %s %s failed", rid, scope["method"], scope["path"])
            await _answer(
                send_with_id, 500, "internal_error", "the server failed this request", rid
            )


async def _answer(send: Send, status: int, code: str, message: str, rid: str) -> None:
    body = error_body(code, message, request_id=rid)
    response = JSONResponse(body, status_code=status)
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})
