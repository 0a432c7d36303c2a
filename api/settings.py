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
