"""Structured API errors: ``{"error": {"code", "message", "details", "request_id"}}``.

CONTRACT §4 names ``code``, ``message`` and ``details``; ``request_id`` is FireGrid's extension
(docs/CONTRACT-EXTENSIONS.md), the same id as the response's ``X-Request-ID`` header and the
server's log line, so an integrator's report of an error can be found in the logs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


class ErrorDetail(BaseModel):
    """What went wrong: a stable code, a message for people, details for programs."""

    code: str
    message: str
    details: Any = None
    request_id: str | None = None  # FireGrid's extension: as in the X-Request-ID header


class ErrorEnvelope(BaseModel):
    """Every error answer of the API (CONTRACT §4)."""

    error: ErrorDetail


def documented(description: str) -> dict[str, Any]:
    """Describe an error answer of a route for the OpenAPI document: the envelope, and why."""
    return {"model": ErrorEnvelope, "description": description}


# On every router: the OpenAPI document shows the envelope, not FastAPI's own 422 schema.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: documented("a parameter, body or cursor the API cannot use"),
    401: documented("no token, or one unknown or revoked"),
    403: documented("the token's role may not do this"),
    404: documented("no such resource (or one outside the token's areas)"),
    413: documented("the body is larger than the limit (`payload_too_large`)"),
    422: documented("a parameter or body field is not valid (`invalid_request`)"),
    500: documented("the server failed (`internal_error`); quote the request_id"),
    503: documented("the database cannot answer now; retry after Retry-After seconds"),
}


class ApiError(Exception):
    """An error the API answers with a status, a stable code and a message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = dict(headers or {})
        super().__init__(message)


def error_body(
    code: str, message: str, details: Any = None, *, request_id: str | None = None
) -> dict[str, Any]:
    """Build the error envelope."""
    error: dict[str, Any] = {"code": code, "message": message, "details": details}
    if request_id is not None:
        error["request_id"] = request_id
    return {"error": error}


def request_id_of(request: Request) -> str | None:
    """Return the id ``api.middleware`` gave this request (None outside it)."""
    rid = getattr(request.state, "request_id", None)
    return rid if isinstance(rid, str) else None


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    *,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Answer an error in the envelope, with the request's id."""
    body = error_body(code, message, details, request_id=request_id_of(request))
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def install_handlers(app: FastAPI, *, retry_after_s: int) -> None:
    """Make every error the app raises answer in the structured envelope.

    What no handler here takes (a bug, a crafted input nobody foresaw) is answered 500
    ``internal_error`` by ``api.middleware.RequestContext``.
    """

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(
            request, exc.status, exc.code, exc.message, details=exc.details, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return error_response(
            request, 422, "invalid_request", "the request is not valid", details=details
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(request, exc.status_code, code, str(exc.detail), headers=exc.headers)

    # The database away, a pool with no connection to lend in time, a connection lost midway,
    # a serialisation conflict: none is the caller's fault and each may pass, so 503 and when
    # to come back. psycopg_pool's PoolTimeout and PoolClosed are OperationalErrors.
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        log.warning(
            "request %s: database unavailable: %s: %s",
            request_id_of(request),
            type(exc).__name__,
            exc,
        )
        return error_response(
            request,
            503,
            "database_unavailable",
            "the database cannot answer now; try again shortly",
            details={"reason": type(exc).__name__},
            headers={"Retry-After": str(retry_after_s)},
        )

    app.add_exception_handler(psycopg.OperationalError, _database)
    # "the connection is closed": a pooled connection whose server went away under it.
    app.add_exception_handler(psycopg.InterfaceError, _database)

    # Every value reaches SQL as a bound parameter, so a value PostgreSQL refuses (a NUL in a
    # text, a number out of range) came with the request.
    @app.exception_handler(psycopg.DataError)
    async def _data(request: Request, exc: psycopg.DataError) -> JSONResponse:
        log.info("request %s: value refused by the database: %s", request_id_of(request), exc)
        return error_response(
            request,
            400,
            "invalid_value",
            "a value in the request cannot be stored or compared",
            details={"reason": str(exc).splitlines()[0] if str(exc) else type(exc).__name__},
        )
