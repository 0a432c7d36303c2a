"""What the registry service returns: devices, units and staff as the API shows them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["online", "offline", "unknown"]
ItemT = TypeVar("ItemT", bound=BaseModel)


class ImportCounts(BaseModel):
    """How many imported rows created a new record and how many updated an existing one."""

    created: int = 0
    updated: int = 0


class LatestValue(BaseModel):
    """The newest stored value of one metric, at device time."""

    ts: datetime
    value: float


class StoredDevice(BaseModel):
    """A registered device joined with its status row, as ``devices.service`` reads it."""

    model_config = ConfigDict(frozen=True)

    device_id: str
    kind: str
    model: str | None
    unit_id: str | None
    lat: float | None  # WGS-84
    lon: float | None
    installed_on: date | None
    manufactured_on: date | None
    hydrant_class: str | None
    agent: str | None
    heartbeat_s: int | None
    thresholds: dict[str, float]
    updated_at: datetime
    last_seen: datetime | None  # last receive time; None when never heard from
    # Written by ingest, {metric: {"ts", "value", "seq"}}: read leniently (see DeviceView).
    latest: dict[str, Any] | None


class DeviceView(BaseModel):
    """A device as the API shows it: registry fields, data-silence status, latest values."""

    model_config = ConfigDict(frozen=True)

    device_id: str
    kind: str
    model: str | None
    unit_id: str | None
    lat: float | None
    lon: float | None
    installed_on: date | None
    manufactured_on: date | None
    hydrant_class: str | None
    agent: str | None
    heartbeat_s: int | None
    thresholds: dict[str, float]
    updated_at: datetime
    status: Status
    last_seen: datetime | None
    latest: dict[str, LatestValue]


class UnitView(BaseModel):
    """A key unit's file (户籍化): registry fields and the devices registered to it."""

    model_config = ConfigDict(frozen=True)

    unit_id: str
    name: str
    level: int | None
    address: str | None
    lat: float | None
    lon: float | None
    responsible: str | None
    updated_at: datetime
    device_ids: list[str] = Field(default_factory=list)


class StaffView(BaseModel):
    """A staff member as stored."""

    model_config = ConfigDict(frozen=True)

    staff_id: str
    name: str
    role: str
    area: str | None
    terminal_id: str | None
    phone: str | None
    updated_at: datetime


class Page(BaseModel, Generic[ItemT]):
    """One page of a list; ``next_cursor`` None means there is no more."""

    items: list[ItemT]
    next_cursor: str | None


def device_status(
    *,
    last_seen: datetime | None,
    heartbeat_s: int | None,
    now: datetime,
    missed_heartbeats: float = 3,
) -> Status:
    """Say whether a device is online from how long it has been silent.

    Online while ``now - last_seen <= missed_heartbeats × heartbeat_s``; unknown when it was never
    heard from or its heartbeat is not known.
    """
    if last_seen is None or heartbeat_s is None:
        return "unknown"
    silent = (now - last_seen).total_seconds()
    return "online" if silent <= missed_heartbeats * heartbeat_s else "offline"


def device_view(
    row: StoredDevice,
    *,
    now: datetime,
    missed_heartbeats: float,
    default_heartbeat_s: Mapping[str, int] | None,
) -> DeviceView:
    """Show a stored device: its status at ``now`` and the latest value of each metric."""
    heartbeat = row.heartbeat_s
    if heartbeat is None and default_heartbeat_s is not None:
        heartbeat = default_heartbeat_s.get(row.kind)
    latest: dict[str, LatestValue] = {}
    for metric, entry in (row.latest or {}).items():
        # Ingest owns this map; an entry it wrote malformed is left out rather than failing
        # the whole device.
        if isinstance(entry, dict) and "ts" in entry and "value" in entry:
            latest[metric] = LatestValue(ts=entry["ts"], value=entry["value"])
    status = device_status(
        last_seen=row.last_seen,
        heartbeat_s=heartbeat,
        now=now,
        missed_heartbeats=missed_heartbeats,
    )
    return DeviceView(
        device_id=row.device_id,
        kind=row.kind,
        model=row.model,
        unit_id=row.unit_id,
        lat=row.lat,
        lon=row.lon,
        installed_on=row.installed_on,
        manufactured_on=row.manufactured_on,
        hydrant_class=row.hydrant_class,
        agent=row.agent,
        heartbeat_s=row.heartbeat_s,
        thresholds=row.thresholds,
        updated_at=row.updated_at,
        status=status,
        last_seen=row.last_seen,
        latest=latest,
    )
