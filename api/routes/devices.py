"""Registry import and device views: devices, key units, staff; readings of a device."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from api.audit import record_write
from api.deps import Caller, Config, Conn, Now
from api.errors import ERROR_RESPONSES, ApiError
from api.pagination import MAX_LIMIT, Page, cursor_int, cursor_time, decode_cursor, page
from api.permissions import allow
from api.routes.grids import Locator
from api.schemas import DEVICES_BODY, STAFF_BODY, UNITS_BODY
from api.scope import require_device
from devices import registry, service
from devices.broker_accounts import BrokerAccounts
from devices.flows import (
    RegistryImport,
    RegistryKind,
    parse_registry,
    store_registry,
    unreadable,
)
from devices.geo import Crs, from_wgs84
from devices.views import DeviceView
from infra.dynsec import DynsecError
from ingest.readings import list_buckets, list_readings, reading_key
from ingest.views import Bucket, Reading

router = APIRouter(prefix="/api/v1", tags=["devices"], responses=ERROR_RESPONSES)

# "5m", "15min", "2 hours", "1w"; a bare number is seconds. Months and years have no fixed
# width, so they are not buckets.
_BUCKET = re.compile(r"(\d+) ?([a-z]*)")
_UNITS = {
    **dict.fromkeys(("", "s", "sec", "secs", "second", "seconds"), "seconds"),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), "minutes"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "hours"),
    **dict.fromkeys(("d", "day", "days"), "days"),
    **dict.fromkeys(("w", "wk", "week", "weeks"), "weeks"),
}
# ISO 8601 durations of fixed width: PT5M, PT1H30M, P1D, P1W.
_ISO_BUCKET = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?",
    re.IGNORECASE,
)
_MAX_BUCKET = timedelta(days=3660)


def _format(request: Request) -> registry.Format | None:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in {"text/csv", "application/csv"}:
        return "csv"
    if ctype == "application/json":
        return "json"
    return None


DryRun = Annotated[bool, Query(description="validate and count what would happen; write nothing")]


async def _import(
    request: Request, conn: Conn, caller: Caller, kind: RegistryKind, *, dry_run: bool
) -> RegistryImport:
    allow(caller, "registry.import")
    # Read here (bounded by api.middleware); parsed and stored in a worker thread: a city's
    # registry takes seconds, and the event loop serves every other request meanwhile.
    body = await request.body()
    # Set by the composition root when FireGrid administers the broker's device accounts.
    accounts: BrokerAccounts | None = getattr(request.app.state, "broker_accounts", None)
    return await run_in_threadpool(
        _parse_and_store,
        conn,
        caller,
        kind,
        body,
        fmt=_format(request),
        dry_run=dry_run,
        accounts=accounts,
    )


def _parse_and_store(
    conn: Conn,
    caller: Caller,
    kind: RegistryKind,
    body: bytes,
    *,
    fmt: registry.Format | None,
    dry_run: bool,
    accounts: BrokerAccounts | None,
) -> RegistryImport:
    parsed = parse_registry(kind, body, fmt=fmt)
    if (whole := unreadable(parsed)) is not None:
        raise ApiError(
            400,
            "invalid_input",
            f"the file cannot be read: {whole.message}",
            [whole.model_dump()],
        )
    try:
        answer = store_registry(conn, kind=kind, parsed=parsed, dry_run=dry_run, accounts=accounts)
    except DynsecError as exc:
        # Raised before the commit: the import is rolled back, so no secret is answered that
        # the broker would refuse.
        raise ApiError(
            503,
            "broker_unavailable",
            f"the broker did not take the new device credentials ({exc.error}); nothing was"
            " imported, try again",
            headers={"Retry-After": "5"},
        ) from exc
    if not dry_run:  # who did it, from the token, in the import's own transaction
        counts = answer.model_dump(include={"created", "updated", "rejected"})
        record_write(conn, caller, action=f"{kind}.import", detail=counts)
    return answer


@router.post("/devices/import", openapi_extra=DEVICES_BODY)
async def import_devices(
    request: Request, conn: Conn, caller: Caller, dry_run: DryRun = False
) -> RegistryImport:
    """Import devices from CSV (text/csv) or a JSON array; answer counts and per-row errors.

    A device whose ``unit_id`` names no registered unit is refused: import the units first.
    """
    return await _import(request, conn, caller, "devices", dry_run=dry_run)


@router.post("/units/import", openapi_extra=UNITS_BODY)
async def import_units(
    request: Request, conn: Conn, caller: Caller, dry_run: DryRun = False
) -> RegistryImport:
    """Import key units from CSV or a JSON array."""
    return await _import(request, conn, caller, "units", dry_run=dry_run)


@router.post("/staff/import", openapi_extra=STAFF_BODY)
async def import_staff(
    request: Request, conn: Conn, caller: Caller, dry_run: DryRun = False
) -> RegistryImport:
    """Import staff from CSV or a JSON array."""
    return await _import(request, conn, caller, "staff", dry_run=dry_run)


@router.get("/devices/{device_id}")
def get_device(
    *,  # FastAPI passes every parameter by name
    device_id: str,
    conn: Conn,
    caller: Caller,
    settings: Config,
    clock: Now,
    locator: Locator,
    crs: Crs = Crs.WGS84,
) -> DeviceView:
    """Return a device's registry fields, status, last_seen and latest value per metric."""
    require_device(conn, caller, device_id=device_id, locator=locator)
    status = settings.devices
    view = service.get_device(
        conn,
        device_id=device_id,
        now=clock.now(),
        missed_heartbeats=status.missed_heartbeats,
        default_heartbeat_s=status.default_heartbeat_s,
    )
    if view is None:
        raise ApiError(404, "not_found", f"no device {device_id!r} in the registry")
    if crs is not Crs.WGS84 and view.lat is not None and view.lon is not None:
        # Stored in WGS-84; shown in the system the caller's map draws in (CONTRACT §4).
        lat, lon = from_wgs84(view.lat, view.lon, crs)
        view = view.model_copy(update={"lat": lat, "lon": lon})
    return view


