"""What the registry service returns: devices, units and staff as the API shows them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Generic, Literal, TypeVar

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
