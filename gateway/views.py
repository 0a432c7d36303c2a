"""What the API shows of the gateway: its open connections."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from gateway.models import ConnectionStats


class GatewayConnection(BaseModel):
    """One connected transmission device, as operators see it."""

    model_config = ConfigDict(frozen=True)

    peer: str  # ip:port
    address: int | None  # GB/T 26875 source address of its last frame; None before one
    connected_at: datetime
    last_frame_at: datetime | None
    frames_in: int
    frames_out: int
    bytes_in: int
    bytes_out: int


# What the composition root hands the API: the running gateway's connections, now.
ConnectionsSource = Callable[[], list[ConnectionStats]]


def connection_view(stats: ConnectionStats) -> GatewayConnection:
    """Return the API's view of one connection's counters."""
    return GatewayConnection(
        peer=stats.peer,
        address=stats.address,
        connected_at=stats.connected_at,
        last_frame_at=stats.last_frame_at,
        frames_in=stats.frames_in,
        frames_out=stats.frames_out,
        bytes_in=stats.bytes_in,
        bytes_out=stats.bytes_out,
    )
