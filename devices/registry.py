"""Registry imports (devices, key units, staff): CSV or JSON array in, typed rows out.

Pure: no database, no clock. Each row is validated on its own, so one bad row is reported with
its row number and field while the others are kept (CONTRACT §3, §4 ``POST .../import``).
Coordinates may arrive in any of the three Chinese systems (``crs`` column); rows always leave
here in WGS-84, which is what the database stores. Reading the file into raw rows and checking
a CSV header is ``devices.registry_files``; this module owns the row models and validation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Final, Generic, TypeAlias, TypeVar

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from devices import registry_files
from devices.geo import Crs, to_wgs84_array
from devices.models import ID_PATTERN, DeviceKind
from devices.registry_files import (
    THRESHOLD_PREFIX,
    Columns,
    Encoding,
    FileError,
    RawRow,
    TooManyCells,
    read_rows,
)

# Defined beside the file reading; re-exported here, where callers name it.
Format: TypeAlias = registry_files.Format

# Threshold override names follow metric naming: they end up as JSON keys rules look up.
THRESHOLD_NAME: Final = r"^[a-z][a-z0-9_]{0,63}$"
# Area codes (DOMAIN §1): county 6, street 9, community 12, grid 14 or 15 digits. A county
# leader's area is the county itself, so 6 is accepted beside the three grid levels.
AREA_CODE: Final = re.compile(r"\d{6}|\d{9}|\d{12}|\d{14,15}")
PHONE: Final = re.compile(r"\+?[0-9][0-9 ()-]{2,31}")


class HydrantClass(StrEnum):
    """Where a hydrant stands (CONTRACT §3)."""

    MUNICIPAL = "municipal"
    INDOOR = "indoor"


class Agent(StrEnum):
    """Extinguishing agent of an extinguisher; sets its scrap and service ages (DOMAIN §4)."""

    DRY_POWDER = "dry_powder"
    WATER = "water"
    CO2 = "co2"
    CLEAN_AGENT = "clean_agent"


class Role(StrEnum):
    """Staff roles on the escalation ladder (CONTRACT §3, DOMAIN §1)."""

    GRID_WORKER = "grid_worker"
    GRID_HEAD = "grid_head"
    COMMUNITY_HANDLER = "community_handler"
    DEPARTMENT = "department"
    STREET_LEADER = "street_leader"
    COUNTY_LEADER = "county_leader"
    OPERATOR = "operator"


def _no_bool(value: object) -> object:
    # pydantic's lax mode reads JSON true as 1; a boolean in a number field is a mistake.
    if isinstance(value, bool):
        # pydantic turns only ValueError into a validation error, so not TypeError.
        raise ValueError("a boolean is not a number")  # noqa: TRY004
    return value


def _int_as_text(value: object) -> object:
    # Spreadsheet exports write IMEIs and phone numbers as JSON numbers.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _iso_date(value: object) -> object:
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        # pydantic turns only ValueError into a validation error, so not TypeError.
        raise ValueError("expected an ISO 8601 date (YYYY-MM-DD)")  # noqa: TRY004
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an ISO 8601 date (YYYY-MM-DD)") from exc


Id = Annotated[str, BeforeValidator(_int_as_text), StringConstraints(pattern=f"^{ID_PATTERN}$")]
Text = Annotated[
    str,
    BeforeValidator(_int_as_text),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
]
Lat = Annotated[float, BeforeValidator(_no_bool), Field(ge=-90.0, le=90.0, allow_inf_nan=False)]
Lon = Annotated[float, BeforeValidator(_no_bool), Field(ge=-180.0, le=180.0, allow_inf_nan=False)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
Finite = Annotated[float, BeforeValidator(_no_bool), Field(allow_inf_nan=False)]
ThresholdName = Annotated[str, StringConstraints(pattern=THRESHOLD_NAME)]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Located(_Row):
    """A row with an optional position; lat and lon come as a pair."""

    lat: Lat | None = None
    lon: Lon | None = Field(default=None, validate_default=True)

    @field_validator("lon")
    @classmethod
    def _pair(cls, lon: float | None, info: ValidationInfo) -> float | None:
        # A lat that failed validation is absent from info.data and already reported.
        if "lat" in info.data and (info.data["lat"] is None) != (lon is None):
            raise ValueError("lat and lon must be given together")
        return lon


class DeviceRow(_Located):
    """One device registry row, coordinates in WGS-84."""

    device_id: Id
    kind: Annotated[DeviceKind, BeforeValidator(_lower)]
    model: Text | None = None
    unit_id: Id | None = None
    installed_on: IsoDate | None = None
    manufactured_on: IsoDate | None = None
    hydrant_class: Annotated[HydrantClass, BeforeValidator(_lower)] | None = None
    agent: Annotated[Agent, BeforeValidator(_lower)] | None = None
    heartbeat_s: Annotated[int, BeforeValidator(_no_bool), Field(gt=0, le=2**31 - 1)] | None = None
    thresholds: dict[ThresholdName, Finite] | None = None
    # A transmission device's GB/T 26875.3 source address (6 bytes, decimal as the frame reads).
    gb26875_address: Annotated[int, BeforeValidator(_no_bool), Field(ge=0, lt=2**48)] | None = None

    # Cross-field checks are field validators so the error names the field; pydantic validates
    # in declaration order, so kind and installed_on are in info.data when they were valid.
    @field_validator("manufactured_on")
    @classmethod
    def _made_before_installed(cls, made: date | None, info: ValidationInfo) -> date | None:
        installed = info.data.get("installed_on")
        if made is not None and installed is not None and made > installed:
            raise ValueError("manufactured_on is after installed_on")
        return made

    @field_validator("hydrant_class")
    @classmethod
    def _hydrants_only(
        cls, value: HydrantClass | None, info: ValidationInfo
    ) -> HydrantClass | None:
        if value is not None and info.data.get("kind", DeviceKind.HYDRANT) != DeviceKind.HYDRANT:
            raise ValueError("hydrant_class is only for kind hydrant")
        return value

    @field_validator("agent")
    @classmethod
    def _extinguishers_only(cls, value: Agent | None, info: ValidationInfo) -> Agent | None:
        kind = info.data.get("kind", DeviceKind.EXTINGUISHER)
        if value is not None and kind != DeviceKind.EXTINGUISHER:
            raise ValueError("agent is only for kind extinguisher")
        return value

    @field_validator("gb26875_address")
    @classmethod
    def _transmission_only(cls, value: int | None, info: ValidationInfo) -> int | None:
        kind = info.data.get("kind", DeviceKind.TRANSMISSION)
        if value is not None and kind != DeviceKind.TRANSMISSION:
            raise ValueError("gb26875_address is only for kind transmission")
        return value


class UnitRow(_Located):
    """One key unit (消防安全重点单位) row, coordinates in WGS-84."""

    unit_id: Id
    name: Text
    level: Annotated[int, BeforeValidator(_no_bool), Field(ge=1, le=3)] | None = None
    address: Text | None = None
    responsible: Text | None = None


class StaffRow(_Row):
    """One staff row: who they are, where they work, which terminal they carry."""

    staff_id: Id
    name: Text
    role: Annotated[Role, BeforeValidator(_lower)]
    area: Annotated[str, BeforeValidator(_int_as_text)] | None = None
    terminal_id: Id | None = None
    phone: Annotated[str, BeforeValidator(_int_as_text)] | None = None

    @field_validator("area")
    @classmethod
    def _area(cls, area: str | None) -> str | None:
        if area is not None and not AREA_CODE.fullmatch(area):
            raise ValueError("expected a county, street, community or grid code (6-15 digits)")
        return area

    @field_validator("phone")
    @classmethod
    def _phone(cls, phone: str | None) -> str | None:
        if phone is not None and not PHONE.fullmatch(phone):
            raise ValueError("expected a phone number: digits, optionally +, spaces, - or ()")
        return phone


RowT = TypeVar("RowT", DeviceRow, UnitRow, StaffRow)

_ID_FIELD: Final[dict[type[BaseModel], str]] = {
    DeviceRow: "device_id",
    UnitRow: "unit_id",
    StaffRow: "staff_id",
}


class RowError(BaseModel):
    """Why one row was not imported, which field, and where in the file it is."""

    model_config = ConfigDict(frozen=True)

    row: int = Field(
        description="1 = the first data row (CSV) or array item (JSON); 0 = the file itself"
    )
    line: int | None = Field(
        default=None,
        description="the file line the row starts on, counting the CSV header as line 1",
    )
    field: str
    message: str


class ParsedRows(BaseModel, Generic[RowT]):
    """Rows that passed validation, an error for each problem in the others, how it was read."""

    rows: list[RowT] = Field(default_factory=list)
    # Parallel to ``rows``: (row number, file line) of each, for errors found when storing.
    places: list[tuple[int, int]] = Field(default_factory=list)
    errors: list[RowError] = Field(default_factory=list)
    format: Format | None = None  # None: the file could not be read at all
    encoding: Encoding | None = None  # None: handed over as text


def parse_devices(data: str | bytes, *, fmt: Format | None = None) -> ParsedRows[DeviceRow]:
    """Parse a device registry file (CSV or JSON array) into rows and per-row errors."""
    return parse_rows(data, model=DeviceRow, fmt=fmt)


def parse_units(data: str | bytes, *, fmt: Format | None = None) -> ParsedRows[UnitRow]:
    """Parse a key-unit registry file (CSV or JSON array) into rows and per-row errors."""
    return parse_rows(data, model=UnitRow, fmt=fmt)


def parse_staff(data: str | bytes, *, fmt: Format | None = None) -> ParsedRows[StaffRow]:
    """Parse a staff registry file (CSV or JSON array) into rows and per-row errors."""
    return parse_rows(data, model=StaffRow, fmt=fmt)


def parse_rows(
    data: str | bytes, *, model: type[RowT], fmt: Format | None = None
) -> ParsedRows[RowT]:
    """Parse CSV or a JSON array into ``model`` rows; ``fmt`` None sniffs the format.

    The first row with a given ID is kept and later duplicates are errors. A file that is not
    CSV with a usable header nor a JSON array is one error at row 0 and no rows.
    """
    result: ParsedRows[RowT] = ParsedRows()
    try:
        raw_file = read_rows(data, columns=_columns(model), fmt=fmt)
    except FileError as exc:
        result.errors.append(RowError(row=0, line=exc.line, field="", message=str(exc)))
        return result
    result.format, result.encoding = raw_file.format, raw_file.encoding
    id_field = _ID_FIELD[model]
    first_seen: dict[str, RawRow] = {}
    # Points per non-WGS-84 system, converted together: one vectorised call per system
    # instead of one per row keeps a 100,000-row import in seconds.
    to_convert: dict[Crs, list[tuple[int, float, float]]] = {}
    for raw in raw_file.rows:
        row, crs, errors = _validate(raw, model=model)
        if row is None:
            result.errors.extend(errors)
            continue
        key = getattr(row, id_field)
        if (first := first_seen.get(key)) is not None:
            result.errors.append(
                RowError(
                    row=raw.number,
                    line=raw.line,
                    field=id_field,
                    message=f"duplicate of row {first.number} (line {first.line});"
                    " the first is kept",
                )
            )
            continue
        first_seen[key] = raw
        if (
            crs is not Crs.WGS84
            and isinstance(row, _Located)
            and row.lat is not None
            and row.lon is not None
        ):
            to_convert.setdefault(crs, []).append((len(result.rows), row.lat, row.lon))
        result.rows.append(row)
        result.places.append((raw.number, raw.line))
    for crs, points in to_convert.items():
        _convert(result.rows, points, crs)
    return result


def _convert(rows: list[RowT], points: list[tuple[int, float, float]], crs: Crs) -> None:
    """Replace the coordinates of ``rows[i]`` for each (i, lat, lon) by their WGS-84 values."""
    lat = np.array([p[1] for p in points], dtype=np.float64)
    lon = np.array([p[2] for p in points], dtype=np.float64)
    wlat, wlon = to_wgs84_array(lat, lon, crs)
    for (i, _, _), la, lo in zip(points, wlat.tolist(), wlon.tolist(), strict=True):
        rows[i] = rows[i].model_copy(update={"lat": la, "lon": lo})


@cache
def _columns(model: type[BaseModel]) -> Columns:
    """Return the CSV columns ``model`` takes (``crs`` beside a position)."""
    allowed = set(model.model_fields) - {"thresholds"}
    if issubclass(model, _Located):
        allowed.add("crs")
    return Columns(
        allowed=frozenset(allowed),
        required=tuple(name for name, info in model.model_fields.items() if info.is_required()),
        thresholds="thresholds" in model.model_fields,
    )


def _validate(raw: RawRow, *, model: type[RowT]) -> tuple[RowT | None, Crs, list[RowError]]:
    """Validate one raw row; the row keeps its coordinates in the returned ``crs``."""
    crs = Crs.WGS84

    def error(field: str, message: str) -> RowError:
        return RowError(row=raw.number, line=raw.line, field=field, message=message)

    if isinstance(raw.value, TooManyCells):
        return None, crs, [error("", raw.value.message)]
    if not isinstance(raw.value, dict):
        return None, crs, [error("", "expected a JSON object")]
    errors: list[RowError] = []
    values = _given(raw.value)
    if "thresholds" in model.model_fields:
        _gather_thresholds(values, errors=errors, error=error)
    if issubclass(model, _Located) and "crs" in values:
        given = values.pop("crs")
        try:
            crs = Crs(str(given).strip().lower())
        except ValueError:
            errors.append(error("crs", "expected wgs84, gcj02 or bd09"))
    try:
        row = model.model_validate(values)
    except ValidationError as exc:
        errors.extend(_row_errors(exc, error=error))
        return None, crs, errors
    if errors:
        return None, crs, errors
    return row, crs, errors


def _given(raw: dict[Any, Any]) -> dict[str, Any]:
    """Drop what was not given: missing keys, JSON nulls and empty or blank cells."""
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        values[str(key)] = value.strip() if isinstance(value, str) else value
    return values


def _gather_thresholds(
    values: dict[str, Any], *, errors: list[RowError], error: Callable[[str, str], RowError]
) -> None:
    """Fold ``threshold.<name>`` columns and a ``thresholds`` object into one mapping."""
    merged: dict[str, Any] = {}
    if "thresholds" in values:
        given = values.pop("thresholds")
        if isinstance(given, dict):
            merged.update({str(k): v for k, v in given.items() if v is not None})
        else:
            errors.append(error("thresholds", "expected an object"))
    for key in [k for k in values if k.startswith(THRESHOLD_PREFIX)]:
        merged[key.removeprefix(THRESHOLD_PREFIX)] = values.pop(key)
    if merged:
        values["thresholds"] = merged


def _row_errors(exc: ValidationError, *, error: Callable[[str, str], RowError]) -> list[RowError]:
    errors: list[RowError] = []
    for problem in exc.errors(include_url=False):
        loc = problem["loc"]
        field = str(loc[0]) if loc else ""
        if field == "thresholds" and len(loc) > 1:
            field = f"{THRESHOLD_PREFIX}{loc[1]}"
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown field"
        elif problem["type"] == "value_error":
            message = message.removeprefix("Value error, ")
        errors.append(error(field, message))
    return errors
