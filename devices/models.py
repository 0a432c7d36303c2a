"""What devices and terminals say, as typed records.

Records are msgspec Structs rather than pydantic models: decoders build hundreds of thousands of
them a second on the ingest path, where pydantic's validation cost would dominate.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from msgspec import Struct, field

ID_PATTERN: Final = r"[A-Za-z0-9_.-]{1,64}"
MAX_BATCH_SAMPLES: Final = 1000

EVENT_TYPES: Final = frozenset(
    {
        "smoke_alarm",
        "alarm_cleared",
        "silenced",
        "fault",
        "fault_cleared",
        "low_battery",
        "tamper",
        "installed",
        "self_test",
        "heartbeat",
        "cap_open",
        "cap_closed",
        "tilt",
        "moved",
        "returned",
        # GB/T 26875.3 duty checks (查岗): the unit's operator answered the centre, or did not
        "duty_check_answered",
        "duty_check_missed",
    }
)


class DeviceKind(StrEnum):
    """Kinds of device in the registry (CONTRACT §3)."""

    SMOKE = "smoke"
    HYDRANT = "hydrant"
    EXTINGUISHER = "extinguisher"
    WATER_TANK = "water_tank"
    TERMINAL = "terminal"
    TRANSMISSION = "transmission"


class Reading(Struct, frozen=True):
    """One value of one metric measured by a device at device time ``ts``."""

    device_id: str
    ts: datetime
    seq: int | None
    metric: str
    value: float


class DeviceEvent(Struct, frozen=True):
    """A discrete thing a device reported (alarm, fault, tamper, ...)."""

    device_id: str
    ts: datetime
    seq: int | None
    type: str
    detail: dict[str, Any] = field(default_factory=dict)


class Fix(Struct, frozen=True):
    """An accepted GNSS fix from a handheld terminal, WGS-84."""

    terminal_id: str
    ts: datetime
    lat: float
    lon: float
    quality: int
    satellites: int | None
    hdop: float | None
    altitude_m: float | None = None
    speed_mps: float | None = None


Record = Reading | DeviceEvent | Fix


class PartRejection(Struct, frozen=True):
    """A part of a payload that was rejected while the rest was kept.

    ``where`` locates the part (``samples[3].values.pressure_mpa``) and ``reason`` is a short
    machine-readable code (``out_of_range``); ``detail`` is for humans.
    """

    where: str
    reason: str
    detail: str = ""


class Decoded(Struct):
    """What a decoder made of one payload: records to store and parts it rejected."""

    records: list[Record] = field(default_factory=list)
    rejections: list[PartRejection] = field(default_factory=list)
    unknown_metrics: int = 0
    # Outcomes worth counting beyond records and rejections (NMEA: fixes, proprietary and
    # unsupported sentences). None rather than an empty dict: most decoders have none, and
    # this is built once per message on the hot path.
    counts: dict[str, int] | None = None


class DecodePolicy(Struct, frozen=True):
    """Configurable acceptance rules decoders apply; defaults follow CONTRACT §1.

    ``future_policy`` says what happens to a sample stamped further in the future than
    ``max_future``: ``reject`` it, or ``clamp`` its time to the receive time.
    """

    max_future: timedelta = timedelta(minutes=5)
    future_policy: str = "reject"
    earliest: datetime = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
    max_batch_samples: int = MAX_BATCH_SAMPLES


REPORT_CATEGORIES: Final = frozenset(
    {
        "fire",
        "blocked_exit",
        "combustibles_in_corridor",
        "ebike_indoor_charging",
        "illegal_wiring",
        "damaged_facility",
        "hydrant_problem",
        "extinguisher_problem",
        "crowded_rental",
        "other",
    }
)


class HazardReport(Struct, frozen=True):
    """A hazard a grid worker reported from a terminal (CONTRACT §1), position in WGS-84.

    ``lat``/``lon`` are None when the report carried no position: ingest then takes the
    terminal's accepted fix nearest to ``ts`` within the configured window.
    """

    report_id: str
    terminal_id: str
    ts: datetime
    category: str
    description: str = ""
    lat: float | None = None
    lon: float | None = None
    photos: list[str] = field(default_factory=list)
    unit_id: str | None = None


# CONTRACT §1's actions and the clock's (extension, suspension: a documented extension).
CASE_ACTIONS: Final = frozenset(
    {"sign", "feedback", "return", "verify", "extend", "suspend", "resume", "approve", "refuse"}
)


class CaseActionMessage(Struct, frozen=True):
    """A case action a terminal published (CONTRACT §1), position in WGS-84.

    ``result`` is an extension for ``verify``: ``pass`` (the default: the fix is confirmed) or
    ``fail`` (the case goes back to its handler as rework).
    """

    action_id: str
    terminal_id: str
    case_id: str
    action: str
    ts: datetime
    note: str = ""
    photos: list[str] = field(default_factory=list)
    lat: float | None = None
    lon: float | None = None
    result: str | None = None
    until: datetime | None = None  # extend: the deadline asked for
    request_id: str | None = None  # approve / refuse: the request's action_id


class Photo(Struct, frozen=True):
    """Photo evidence from a terminal: its checked bytes and what its EXIF says."""

    sha256: str
    terminal_id: str
    content_type: str
    data: bytes
    exif_ts: datetime | None = None
    exif_lat: float | None = None
    exif_lon: float | None = None

    @property
    def size(self) -> int:
        """Return the size in bytes."""
        return len(self.data)
