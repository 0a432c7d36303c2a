"""Grids: import (merge or replace) and retire (CONTRACT §2), list areas for the map, locate."""

from __future__ import annotations

import threading
from typing import Annotated, Literal

import msgspec
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.audit import record_write
from api.deps import Caller, Conn, get_settings
from api.errors import ERROR_RESPONSES, ApiError, documented
from api.pagination import MAX_LIMIT, Page, cursor_text, decode_cursor, page
from api.permissions import allow
from api.schemas import GRIDS_BODY
from devices.geo import Crs
from grids import service as grid_service
from grids.codes import GridLevel
from grids.exceptions import GridImportError
from grids.flows import import_grid_file
from grids.locator import GridLocator, PostgisUnavailable, locate_in_db
from grids.views import Area, GridImportSummary, GridVersion, area_views
from infra.database import connect

router = APIRouter(prefix="/api/v1", tags=["grids"], responses=ERROR_RESPONSES)

_LOCATOR_LOCK = threading.Lock()


class GridRetirement(BaseModel):
    """Codes of streets, communities or grids to retire, each with everything under it."""

    codes: list[str] = Field(min_length=1, max_length=10_000)


class Located(BaseModel):
    """Where a point lies under a grid version; ``outside`` when in no grid."""

    version: int
    outside: bool
    street_code: str | None
    community_code: str | None
    grid_code: str | None


class AreaPage(Page[Area]):
    """A page of areas, and the version they belong to."""

    version: int


def get_locator(request: Request) -> GridLocator:
    """Return the app's grid locator, made on first use."""
    state = request.app.state
    with _LOCATOR_LOCK:
        locator: GridLocator | None = getattr(state, "grid_locator", None)
        if locator is None:
            # Its own short connections, not the pool's: a request holding its pooled
            # connection while the locator waited for a second one would deadlock the pool.
            url = get_settings(request).db_url.get_secret_value()
            locator = GridLocator(connect=lambda: connect(url, application_name="firegrid-api"))
            state.grid_locator = locator
    return locator


Locator = Annotated[GridLocator, Depends(get_locator)]


@router.post("/grids/import", openapi_extra=GRIDS_BODY)
async def import_grids(
    *,  # FastAPI passes every parameter by name
    request: Request,
    conn: Conn,
    caller: Caller,
    locator: Locator,
    source: str = "api",
    replace: Annotated[
        bool, Query(description="the file is the whole new set; what it lacks is retired")
    ] = False,
    effective_from: Annotated[
        str | None,
        Query(
            description="YYYY-MM-DD China day the grids this file adds were in force since"
            " (patrols are judged for them from that day; not after today); also accepted as"
            " the FeatureCollection's top-level member of that name",
        ),
    ] = None,
) -> GridImportSummary:
    """Merge a GeoJSON FeatureCollection into a new grid version (or replace the set)."""
    allow(caller, "grids.import")  # city-wide: it changes the whole city's grids
    body = await request.body()
    return await _store(
        conn,
        caller,
        locator,
        data=body,
        source=source,
        replace=replace,
        effective_from=effective_from,
    )


@router.post("/grids/retire")
async def retire_grids(
    body: GridRetirement, conn: Conn, caller: Caller, locator: Locator, source: str = "api"
) -> GridImportSummary:
    """Store a new grid version without these areas and everything under them."""
    allow(caller, "grids.import")
    return await _store(conn, caller, locator, data=None, source=source, retire=body.codes)


