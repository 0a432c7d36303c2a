"""Dependencies shared by the routes: the request's one connection, the caller, the clock.

A request holds at most one pooled connection, and everything it does in the database goes
through it: the token lookup too. (A second connection from the same pool deadlocks once as
many requests as the pool has connections each hold one and wait for another.)

The connection's transaction commits when the route function returns and before the response
is sent (``scope="function"``): a write the caller was told about is a committed write, and a
commit that fails is answered as an error. Without the scope FastAPI runs a dependency's exit
after the response is sent. Requests wait for a connection on the event loop
(``api.lender``), never in a worker thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request

from api.errors import ApiError
from api.lender import ConnectionLender
from api.settings import ApiSettings
from api.tokens import Principal, lookup_token
from infra.clock import Clock
from infra.database import Conn as Connection
from infra.database import Pool


def get_pool(request: Request) -> Pool:
    """Return the app's connection pool."""
    pool: Pool = request.app.state.pool
    return pool


def get_settings(request: Request) -> ApiSettings:
    """Return the settings the app was built with."""
    settings: ApiSettings = request.app.state.settings
    return settings


def get_clock(request: Request) -> Clock:
    """Return the app's clock."""
    clock: Clock = request.app.state.clock
    return clock


async def get_conn(request: Request) -> AsyncIterator[Connection]:
    """Lend the request its pooled connection; commit before answering, roll back on error."""
    lender: ConnectionLender = request.app.state.lender
    async with lender.connection() as conn:
        yield conn


Conn = Annotated[Connection, Depends(get_conn, scope="function")]
Config = Annotated[ApiSettings, Depends(get_settings)]
Now = Annotated[Clock, Depends(get_clock)]


def get_principal(conn: Conn, authorization: Annotated[str | None, Header()] = None) -> Principal:
    """Authenticate the bearer token on the request's connection, every request.

    No cache: a revoked or expired token is refused at once (issue 9), and the lookup is one
    primary-key read on the connection the request holds anyway.
    """
    if not authorization or not authorization.lower().startswith("bearer "):
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>")
    principal = lookup_token(conn, token=authorization[7:].strip())
    if principal is None:
        raise ApiError(401, "unauthorized", "the token is unknown, revoked or expired")
    return principal


Caller = Annotated[Principal, Depends(get_principal)]
