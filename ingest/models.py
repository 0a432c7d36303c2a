"""Messages as received, a batch made ready for the database, and stored rows read back.

The write path's types are slotted dataclasses (built per message, on the hot path); the rows
the API reads back are frozen pydantic models filled by ``class_row`` (here when the stored
row differs from what the API shows, in ``ingest.views`` when it is the same).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from devices.models import CaseActionMessage, DeviceEvent, Fix, HazardReport, Photo, Reading


@dataclass(slots=True)
class InboundMessage:
    """One MQTT message as the subscriber received it, not yet acknowledged.

    ``generation`` counts broker connections: a packet id is only meaningful on the connection
    that delivered it, so acknowledgements for an older generation are never sent.
    """

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int
    received_at: datetime


@dataclass(slots=True)
class Rejection:
    """A message, or parts of it, stored in the rejected-messages store."""

    received_at: datetime
    topic: str
    reason: str
    detail: str
    payload: bytes
    # Set when ``payload`` is a prefix of what came (an oversize message): the whole's size
    # and SHA-256, so an integrator can still tell which message it was.
    payload_size: int | None = None
    payload_sha256: bytes | None = None


@dataclass(slots=True)
class ReceivedReport:
    """A decoded hazard report with the message it came in, kept to reject it if need be."""

    report: HazardReport
    received_at: datetime
    topic: str
    payload: bytes


@dataclass(slots=True)
class PreparedBatch:
    """Everything one batch of messages turns into, ready to write in one transaction."""

    messages: int = 0
    readings: list[tuple[Reading, datetime]] = field(default_factory=list)
    events: list[tuple[DeviceEvent, datetime]] = field(default_factory=list)
    fixes: list[tuple[Fix, datetime]] = field(default_factory=list)
    reports: list[ReceivedReport] = field(default_factory=list)
    photos: list[tuple[Photo, datetime]] = field(default_factory=list)
    # Case actions from terminals: stored for the dispatch role, which applies them.
    case_actions: list[tuple[CaseActionMessage, datetime]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    # Reason -> how many messages (whole) or parts were rejected for it, for /metrics.
    rejected_reasons: Counter[str] = field(default_factory=Counter)
    accepted_messages: int = 0
    unknown_metrics: int = 0
    # NMEA sentence outcomes that are not rejections (proprietary, duplicate, hdop_flagged, ...).
    nmea_counts: Counter[str] = field(default_factory=Counter)

    @property
    def rows(self) -> int:
        """Return how many data rows the batch writes."""
        return (
            len(self.readings)
            + len(self.events)
            + len(self.fixes)
            + len(self.reports)
            + len(self.photos)
            + len(self.case_actions)
            + len(self.rejections)
        )


class StoredRejection(BaseModel):
    """One row of ``rejected_messages`` as operators list it."""

    model_config = ConfigDict(frozen=True)

    id: int
    topic: str
    reason: str
    detail: str
    received_at: datetime
    payload: bytes  # as received, or its prefix for an oversize message
