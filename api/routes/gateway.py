"""The GB/T 26875.3 gateway: connected devices, and commands to them (duty check, clock sync,
status reads)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, model_validator

from api.deps import Caller, Conn
from api.errors import ERROR_RESPONSES, ApiError, documented
from api.pagination import MAX_LIMIT, Page, decode_cursor, page
from api.permissions import allow
from api.routes.grids import Locator
from api.scope import require_device
from gateway.command_service import StoredCommand, list_commands, request_command
from gateway.commands import CommandKind, ReadTarget, check_target
from gateway.exceptions import CommandTargetError
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


class CommandBody(BaseModel):
    """A command for a transmission device: a duty check (查岗), a clock sync or a status read."""

    kind: CommandKind
    answer_within_min: int = Field(default=10, ge=1, le=255, description="duty check only")
    target: ReadTarget | None = Field(
        default=None,
        description="reads only: the system (default: fire alarm system 1) and, for"
        " read_part_status, the part's zone and position (required)",
    )

    @model_validator(mode="after")
    def _target_fits_kind(self) -> CommandBody:
        check_target(self.kind, self.target)
        return self


@router.post(
    "/devices/{device_id}/commands",
    responses={409: documented("`no_gb26875_address`: the device has no address to send to")},
)
def post_command(
    *, device_id: str, body: CommandBody, conn: Conn, caller: Caller, locator: Locator
) -> StoredCommand:
    """Ask the gateway to send a command to a transmission device.

    Answers at once with the stored command (``pending``); the gateway sends it while the device is
    connected, resends it every 10 s until confirmed (3 tries), and a duty check is
    ``answered`` (with ``response_s``) or ``unanswered`` after ``answer_within_min``. A read
    (``read_system_status``, ``read_part_status``) is ``answered`` with the device's status
    objects in ``answer``, or ``unanswered`` after its tries.
    """
    allow(caller, "gateway.command")
    require_device(conn, caller, device_id=device_id, locator=locator)
    try:
        return request_command(
            conn,
            device_id=device_id,
            kind=body.kind,
            by=caller.actor,
            answer_within_min=body.answer_within_min,
            target=body.target,
        )
    except CommandTargetError as exc:
        if exc.registered:
            raise ApiError(409, "no_gb26875_address", str(exc)) from exc
        raise ApiError(404, "not_found", str(exc)) from exc


@router.get("/devices/{device_id}/commands")
def get_commands(
    *,
    device_id: str,
    conn: Conn,
    caller: Caller,
    locator: Locator,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> Page[StoredCommand]:
    """List a device's commands, newest first, with their outcomes."""
    allow(caller, "gateway.read_commands")
    require_device(conn, caller, device_id=device_id, locator=locator)
    return page(list_commands(conn, device_id=device_id, limit=limit), limit=limit, position=None)
