"""The GB/T 26875.3 gateway's connections: which transmission devices are connected now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.deps import Caller
from api.errors import ERROR_RESPONSES
from api.pagination import MAX_LIMIT, Page, decode_cursor, page
from api.permissions import allow
from gateway.views import ConnectionsSource, GatewayConnection, connection_view

router = APIRouter(prefix="/api/v1", tags=["gateway"], responses=ERROR_RESPONSES)


@router.get("/gateway/connections")
def get_connections(
    *,  # FastAPI passes every parameter by name
    request: Request,
    caller: Caller,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: str | None = None,
) -> Page[GatewayConnection]:
    """List the devices connected to this process's gateway, by peer address.

    Counters since each connection opened; an empty list where no gateway runs (no
    ``FIREGRID_GB26875``, or the gateway runs in another process).
    """
    allow(caller, "gateway.read")
    source: ConnectionsSource | None = getattr(request.app.state, "gateway_connections", None)
    after = decode_cursor(cursor, lambda p: str(p["peer"]))
    stats = sorted(source() if source is not None else [], key=lambda s: s.peer)
    items = [connection_view(s) for s in stats if after is None or s.peer > after][:limit]
    return page(items, limit=limit, position={"peer": items[-1].peer} if items else None)
