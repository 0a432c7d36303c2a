"""What the API is built from: its own limits and the sections of FireGrid's settings it reads.

``firegrid.settings.Settings`` lives in the composition root, which ``api`` may not import
(the import-linter layers); the root builds an ``ApiSettings`` from its sections instead.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from devices.config import DeviceStatusSettings
from dispatch.config import DispatchSettings
from ingest.config import IngestSettings, StorageSettings

MIB = 1024 * 1024


class PublicLimits(BaseModel):
    """The public (no token) endpoints' limits: residents' reports (issue 8 point 8)."""

    model_config = ConfigDict(frozen=True)

    # Per client address and per device fingerprint, token buckets in this process's memory:
    # a burst, then a steady rate. A household behind one address files a few; a script not.
    address_burst: int = Field(default=5, ge=1)
    address_per_hour: float = Field(default=10.0, gt=0)
    fingerprint_burst: int = Field(default=3, ge=1)
    fingerprint_per_hour: float = Field(default=4.0, gt=0)
    # A report's whole body (photos base64 in JSON, so 4/3 of their bytes) and each photo.
    max_report_bytes: int = Field(default=8 * MIB, ge=0)
    max_photo_bytes: int = Field(default=2 * MIB, ge=1)
    max_photos: int = Field(default=3, ge=0)


class ApiLimits(BaseModel):
    """The API's own knobs: its pool, request body limits, how long a client should wait."""

    model_config = ConfigDict(frozen=True)

    pool_size: int = Field(default=8, ge=1)
    # How long a request waits for a pooled connection before answering 503: short enough that
    # a client hears "try again" well before its own timeout, long enough to ride out a burst.
    pool_timeout_s: float = Field(default=10.0, gt=0)
    # Registry and grid files of a whole city are tens of MiB; nothing else comes near 1 MiB.
    max_body_bytes: int = Field(default=1 * MIB, ge=0)
    max_import_bytes: int = Field(default=32 * MIB, ge=0)
    # Retry-After of a 503 (the database away, the pool exhausted).
    retry_after_s: int = Field(default=5, ge=1)
    # A live-feed client whose socket takes no bytes for this long is cut off; one that reads
    # slowly but steadily is not (it pages the event log instead, feed.flows.follow).
    stream_stall_s: float = Field(default=30.0, gt=0)
    # Events buffered per live-feed client; past it the client is served from the event log.
    stream_queue_size: int = Field(default=1000, ge=1)
    public: PublicLimits = PublicLimits()


class ApiSettings(BaseModel):
    """Everything ``create_app`` needs, taken from FireGrid's one Settings by the caller."""

    model_config = ConfigDict(frozen=True)

    db_url: SecretStr
    limits: ApiLimits = ApiLimits()
    devices: DeviceStatusSettings = DeviceStatusSettings()
    ingest: IngestSettings = IngestSettings()  # a rejected replay decodes as ingest does
    storage: StorageSettings = StorageSettings()
    data_dir: Path | None = None  # photos are served from here; None: no photo storage
    dispatch: DispatchSettings = DispatchSettings()  # case actions: evidence distance, area type
