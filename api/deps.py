"""Dependencies shared by the routes: the connection pool and the caller's principal."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Header, Request
from psycopg_pool import ConnectionPool

from api.errors import ApiError
from api.tokens import Principal, lookup_token

_TOKEN_CACHE_S = 30.0


def get_pool(request: Request) -> ConnectionPool[psycopg.Connection[Any]]:
    """Return the app's connection pool."""
    pool: ConnectionPool[psycopg.Connection[Any]] = request.app.state.pool
    return pool


def get_conn(request: Request) -> Iterator[psycopg.Connection[Any]]:
    """Lend a pooled connection for one request; commit on success."""
    with get_pool(request).connection() as conn:
        yield conn


Conn = Annotated[psycopg.Connection[Any], Depends(get_conn)]


def get_principal(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """Authenticate the bearer token (cached briefly so a busy console is not a query each)."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>")
    token = authorization[7:].strip()
    cache: dict[str, tuple[float, Principal]] = request.app.state.token_cache
    hit = cache.get(token)
    now = time.monotonic()
    if hit is not None and now - hit[0] < _TOKEN_CACHE_S:
        return hit[1]
    with get_pool(request).connection() as conn:
        principal = lookup_token(conn, token=token)
    if principal is None:
        raise ApiError(401, "unauthorized", "the token is unknown or revoked")
    cache[token] = (now, principal)
    return principal


Caller = Annotated[Principal, Depends(get_principal)]


def require_role(principal: Principal, *roles: str) -> None:
    """Refuse the call unless the principal has one of ``roles``."""
    if principal.role not in roles:
        raise ApiError(403, "forbidden", f"this needs one of the roles: {', '.join(roles)}")
