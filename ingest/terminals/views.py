"""Hazard reports as the API shows them (CONTRACT §4): position, photos, flags."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from devices.geo import Crs, from_wgs84, haversine_m
from ingest.config import TerminalSettings
from ingest.terminals.models import StoredPhoto, StoredReport


class Position(BaseModel):
    """A point in the coordinate system asked for."""

    model_config = ConfigDict(frozen=True)

    lat: float | None
    lon: float | None


class PhotoDetail(BaseModel):
    """An arrived photo of a report."""

    model_config = ConfigDict(frozen=True)

    sha256: str
    content_type: str
    size: int
    exif_ts: datetime | None
    exif_position: Position | None
    received_at: datetime


class Report(BaseModel):
    """A hazard report (CONTRACT §4's fields, then FireGrid's extensions)."""

    model_config = ConfigDict(frozen=True)

    report_id: str
    terminal_id: str
    ts: datetime
    category: str
    description: str
    position: Position
    position_source: str
    unit_id: str | None
    photos: list[str]
    photo_details: list[PhotoDetail]
    missing_photos: list[str]
    flags: list[str]
    grid_code: str | None
    community_code: str | None
    street_code: str | None
    received_at: datetime


def point(lat: float | None, lon: float | None, crs: Crs) -> tuple[float | None, float | None]:
    """Convert a stored WGS-84 point to ``crs``; (None, None) for a missing one."""
    if lat is None or lon is None:
        return None, None
    return from_wgs84(lat, lon, crs)


def report_flags(
    report: StoredReport,
    *,
    missing: list[str],
    settings: TerminalSettings,
    now: datetime,
) -> list[str]:
    """Return the report's flags: photos still missing, photos taken far from the report."""
    flags = []
    if missing and now - report.received_at > settings.photo_missing_after:
        flags.append("photo_missing")
    for photo in report.arrived:
        if photo.exif_lat is None or photo.exif_lon is None:
            continue
        away = haversine_m(report.lat, report.lon, photo.exif_lat, photo.exif_lon)
        if away > settings.photo_far_m:
            flags.append("photo_far_from_report")
            break
    return flags


def _photo_detail(photo: StoredPhoto, crs: Crs) -> PhotoDetail:
    exif_lat, exif_lon = point(photo.exif_lat, photo.exif_lon, crs)
    return PhotoDetail(
        sha256=photo.sha256,
        content_type=photo.content_type,
        size=photo.size,
        exif_ts=photo.exif_ts,
        exif_position=None if exif_lat is None else Position(lat=exif_lat, lon=exif_lon),
        received_at=photo.received_at,
    )


def report_view(
    report: StoredReport, *, crs: Crs, settings: TerminalSettings, now: datetime
) -> Report:
    """Show a stored report at ``now``: its point in ``crs``, photos arrived and missing, flags."""
    arrived = {p.sha256: p for p in report.arrived}
    missing = [sha for sha in report.photos if sha not in arrived]
    lat, lon = point(report.lat, report.lon, crs)
    return Report(
        report_id=report.report_id,
        terminal_id=report.terminal_id,
        ts=report.ts,
        category=report.category,
        description=report.description,
        position=Position(lat=lat, lon=lon),
        position_source=report.position_source,
        unit_id=report.unit_id,
        photos=list(report.photos),
        # In the report's order, as it names them.
        photo_details=[_photo_detail(arrived[sha], crs) for sha in report.photos if sha in arrived],
        missing_photos=missing,
        flags=report_flags(report, missing=missing, settings=settings, now=now),
        grid_code=report.grid_code,
        community_code=report.community_code,
        street_code=report.street_code,
        received_at=report.received_at,
    )
