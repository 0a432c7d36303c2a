"""The gateway's settings section; the composition root nests it into ``Settings``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from gateway.commands import MAX_ATTEMPTS, RESEND_AFTER_S
from gateway.exceptions import ListenAddressError


class GatewaySettings(BaseModel):
    """Where the gateway listens (``FIREGRID_GB26875``) and how much it holds for its peers.

    Limits (``FIREGRID_GATEWAY__...``) bound what peers can make the gateway hold: connections,
    frames waiting for their commit, an idle socket's life. A full queue stops the gateway
    reading from the sockets, so TCP pushes back on the devices; nothing is dropped.
    """

    max_connections: int = Field(default=5000, ge=1, description="more are closed at accept")
    idle_timeout_s: float = Field(
        default=2 * 3600 + 600,
        gt=0,
        description="a socket silent this long is closed (devices are polled at least every 2 h)",
    )
    queue_frames: int = Field(default=20_000, ge=1, description="frames waiting for a commit")
    batch_frames: int = Field(default=1000, ge=1, description="frames written in one commit")
    linger_s: float = Field(
        default=0.02, ge=0, description="a batch without a fire alarm waits this long to fill"
    )
    read_bytes: int = Field(default=4096, ge=64, description="bytes taken per socket read")
    command_poll_s: float = Field(
        default=1.0, gt=0, description="how often commands asked for are looked for"
    )
    command_resend_s: float = Field(
        default=RESEND_AFTER_S, gt=0, description="an unconfirmed command is sent again after"
    )
    command_attempts: int = Field(default=MAX_ATTEMPTS, ge=1, description="...this many times")


def parse_listen(value: str) -> tuple[str, int]:
    """Parse ``host:port`` as ``FIREGRID_GB26875`` writes it."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65_535:
        raise ListenAddressError(value)
    return host.strip("[]"), int(port)
