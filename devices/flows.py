"""Registry imports as the CLI and the API both run them: parse, then upsert the valid rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from devices import registry, service
from devices.registry_gaps import RegistryWarning, registry_warnings
from devices.views import ImportCounts
from infra.database import Conn

RegistryKind = Literal["devices", "units", "staff"]

_PARSERS: dict[str, Callable[..., registry.ParsedRows[Any]]] = {
    "devices": registry.parse_devices,
    "units": registry.parse_units,
    "staff": registry.parse_staff,
}
_UPSERTS: dict[str, Callable[..., ImportCounts]] = {
    "devices": service.upsert_devices,
    "units": service.upsert_units,
    "staff": service.upsert_staff,
}


@dataclass(frozen=True)
class ImportOutcome:
    """What an import stored and the rows it refused."""

    counts: ImportCounts
    errors: Sequence[registry.RowError]
    # Devices only: what the stored rows still lack for the rules (imported all the same).
    warnings: Sequence[RegistryWarning] = ()


def parse_registry(
    kind: RegistryKind, data: bytes, *, fmt: registry.Format | None
) -> registry.ParsedRows[Any]:
    """Parse ``data`` as rows of registry ``kind`` (CSV or a JSON array; None sniffs)."""
    return _PARSERS[kind](data, fmt=fmt)


def unreadable(parsed: registry.ParsedRows[Any]) -> registry.RowError | None:
    """Return the whole-input error (row 0) when nothing of the input could be read."""
    return next((e for e in parsed.errors if e.row == 0), None)


def store_registry(
    conn: Conn, *, kind: RegistryKind, parsed: registry.ParsedRows[Any]
) -> ImportOutcome:
    """Upsert the valid rows of ``parsed``; rows whose ID exists are updated."""
    counts = _UPSERTS[kind](conn, rows=parsed.rows)
    warnings: list[RegistryWarning] = []
    if kind == "devices":
        warnings = registry_warnings(conn, device_ids=[row.device_id for row in parsed.rows])
    return ImportOutcome(counts=counts, errors=parsed.errors, warnings=warnings)
