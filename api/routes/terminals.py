"""Handheld terminals: patrol tracks, hazard reports with their photos, photo bytes."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from api.deps import Caller, Config, Conn, Now
from api.errors import ERROR_RESPONSES, ApiError
from api.pagination import MAX_LIMIT, Page, cursor_time, decode_cursor, page
from api.routes.grids import Locator
from api.scope import require_device, require_photo, require_place
from api.settings import ApiSettings
from devices.codecs.json_report import canonical_report_id
from devices.geo import Crs
from ingest.terminals.models import Fix, PhotoFile
from ingest.terminals.read import get_photo, get_report, list_track
from ingest.terminals.views import Report, point, report_view

router = APIRouter(prefix="/api/v1", tags=["terminals"], responses=ERROR_RESPONSES)

_SHA256 = re.compile(r"[0-9a-f]{64}")


def _check_times(**times: datetime | None) -> None:
    for name, value in times.items():
        if value is not None and value.tzinfo is None:
            raise ApiError(400, "invalid_time", f"{name} needs a UTC offset (e.g. ...Z)")


@router.get("/terminals/{terminal_id}/track")
def get_track(
    *,  # FastAPI passes every parameter by name
    terminal_id: str,
    conn: Conn,
    caller: Caller,
    locator: Locator,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
    cursor: str | None = None,
    crs: Crs = Crs.WGS84,
) -> Page[Fix]:
    """Return a terminal's accepted fixes ``{ts, lat, lon, quality, satellites, hdop}``."""
    _check_times(**{"from": start, "to": end})
    require_device(conn, caller, device_id=terminal_id, locator=locator)
    after = decode_cursor(cursor, lambda p: cursor_time(p["ts"]))
    rows = list_track(conn, terminal_id=terminal_id, start=start, end=end, after=after, limit=limit)
    items = rows
    if crs is not Crs.WGS84:
        # Stored in WGS-84; shown in the system the caller's map draws in (CONTRACT §4).
        items = []
        for fix in rows:
            lat, lon = point(fix.lat, fix.lon, crs)
            items.append(fix.model_copy(update={"lat": lat, "lon": lon}))
    return page(items, limit=limit, position={"ts": rows[-1].ts.isoformat()} if rows else None)


@router.get("/reports/{report_id}")
def get_hazard_report(
    *,  # FastAPI passes every parameter by name
    report_id: str,
    conn: Conn,
    caller: Caller,
    settings: Config,
    clock: Now,
    crs: Crs = Crs.WGS84,
) -> Report:
    """Return a hazard report, the photos that have arrived, those still missing, and flags."""
    canonical = canonical_report_id(report_id)
    report = None if canonical is None else get_report(conn, report_id=canonical)
    if report is None:
        raise ApiError(404, "not_found", f"no report {report_id!r}")
    require_place(
        caller,
        grid=report.grid_code,
        community=report.community_code,
        street=report.street_code,
        what=f"report {report_id!r}",
    )
    return report_view(report, crs=crs, settings=settings.ingest.terminals, now=clock.now())


PHOTO_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the photo's bytes",
        # Terminals and residents send JPEG or PNG (CONTRACT §1); each is served as stored.
        "content": {
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            "image/png": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def photo_sha(sha256: str) -> str | None:
    """Return the photo name in the form it is stored (lower-case hex), None if it is none."""
    sha = sha256.lower()
    return sha if _SHA256.fullmatch(sha) else None


def photo_bytes(found: PhotoFile, *, sha: str, settings: ApiSettings) -> Response:
    """Answer a stored photo's bytes with its content type."""
    data_dir = settings.data_dir
    if data_dir is None:
        raise ApiError(503, "photo_storage_unavailable", "this API has no data directory set")
    try:
        data = (Path(data_dir) / found.path).read_bytes()
    except FileNotFoundError as exc:
        raise ApiError(
            500, "photo_file_missing", f"photo {sha} is recorded but its file is missing"
        ) from exc
    return Response(
        content=data,
        media_type=found.content_type,
        headers={"Cache-Control": "private, max-age=31536000, immutable", "ETag": f'"{sha}"'},
    )


@router.get("/photos/{sha256}", response_class=Response, responses=PHOTO_RESPONSES)
def get_photo_bytes(sha256: str, conn: Conn, caller: Caller, settings: Config) -> Response:
    """Return a photo's bytes with its content type."""
    sha = photo_sha(sha256)
    found = None if sha is None else get_photo(conn, sha256=sha)
    if sha is None or found is None:
        raise ApiError(404, "not_found", f"no photo {sha256!r}")
    require_photo(conn, caller, sha256=sha)
    return photo_bytes(found, sha=sha, settings=settings)
