"""Handheld terminals: patrol tracks, hazard reports with their photos, photo bytes."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from api.deps import Caller, Config, Conn, Now
from api.errors import ERROR_RESPONSES, ApiError
from api.pagination import MAX_LIMIT, Page, cursor_time, decode_cursor, page
from devices.codecs.json_report import canonical_report_id
from devices.geo import Crs, from_wgs84, haversine_m
from ingest.config import TerminalSettings
from ingest.terminals.read import get_photo, get_report, list_track

router = APIRouter(prefix="/api/v1", tags=["terminals"], responses=ERROR_RESPONSES)

_SHA256 = re.compile(r"[0-9a-f]{64}")


class Fix(BaseModel):
    """One accepted GNSS fix of a terminal."""

    ts: datetime
    lat: float | None
    lon: float | None
    quality: int
    satellites: int | None
    hdop: float | None


class Position(BaseModel):
    """A point in the coordinate system asked for."""

    lat: float | None
    lon: float | None


class PhotoDetail(BaseModel):
    """An arrived photo of a report."""

    sha256: str
    content_type: str
    size: int
    exif_ts: datetime | None
    exif_position: Position | None
    received_at: datetime


class Report(BaseModel):
    """A hazard report (CONTRACT §4's fields, then FireGrid's extensions)."""

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


def _check_times(**times: datetime | None) -> None:
    for name, value in times.items():
        if value is not None and value.tzinfo is None:
            raise ApiError(400, "invalid_time", f"{name} needs a UTC offset (e.g. ...Z)")


def _point(lat: float | None, lon: float | None, crs: Crs) -> tuple[float | None, float | None]:
    if lat is None or lon is None:
        return None, None
    return from_wgs84(lat, lon, crs)


@router.get("/terminals/{terminal_id}/track")
def get_track(
    *,  # FastAPI passes every parameter by name
    terminal_id: str,
    conn: Conn,
    _caller: Caller,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
    cursor: str | None = None,
    crs: Crs = Crs.WGS84,
) -> Page[Fix]:
    """Return a terminal's accepted fixes ``{ts, lat, lon, quality, satellites, hdop}``."""
    _check_times(**{"from": start, "to": end})
    after = decode_cursor(cursor, lambda p: cursor_time(p["ts"]))
    rows = list_track(conn, terminal_id=terminal_id, start=start, end=end, after=after, limit=limit)
    items = []
    for r in rows:
        lat, lon = _point(r["lat"], r["lon"], crs)
        items.append(
            Fix(
                ts=r["ts"],
                lat=lat,
                lon=lon,
                quality=r["quality"],
                satellites=r["satellites"],
                hdop=r["hdop"],
            )
        )
    return page(items, limit=limit, position={"ts": rows[-1]["ts"].isoformat()} if rows else None)


@router.get("/reports/{report_id}")
def get_hazard_report(
    report_id: str,
    conn: Conn,
    _caller: Caller,
    settings: Config,
    clock: Now,
    crs: Crs = Crs.WGS84,
) -> Report:
    """Return a hazard report, the photos that have arrived, those still missing, and flags."""
    canonical = canonical_report_id(report_id)
    row = None if canonical is None else get_report(conn, report_id=canonical)
    if row is None:
        raise ApiError(404, "not_found", f"no report {report_id!r}")
    arrived = {p["sha256"]: p for p in row["photo_rows"]}
    missing = [sha for sha in row["photos"] if sha not in arrived]
    flags = report_flags(
        row,
        arrived=list(arrived.values()),
        missing=missing,
        settings=settings.ingest.terminals,
        now=clock.now(),
    )
    lat, lon = _point(row["lat"], row["lon"], crs)
    details = []
    for sha in row["photos"]:
        if sha not in arrived:
            continue
        p = arrived[sha]
        exif_lat, exif_lon = _point(p["exif_lat"], p["exif_lon"], crs)
        details.append(
            PhotoDetail(
                sha256=sha,
                content_type=p["content_type"],
                size=p["size"],
                exif_ts=p["exif_ts"],
                exif_position=None if exif_lat is None else Position(lat=exif_lat, lon=exif_lon),
                received_at=p["received_at"],
            )
        )
    return Report(
        report_id=row["report_id"],
        terminal_id=row["terminal_id"],
        ts=row["ts"],
        category=row["category"],
        description=row["description"],
        position=Position(lat=lat, lon=lon),
        position_source=row["position_source"],
        unit_id=row["unit_id"],
        photos=list(row["photos"]),
        photo_details=details,
        missing_photos=missing,
        flags=flags,
        grid_code=row["grid_code"],
        community_code=row["community_code"],
        street_code=row["street_code"],
        received_at=row["received_at"],
    )


def report_flags(
    report: dict[str, Any],
    *,
    arrived: list[dict[str, Any]],
    missing: list[str],
    settings: TerminalSettings,
    now: datetime,
) -> list[str]:
    """Return the report's flags: photos still missing, photos taken far from the report."""
    flags = []
    if missing and now - report["received_at"] > settings.photo_missing_after:
        flags.append("photo_missing")
    for photo in arrived:
        if photo["exif_lat"] is None or photo["exif_lon"] is None:
            continue
        away = haversine_m(report["lat"], report["lon"], photo["exif_lat"], photo["exif_lon"])
        if away > settings.photo_far_m:
            flags.append("photo_far_from_report")
            break
    return flags


@router.get(
    "/photos/{sha256}",
    response_class=Response,
    responses={200: {"description": "the photo's bytes", "content": {"image/jpeg": {}}}},
)
def get_photo_bytes(sha256: str, conn: Conn, _caller: Caller, settings: Config) -> Response:
    """Return a photo's bytes with its content type."""
    sha = sha256.lower()
    found = get_photo(conn, sha256=sha) if _SHA256.fullmatch(sha) else None
    if found is None:
        raise ApiError(404, "not_found", f"no photo {sha256!r}")
    data_dir = settings.data_dir
    if data_dir is None:
        raise ApiError(503, "photo_storage_unavailable", "this API has no data directory set")
    path, content_type = found
    try:
        data = (Path(data_dir) / path).read_bytes()
    except FileNotFoundError as exc:
        raise ApiError(
            500, "photo_file_missing", f"photo {sha} is recorded but its file is missing"
        ) from exc
    return Response(
        content=data,
        media_type=content_type,
        headers={"Cache-Control": "private, max-age=31536000, immutable", "ETag": f'"{sha}"'},
    )
