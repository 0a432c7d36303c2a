"""Stored ingest rows as the API shows them (CONTRACT §4).

Readings and buckets are read straight into these (``class_row``): the query already gives
the public form. A rejection is stored with its raw payload and shown with it in base64.
"""

from __future__ import annotations

import base64
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from ingest.models import StoredRejection


class Reading(BaseModel):
    """One raw reading; ``seq`` null for a sample that carried none."""

    model_config = ConfigDict(frozen=True)

    ts: datetime  # device time
    value: float
    seq: int | None


class Bucket(BaseModel):
    """The readings of one time bucket."""

    model_config = ConfigDict(frozen=True)

    ts: datetime  # the bucket's start, aligned to the Unix epoch
    avg: float
    min: float
    max: float
    count: int


class Rejected(BaseModel):
    """A message ingest refused, with its raw payload."""

    model_config = ConfigDict(frozen=True)

    id: int
    topic: str
    reason: str
    detail: str
    received_at: datetime
    payload_b64: str


def rejected_view(row: StoredRejection) -> Rejected:
    """Show a stored rejection with its payload in base64."""
    return Rejected(
        id=row.id,
        topic=row.topic,
        reason=row.reason,
        detail=row.detail,
        received_at=row.received_at,
        payload_b64=base64.b64encode(row.payload).decode(),
    )
