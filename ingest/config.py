"""Settings sections owned by ingest; the composition root nests them into ``Settings``."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, Field

from devices.codecs import CodecPolicy, NmeaPolicy
from devices.models import DecodePolicy

# Enough to see what a device sent (its topic, its first fields) without keeping megabytes.
OVERSIZE_KEEP_BYTES = 4096


class RetentionSettings(BaseModel):
    """How long the records beside the time series are kept (``firegrid.maintenance``)."""

    rejected: timedelta = Field(default=timedelta(days=30), description="rejected messages")
    conflicts: timedelta = Field(default=timedelta(days=30), description="ingest conflicts")
    # The rules read a key's history since its last checkpoint through its batch's record, so
    # records go only long after any late sample could still be evaluated.
    batches: timedelta = Field(
        default=timedelta(days=30),
        ge=timedelta(days=1),
        description="ingest batch records, once the rules have processed them",
    )
    hazard_history: timedelta = Field(
        default=timedelta(days=365), description="events of hazards cleared this long ago"
    )
    event_log: timedelta = Field(
        default=timedelta(days=7),
        description="event-log entries every consumer has passed: how far back a live-feed"
        " client may resume (Last-Event-ID)",
    )
    chunk_rows: int = Field(
        default=10_000, ge=1, description="rows deleted per transaction: locks held briefly"
    )


class StorageSettings(BaseModel):
    """How time-series tables are chunked, compressed and kept."""

    chunk_interval: timedelta = timedelta(days=1)
    compress_after: timedelta = timedelta(days=7)
    retention: timedelta = timedelta(days=365)
    use_timescaledb: bool | None = Field(
        default=None, description="None: use TimescaleDB when the extension is available"
    )
    records: RetentionSettings = RetentionSettings()


class NmeaSettings(BaseModel):
    """Which GNSS fixes count as valid (DOMAIN.md §6 practice defaults, all configurable)."""

    min_satellites: int = Field(default=4, ge=0)
    max_hdop: float = Field(default=5.0, gt=0)
    flag_hdop: float = Field(default=2.0, gt=0)
    max_speed_mps: float = Field(default=10.0, gt=0, description="jumps faster than this on foot")
    hdop_error_m: float = Field(default=10.0, ge=0, description="metres per HDOP unit allowed")
    reject_qualities: frozenset[int] = frozenset({0, 6, 7, 8})
    reject_rmc_void: bool = True
    date_from_received_at: bool = True
    max_ahead: timedelta = timedelta(hours=12)

    def policy(self) -> NmeaPolicy:
        """Build the NMEA decoder's policy from these settings."""
        return NmeaPolicy(
            min_satellites=self.min_satellites,
            max_hdop=self.max_hdop,
            flag_hdop=self.flag_hdop,
            max_speed_mps=self.max_speed_mps,
            hdop_error_m=self.hdop_error_m,
            reject_qualities=self.reject_qualities,
            reject_rmc_void=self.reject_rmc_void,
            date_from_received_at=self.date_from_received_at,
            max_ahead=self.max_ahead,
        )


class TerminalSettings(BaseModel):
    """Hazard reports and photos from handheld terminals."""

    photo_max_bytes: int = Field(default=4 * 1024 * 1024, ge=1)
    report_fix_window: timedelta = Field(
        default=timedelta(seconds=60), description="a report without position takes a fix this near"
    )
    photo_missing_after: timedelta = Field(
        default=timedelta(minutes=10), description="flag a report still missing a photo after this"
    )
    photo_far_m: float = Field(default=2000.0, gt=0, description="flag a photo taken further away")
    exif_default_offset: timedelta = Field(
        default=timedelta(hours=8), description="UTC offset of EXIF times that state none"
    )


class IngestSettings(BaseModel):
    """Batching, acceptance policy and the MQTT session of the ingest role."""

    topic_prefix: str = "fg/v1"
    client_id: str = Field(
        default="firegrid-ingest",
        description="MQTT client ID; with shared_group set, each process adds -<worker>, or"
        " -<host>-<pid> when no worker name is given",
    )
    shared_group: str | None = Field(
        default=None, description="subscribe as $share/<group>/... so workers split the load"
    )
    worker: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]{1,32}$",
        description="this worker's stable name in its shared group (1, 2, ...): a restarted"
        " worker resumes its session and the share of messages the broker kept for it",
    )
    session_expiry: timedelta = timedelta(days=7)
    # Unacknowledged QoS 1 messages the broker may have in flight to us (MQTT 5 Receive
    # Maximum). We acknowledge only after commit, so this must exceed one batch or the broker
    # stalls waiting for acknowledgements we are holding back until the batch fills.
    receive_maximum: int = Field(default=10_000, ge=1, le=65_535)
    # The buffer between the network thread and the writer. When it is full, ingest stops
    # reading from the broker (which holds the rest) instead of growing: memory stays within
    # about this much plus the batches being decoded and committed. Ten batches absorb a slow
    # commit without pausing; a buffer smaller than a batch only makes batches smaller.
    buffer_max_messages: int = Field(default=20_000, ge=1)
    buffer_max_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1, description="payload bytes; one larger message still fits"
    )
    batch_max_messages: int = Field(default=2_000, ge=1)
    batch_max_bytes: int = Field(default=4 * 1024 * 1024, ge=1)
    batch_max_wait: timedelta = timedelta(milliseconds=50)
    max_payload_bytes: int = 4 * 1024 * 1024 + 1024
    oversize_keep_bytes: int = Field(
        default=OVERSIZE_KEEP_BYTES,
        ge=0,
        description="of a payload_too_large message, keep this prefix (with its size and hash)",
    )
    max_future: timedelta = timedelta(minutes=5)
    future_policy: Literal["reject", "clamp"] = "reject"
    retry_backoff_max: timedelta = timedelta(seconds=5)
    nmea: NmeaSettings = NmeaSettings()
    terminals: TerminalSettings = TerminalSettings()

    def decode_policy(self) -> DecodePolicy:
        """Build the device decoders' policy from these settings."""
        return DecodePolicy(max_future=self.max_future, future_policy=self.future_policy)

    def codec_policy(self) -> CodecPolicy:
        """Build the policy every registered decoder applies from these settings."""
        return CodecPolicy(
            decode=self.decode_policy(),
            nmea=self.nmea.policy(),
            photo_max_bytes=self.terminals.photo_max_bytes,
            exif_default_offset=self.terminals.exif_default_offset,
        )