def parse_bucket(text: str) -> timedelta:
    """Parse ``5m``, ``1h``, ``30s``, ``1d``, ``1w``, ``15min`` or ``PT5M`` into a timedelta."""
    spelled = text.strip()
    width: timedelta | None = None
    try:
        if (iso := _ISO_BUCKET.fullmatch(spelled)) is not None:
            parts = {unit: int(n) for unit, n in iso.groupdict().items() if n is not None}
            width = timedelta(**parts) if parts else None
        elif (match := _BUCKET.fullmatch(spelled.lower())) and match.group(2) in _UNITS:
            width = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError:
        width = None
    if width is None or not timedelta(0) < width <= _MAX_BUCKET:
        raise ApiError(
            400,
            "invalid_bucket",
            f"bucket must look like 30s, 5m, 15min, 1h, 1d, 1w or PT5M, got {text!r}",
        )
    return width


@router.get("/devices/{device_id}/readings", response_model=Page[Reading] | Page[Bucket])
def get_readings(
    *,  # FastAPI passes every parameter by name
    device_id: str,
    conn: Conn,
    caller: Caller,
    locator: Locator,
    metric: str,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    bucket: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
    cursor: str | None = None,
) -> Page[Reading] | Page[Bucket]:
    """Return raw readings ``{ts, value, seq}`` or buckets ``{ts, avg, min, max, count}``."""
    require_device(conn, caller, device_id=device_id, locator=locator)
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise ApiError(400, "invalid_time", f"{name} needs a UTC offset (e.g. ...Z)")
    if bucket is None:
        after = decode_cursor(cursor, lambda p: (cursor_time(p["ts"]), cursor_int(p["seq"])))
        rows = list_readings(
            conn, device_id=device_id, metric=metric, start=start, end=end, after=after, limit=limit
        )
        last = None
        if rows:
            ts, seq = reading_key(rows[-1])
            last = {"ts": ts.isoformat(), "seq": seq}
        return page(rows, limit=limit, position=last)
    width = parse_bucket(bucket)
    after_ts = decode_cursor(cursor, lambda p: cursor_time(p["ts"]))
    buckets = list_buckets(
        conn,
        device_id=device_id,
        metric=metric,
        bucket=width,
        start=start,
        end=end,
        after=after_ts,
        limit=limit,
    )
    last_ts = {"ts": buckets[-1].ts.isoformat()} if buckets else None
    return page(buckets, limit=limit, position=last_ts)
