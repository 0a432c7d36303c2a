"""Hazards in the database as people see them: listing, reading and acknowledging.

Writing the engine's transitions is ``hazards.sink``; locating a subject is
``hazards.places``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, Literal

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from grids.codes import GridLevel, level_for_length
from hazards.events import log_hazard_events
from hazards.models import Hazard
from infra.database import Conn

FIELDS: Final = (
    "id, rule_id, kind, severity, status, subject_type, subject_id, key, device_id, unit_id, "
    "grid_code, community_code, street_code, grid_version, lat, lon, opened_at, cleared_at, "
    "acknowledged_at, acknowledged_by, acknowledged_note, occurrences, episode, last_value, "
    "detail, flapping, created_at, updated_at, placement"
)


def _event(conn: Conn, hazard_id: int, type_: str, data: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO hazard_events (hazard_id, type, data) VALUES (%s, %s, %s)",
        (hazard_id, type_, Jsonb(data)),
    )
    log_hazard_events(conn, hazard_ids=[hazard_id], types=[type_], changes=[data])


def area_condition(codes: Sequence[str]) -> tuple[str, list[Any]]:
    """Return SQL true for a hazard inside any of ``codes``, and its parameters.

    The SQL form of ``grids.codes.in_area``: a grid, community or street code equals the
    hazard's code of that level (a 14-digit grid is a string prefix of 15-digit ones, not their
    area); any other length, such as a 6-digit county, is a prefix of its street code.
    """
    # In the order of the SQL's parameters: grids, communities, streets, then other prefixes.
    order = (GridLevel.GRID, GridLevel.COMMUNITY, GridLevel.STREET, None)
    by_level: dict[GridLevel | None, list[str]] = {level: [] for level in order}
    for code in codes:
        by_level[level_for_length(len(code))].append(code)
    return (
        "(grid_code = ANY(%s::text[]) OR community_code = ANY(%s::text[])"
        " OR street_code = ANY(%s::text[])"
        " OR EXISTS (SELECT 1 FROM unnest(%s::text[]) AS p WHERE starts_with(street_code, p)))",
        [by_level[level] for level in order],
    )


def list_hazards(
    conn: Conn,
    *,
    status: str | None = None,
    severity: str | None = None,
    kind: str | None = None,
    area: str | None = None,
    since: datetime | None = None,
    rule: str | None = None,
    device_id: str | None = None,
    unit_id: str | None = None,
    areas: Sequence[str] = (),
    before_id: int | None = None,
    limit: int = 100,
) -> list[Hazard]:
    """Return hazards newest first in ``area`` and in any of ``areas`` (what the caller may
    see; empty: everything), each a grid, community or street code (``area_condition``)."""
    where: list[str] = ["true"]
    args: list[Any] = []
    for col, value in (
        ("status", status),
        ("severity", severity),
        ("kind", kind),
        ("rule_id", rule),
        ("device_id", device_id),
        ("unit_id", unit_id),
    ):
        if value is not None:
            where.append(f"{col} = %s")
            args.append(value)
    for codes in ([area] if area is not None else [], list(areas)):
        if codes:
            condition, values = area_condition(codes)
            where.append(condition)
            args += values
    if since is not None:
        where.append("opened_at >= %s")
        args.append(since)
    if before_id is not None:
        where.append("id < %s")
        args.append(before_id)
    with conn.cursor(row_factory=class_row(Hazard)) as cur:
        return cur.execute(
            f"SELECT {FIELDS} FROM hazards WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT %s",
            [*args, limit],
        ).fetchall()


def get_hazard(conn: Conn, *, hazard_id: int) -> Hazard | None:
    """Return one hazard, or None."""
    with conn.cursor(row_factory=class_row(Hazard)) as cur:
        return cur.execute(f"SELECT {FIELDS} FROM hazards WHERE id = %s", (hazard_id,)).fetchone()


AckOutcome = Literal["acknowledged", "already", "cleared", "missing"]


def ack_hazard(
    conn: Conn, *, hazard_id: int, by: str, now: datetime, note: str | None = None
) -> tuple[AckOutcome, Hazard | None]:
    """Acknowledge an open hazard (idempotent); a cleared one is refused as ``cleared``."""
    with conn.transaction():
        updated = conn.execute(
            "UPDATE hazards SET status = 'acknowledged', acknowledged_at = %s,"
            " acknowledged_by = %s, acknowledged_note = %s, updated_at = now()"
            " WHERE id = %s AND status = 'open' RETURNING id",
            (now, by, note, hazard_id),
        ).fetchone()
        if updated is not None:
            event: dict[str, Any] = {"acknowledged_by": by}
            if note is not None:
                event["acknowledged_note"] = note
            _event(conn, hazard_id, "hazard.updated", event)
        row = get_hazard(conn, hazard_id=hazard_id)
    if row is None:
        return "missing", None
    if updated is not None:
        return "acknowledged", row
    return ("cleared" if row.status == "cleared" else "already"), row
