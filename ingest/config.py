"""Settings sections owned by ingest; the composition root nests them into ``Settings``."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, Field

from devices.models import DecodePolicy


class StorageSettings(BaseModel):
    """How time-series tables are chunked, compressed and kept."""

    chunk_interval: timedelta = timedelta(days=1)
    compress_after: timedelta = timedelta(days=7)
    retention: timedelta = timedelta(days=365)
    use_timescaledb: bool | None = Field(
        default=None, description="None: use TimescaleDB when the extension is available"
    )


class IngestSettings(BaseModel):
    """Batching, acceptance policy and the MQTT session of the ingest role."""

    topic_prefix: str = "fg/v1"
    client_id: str = "firegrid-ingest"
    shared_group: str | None = Field(
        default=None, description="subscribe as $share/<group>/... so workers split the load"
    )
    session_expiry: timedelta = timedelta(days=7)
    # Unacknowledged QoS 1 messages the broker may have in flight to us (MQTT 5 Receive
    # Maximum). We acknowledge only after commit, so this must exceed one batch or the broker
    # stalls waiting for acknowledgements we are holding back until the batch fills.
    receive_maximum: int = Field(default=10_000, ge=1, le=65_535)
    batch_max_messages: int = Field(default=2_000, ge=1)
    batch_max_bytes: int = Field(default=4 * 1024 * 1024, ge=1)
    batch_max_wait: timedelta = timedelta(milliseconds=50)
    max_payload_bytes: int = 4 * 1024 * 1024 + 1024
    max_future: timedelta = timedelta(minutes=5)
    future_policy: Literal["reject", "clamp"] = "reject"
    retry_backoff_max: timedelta = timedelta(seconds=5)

    def decode_policy(self) -> DecodePolicy:
        """Build the decoders' policy from these settings."""
        return DecodePolicy(max_future=self.max_future, future_policy=self.future_policy)
