"""Hazards in the database: the sink the engine writes through, locating, listing, acknowledging.

``DbSink`` applies ``rules.hazards.decide`` to the latest episode of each (subject, rule), row
locked, in the caller's transaction; every change writes a ``hazard_events`` row and
``pg_notify('firegrid_hazards', id)`` in that same transaction, so the live feed sees exactly
what committed. The unique constraint on (subject, rule, episode) and the partial unique index
on live episodes make a second live episode impossible whatever the code above does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from rules.engine_service import dt_to_ms, ms_to_dt
from rules.grid_locator import GridLocator
from rules.hazards import HazardOp, HazardRecord, decide
from rules.models import Severity

Conn = psycopg.Connection[Any]

FIELDS: Final = (
    "id, rule_id, kind, severity, status, subject_type, subject_id, key, device_id, unit_id, "
    "grid_code, community_code, street_code, grid_version, lat, lon, opened_at, cleared_at, "
    "acknowledged_at, acknowledged_by, occurrences, episode, last_value, detail, flapping, "
    "created_at, updated_at"
)


@dataclass(frozen=True, slots=True)
class Place:
    """Where a hazard is: WGS-84 point, its grid codes and the grid version used."""

    lat: float | None = None
    lon: float | None = None
    device_id: str | None = None
    unit_id: str | None = None
    grid_code: str | None = None
    community_code: str | None = None
    street_code: str | None = None
    grid_version: int | None = None


def locate_subject(
    conn: Conn, *, subject_type: str, subject_id: str, locator: GridLocator | None
) -> Place:
    """Locate a hazard's subject: a sensor's registered position (else its unit's), a unit's
    position, a terminal's latest fix, or the grid itself."""
    lat = lon = None
    device_id = unit_id = None
    if subject_type == "device":
        row = conn.execute(
            "SELECT d.kind, d.unit_id, coalesce(d.lat, u.lat), coalesce(d.lon, u.lon) "
            "FROM devices d LEFT JOIN key_units u USING (unit_id) WHERE d.device_id = %s",
            (subject_id,),
        ).fetchone()
        device_id = subject_id
        if row is not None:
            unit_id, lat, lon = row[1], row[2], row[3]
            if row[0] == "terminal":
                subject_type = "terminal"
    elif subject_type == "unit":
        unit_id = subject_id
        row = conn.execute(
            "SELECT lat, lon FROM key_units WHERE unit_id = %s", (subject_id,)
        ).fetchone()
        if row is not None:
            lat, lon = row
    elif subject_type == "grid":
        row = conn.execute(
            "SELECT version, (min_lat + max_lat) / 2, (min_lon + max_lon) / 2 FROM grid_areas "
            "WHERE code = %s AND level = 'grid' ORDER BY version DESC LIMIT 1",
            (subject_id,),
        ).fetchone()
        version, lat, lon = row if row is not None else (None, None, None)
        return Place(lat, lon, None, None, subject_id, subject_id[:12], subject_id[:9], version)
    if subject_type == "terminal":
        device_id = subject_id
        row = conn.execute(
            "SELECT lat, lon FROM fixes WHERE terminal_id = %s ORDER BY ts DESC LIMIT 1",
            (subject_id,),
        ).fetchone()
        if row is not None:
            lat, lon = row
    where = locator.locate(lat, lon) if locator and lat is not None and lon is not None else None
    if where is None:
        return Place(lat, lon, device_id, unit_id)
    return Place(
        lat,
        lon,
        device_id,
        unit_id,
        where.grid_code,
        where.community_code,
        where.street_code,
        where.version,
    )


def _record(row: dict[str, Any]) -> HazardRecord:
    return HazardRecord(
        row["rule_id"],
        row["kind"],
        row["key"],
        row["subject_type"],
        row["subject_id"],
        row["episode"],
        Severity(row["severity"]),
        row["status"],
        dt_to_ms(row["opened_at"]),
        None if row["cleared_at"] is None else dt_to_ms(row["cleared_at"]),
        row["occurrences"],
        row["last_value"],
        dict(row["detail"]),
        row["flapping"],
        row["acknowledged_at"] is not None,
        row["id"],
    )


def _event(conn: Conn, hazard_id: int, type_: str, data: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO hazard_events (hazard_id, type, data) VALUES (%s, %s, %s)",
        (hazard_id, type_, Jsonb(data)),
    )
    conn.execute("SELECT pg_notify('firegrid_hazards', %s)", (str(hazard_id),))


class DbSink:
    """The database ``HazardSink``: one row-locked decide-and-write per operation."""

    def __init__(self, conn: Conn, *, locator: GridLocator | None = None) -> None:
        self.conn = conn
        self.locator = locator

    def apply(self, ops: Sequence[HazardOp]) -> None:
        """Apply operations in order, in the caller's transaction."""
        for op in ops:
            self.apply_one(op)

    def apply_one(self, op: HazardOp) -> int | None:
        """Apply one operation; return the hazard ID it touched (None: nothing to do)."""
        subject_type, subject_id = op.subject
        with self.conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                f"SELECT {FIELDS} FROM hazards WHERE subject_type = %s "
                "AND subject_id = %s AND rule_id = %s ORDER BY episode DESC LIMIT 1 FOR UPDATE",
                (subject_type, subject_id, op.rule_id),
            ).fetchone()
        change = decide(None if row is None else _record(row), op)
        if change is None:
            return None
        rec = change.record
        if rec.id is None:
            place = locate_subject(
                self.conn, subject_type=subject_type, subject_id=subject_id, locator=self.locator
            )
            new = self.conn.execute(
                "INSERT INTO hazards (rule_id, kind, severity, status, subject_type, subject_id,"
                " key, device_id, unit_id, grid_code, community_code, street_code, grid_version,"
                " lat, lon, opened_at, occurrences, episode, last_value, detail, flapping)"
                " VALUES (%s, %s, %s, 'open', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                " %s, %s, %s, %s, %s) RETURNING id",
                (
                    rec.rule_id,
                    rec.kind,
                    rec.severity.value,
                    subject_type,
                    subject_id,
                    rec.key,
                    place.device_id,
                    place.unit_id,
                    place.grid_code,
                    place.community_code,
                    place.street_code,
                    place.grid_version,
                    place.lat,
                    place.lon,
                    ms_to_dt(rec.opened_at),
                    rec.occurrences,
                    rec.episode,
                    rec.last_value,
                    Jsonb(rec.detail),
                    rec.flapping,
                ),
            ).fetchone()
            assert new is not None
            hazard_id = int(new[0])
        else:
            hazard_id = rec.id
            self.conn.execute(
                "UPDATE hazards SET severity = %s, status = %s, cleared_at = %s,"
                " occurrences = %s, last_value = %s, detail = %s, flapping = %s,"
                " updated_at = now() WHERE id = %s",
                (
                    rec.severity.value,
                    rec.status,
                    None if rec.cleared_at is None else ms_to_dt(rec.cleared_at),
                    rec.occurrences,
                    rec.last_value,
                    Jsonb(rec.detail),
                    rec.flapping,
                    hazard_id,
                ),
            )
        _event(self.conn, hazard_id, change.event, {"rule": op.rule_id, **change.data})
        return hazard_id


