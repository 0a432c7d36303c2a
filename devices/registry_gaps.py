"""What an imported device still lacks for the rules that should watch it.

A registry row may leave cells empty ("not given"), and an update keeps what was stored, so
the gaps are read from the stored rows after the upsert, not from the file. They are
warnings, not errors: the row is imported, and the integrator learns at once which rules
will not run for it (a hydrant without its class, an extinguisher without its agent or
manufacture date, a device nobody can place in a grid).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from pydantic import BaseModel, ConfigDict

from infra.database import Conn


class RegistryWarning(BaseModel):
    """One thing a stored device lacks, and what it costs."""

    model_config = ConfigDict(frozen=True)

    device_id: str
    field: str
    message: str


@dataclass(frozen=True, slots=True)
class StoredDevice:
    """The stored fields the rules depend on, with the unit's position when it has one."""

    device_id: str
    kind: str
    unit_id: str | None
    located: bool  # the device or its unit has a position
    hydrant_class: str | None
    agent: str | None
    manufactured_on: date | None


def gaps(device: StoredDevice) -> list[tuple[str, str]]:
    """Return (field, message) for each thing ``device`` lacks that a rule or a hazard needs."""
    out: list[tuple[str, str]] = []
    if not device.located and device.kind != "terminal":  # a terminal is placed by its fixes
        out.append(
            ("lat", "no position and no unit with one: its hazards cannot be placed in a grid")
        )
    if device.kind == "hydrant" and device.hydrant_class is None:
        out.append(("hydrant_class", "not given: watched by the municipal hydrant rules"))
    if device.kind == "extinguisher":
        if device.agent is None:
            out.append(("agent", "not given: no scrap, service or pressure rule can run"))
        if device.manufactured_on is None:
            out.append(("manufactured_on", "not given: no scrap or service-date rule can run"))
    if device.kind == "smoke" and device.unit_id is None:
        out.append(("unit_id", "not given: no confirmed-fire or false-alarm count per unit"))
    return out


_STORED = """
SELECT d.device_id, d.kind, d.unit_id,
       (d.lat IS NOT NULL AND d.lon IS NOT NULL) OR (u.lat IS NOT NULL AND u.lon IS NOT NULL),
       d.hydrant_class, d.agent, d.manufactured_on
FROM devices d LEFT JOIN key_units u USING (unit_id)
WHERE d.device_id = ANY(%s)
ORDER BY d.device_id
"""


def registry_warnings(conn: Conn, *, device_ids: Sequence[str]) -> list[RegistryWarning]:
    """Return the gaps of the stored devices ``device_ids``, by device ID."""
    if not device_ids:
        return []
    rows = conn.execute(_STORED, (list(device_ids),)).fetchall()
    return [
        RegistryWarning(device_id=device.device_id, field=field, message=message)
        for device in (StoredDevice(*row) for row in rows)
        for field, message in gaps(device)
    ]