async def _store(
    conn: Conn,
    caller: Caller,
    locator: GridLocator,
    *,
    data: bytes | None,
    source: str,
    replace: bool = False,
    retire: list[str] | None = None,
    effective_from: str | None = None,
) -> GridImportSummary:
    def store() -> GridImportSummary:
        try:
            summary = import_grid_file(
                conn,
                data=data,
                source=source,
                replace=replace,
                retire=retire or (),
                effective=effective_from,
            )
        except GridImportError as exc:
            conn.rollback()
            what = "the grid file" if data is not None else "the retirement"
            raise ApiError(
                400,
                "invalid_grids",
                f"{len(exc.problems)} problem(s) in {what}; nothing was imported",
                [msgspec.to_builtins(p) for p in exc.problems],
            ) from exc
        # Who did it, from the token: ``source`` only names the file.
        action = "grids.retire" if summary.mode == "retire" else "grids.import"
        detail = {
            "version": summary.version,
            "mode": summary.mode,
            "counts": summary.counts,
            "source": source,
        }
        if summary.effective_from is not None:
            detail["effective_from"] = summary.effective_from.isoformat()
        record_write(conn, caller, action=action, detail=detail)
        # Committed here, not only as the request ends: the locator must not reload the
        # current version before the new one is visible.
        conn.commit()
        return summary

    # Parsing a city's grids takes seconds: off the event loop.
    summary = await run_in_threadpool(store)
    locator.refresh()
    return summary


@router.get("/grids/versions")
def list_versions(conn: Conn, _caller: Caller) -> Page[GridVersion]:
    """List imported grid versions, newest first."""
    return Page(items=grid_service.list_versions(conn), next_cursor=None)


@router.get(
    "/grids/locate",
    responses={409: documented("`postgis_unavailable`: method=postgis on a database without it")},
)
def locate(
    *,  # FastAPI passes every parameter by name
    conn: Conn,
    _caller: Caller,
    locator: Locator,
    lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False)],
    lon: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False)],
    crs: Crs = Crs.WGS84,
    version: int | None = None,
    method: Literal["index", "postgis"] = "index",
) -> Located:
    """Return the street, community and grid of a point, or ``outside: true``."""
    try:
        if method == "postgis":
            located = locate_in_db(conn, lat=[lat], lon=[lon], crs=crs, version=version)
        else:
            if version is not None:
                grid_service.resolve_version(conn, version=version)
            else:  # the version committed now, whoever imported it (CLI, simulator, API)
                locator.sync(conn)
            located = locator.locate_many([lat], [lon], crs=crs, version=version)
    except grid_service.GridVersionNotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from exc
    except PostgisUnavailable as exc:
        raise ApiError(409, "postgis_unavailable", str(exc)) from exc
    if located.version is None:
        raise ApiError(404, "not_found", "no grid version has been imported")
    hit = located.at(0)
    return Located(
        version=located.version,
        outside=hit is None,
        street_code=hit.street_code if hit else None,
        community_code=hit.community_code if hit else None,
        grid_code=hit.grid_code if hit else None,
    )


# exclude_unset: an area's geometry key is there only when asked for, as before models.
@router.get("/grids", response_model=AreaPage, response_model_exclude_unset=True)
def list_grids(
    *,  # FastAPI passes every parameter by name
    conn: Conn,
    caller: Caller,
    level: GridLevel | None = None,
    parent: str | None = None,
    version: int | None = None,
    geometry: bool = False,
    crs: Crs = Crs.WGS84,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = MAX_LIMIT,
    cursor: str | None = None,
) -> AreaPage:
    """List areas of a version (default current) by code; GeoJSON geometry with ``geometry=1``."""
    try:
        resolved = grid_service.resolve_version(conn, version=version)
    except grid_service.GridVersionNotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from exc
    after = decode_cursor(cursor, lambda p: cursor_text(p["code"]))
    rows = grid_service.list_areas(
        conn,
        version=resolved,
        level=level,
        parent=parent,
        after=after,
        limit=limit,
        geometry=geometry,
        areas=caller.areas,
    )
    items = area_views(rows, crs=crs, geometry=geometry)
    answer = page(items, limit=limit, position={"code": rows[-1].code} if rows else None)
    return AreaPage(items=answer.items, next_cursor=answer.next_cursor, version=resolved)