# ---- reading and acknowledging ------------------------------------------------------------


def list_hazards(
    conn: Conn,
    *,
    status: str | None = None,
    area: str | None = None,
    since: datetime | None = None,
    rule: str | None = None,
    device_id: str | None = None,
    unit_id: str | None = None,
    areas: Sequence[str] = (),
    before_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Return hazards newest first; ``area`` and ``areas`` match grid, community or street code
    prefixes (``areas``: what the caller may see; empty: everything)."""
    where: list[str] = ["true"]
    args: list[Any] = []
    for col, value in (
        ("status", status),
        ("rule_id", rule),
        ("device_id", device_id),
        ("unit_id", unit_id),
    ):
        if value is not None:
            where.append(f"{col} = %s")
            args.append(value)
    if area is not None:
        where.append("(grid_code LIKE %s OR community_code LIKE %s OR street_code LIKE %s)")
        args += [area + "%"] * 3
    if areas:
        pats = [a + "%" for a in areas]
        where.append(
            "(grid_code LIKE ANY(%s) OR community_code LIKE ANY(%s) OR street_code LIKE ANY(%s))"
        )
        args += [pats] * 3
    if since is not None:
        where.append("opened_at >= %s")
        args.append(since)
    if before_id is not None:
        where.append("id < %s")
        args.append(before_id)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {FIELDS} FROM hazards WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT %s",
            [*args, limit],
        ).fetchall()


def get_hazard(conn: Conn, *, hazard_id: int) -> dict[str, Any] | None:
    """Return one hazard, or None."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT {FIELDS} FROM hazards WHERE id = %s", (hazard_id,)).fetchone()


AckOutcome = Literal["acknowledged", "already", "cleared", "missing"]


def ack_hazard(
    conn: Conn, *, hazard_id: int, by: str, now: datetime
) -> tuple[AckOutcome, dict[str, Any] | None]:
    """Acknowledge an open hazard (idempotent); a cleared one is refused as ``cleared``."""
    with conn.transaction():
        updated = conn.execute(
            "UPDATE hazards SET status = 'acknowledged', acknowledged_at = %s,"
            " acknowledged_by = %s, updated_at = now() WHERE id = %s AND status = 'open'"
            " RETURNING id",
            (now, by, hazard_id),
        ).fetchone()
        if updated is not None:
            _event(conn, hazard_id, "hazard.updated", {"acknowledged_by": by})
        row = get_hazard(conn, hazard_id=hazard_id)
    if row is None:
        return "missing", None
    if updated is not None:
        return "acknowledged", row
    return ("cleared" if row["status"] == "cleared" else "already"), row
