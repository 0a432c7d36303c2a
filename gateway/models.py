"""What the gateway passes between its parts: frames waiting for their commit, connection stats.

Hot-path types are slotted dataclasses (one per frame); what the API shows is a frozen pydantic
model (``gateway.views``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol

from devices.codecs.gb26875_frame import GbFrame


class Verdict(Enum):
    """How the centre answers a frame once what it carried is stored."""

    CONFIRM = "confirm"  # a send-data frame: stored as data, or as a rejection with its reason
    DENY = "deny"  # a frame that failed its checks (checksum): stored as rejected, then denied


class Peer(Protocol):
    """The connection a frame came on: where its answer goes."""

    def answer(self, frame: ReceivedFrame) -> None:
        """Send the frame's answer (confirm or deny), if the connection is still open."""
        ...


@dataclass(slots=True)
class ReceivedFrame:
    """One frame off a socket, waiting for its commit and then its answer."""

    raw: bytes
    head: GbFrame  # header fields only: serial, time, addresses, command, version
    verdict: Verdict
    received_at: datetime
    peer: Peer
    fire: bool = False  # carries a fire bit: stored without waiting for a batch to fill
    detail: str = ""  # why a DENY frame failed its checks


@dataclass(slots=True)
class ConnectionStats:
    """One connected device's traffic, for the connections view and /metrics."""

    peer: str  # ip:port
    connected_at: datetime
    address: int | None = None  # the source address of its last frame
    centre: int | None = None  # the destination address of its last frame: ours, to it
    last_frame_at: datetime | None = None
    frames_in: int = 0
    frames_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    skipped_bytes: int = 0  # garbage between frames
