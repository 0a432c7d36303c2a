"""What terminals sent, as stored and read back for the API: fixes, reports, photos."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class Fix(BaseModel):
    """One accepted GNSS fix of a terminal, WGS-84 as stored (the API may convert it).

    Not ``devices.models.Fix``, the decoded sentence on the write path: this is a ``fixes`` row.
    """

    model_config = ConfigDict(frozen=True)

    ts: datetime
    lat: float | None
    lon: float | None
    quality: int
    satellites: int | None
    hdop: float | None


class StoredPhoto(BaseModel):
    """The metadata of an arrived photo (its bytes are under the data directory)."""

    model_config = ConfigDict(frozen=True)

    sha256: str
    content_type: str
    size: int
    exif_ts: datetime | None
    exif_lat: float | None  # WGS-84
    exif_lon: float | None
    received_at: datetime


class StoredReport(BaseModel):
    """A stored hazard report and those of its photos that have arrived."""

    model_config = ConfigDict(frozen=True)

    report_id: str
    terminal_id: str
    ts: datetime
    category: str
    description: str
    lat: float  # WGS-84
    lon: float
    position_source: str  # report, fix
    unit_id: str | None
    photos: list[str]  # the hashes the report names, in its order
    received_at: datetime
    grid_code: str | None
    community_code: str | None
    street_code: str | None
    arrived: tuple[StoredPhoto, ...] = ()  # read with a second query


class PhotoFile(BaseModel):
    """Where a photo's bytes are, relative to the data directory, and their content type."""

    model_config = ConfigDict(frozen=True)

    path: str
    content_type: str
