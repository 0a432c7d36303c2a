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
from rules.grid_codes import GridLevel, level_for_length
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


Triple = tuple[str, str, str]  # subject type, subject ID, rule ID
Episode = tuple[str, str, str, int]  # ... and episode number

_LATEST: Final = f"""
SELECT h.* FROM unnest(%s::text[], %s::text[], %s::text[]) AS k(st, sid, rid)
CROSS JOIN LATERAL (
    SELECT {FIELDS} FROM hazards
    WHERE subject_type = k.st AND subject_id = k.sid AND rule_id = k.rid
    ORDER BY episode DESC LIMIT 1 FOR UPDATE
) AS h
"""
_INSERT: Final = """
INSERT INTO hazards (rule_id, kind, severity, status, subject_type, subject_id, key, device_id,
    unit_id, grid_code, community_code, street_code, grid_version, lat, lon, opened_at,
    cleared_at, occurrences, episode, last_value, detail, flapping)
SELECT {cols} FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
    %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
    %s::int[], %s::float8[], %s::float8[], %s::timestamptz[], %s::timestamptz[], %s::int[],
    %s::int[], %s::float8[], %s::jsonb[], %s::bool[]) WITH ORDINALITY AS u({cols}, o)
ORDER BY u.o
RETURNING id, subject_type, subject_id, rule_id, episode
""".format(cols=", ".join(f"c{i}" for i in range(22)))
_UPDATE: Final = """
UPDATE hazards AS h SET severity = u.severity, status = u.status, cleared_at = u.cleared_at,
    occurrences = u.occurrences, last_value = u.last_value, detail = u.detail,
    flapping = u.flapping, updated_at = now()
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::int[], %s::float8[],
    %s::jsonb[], %s::bool[]) AS u(id, severity, status, cleared_at, occurrences, last_value,
    detail, flapping)
WHERE h.id = u.id
"""
_EVENTS: Final = """
WITH e AS (
    INSERT INTO hazard_events (hazard_id, type, data)
    SELECT u.h, u.t, u.d FROM unnest(%s::bigint[], %s::text[], %s::jsonb[]) WITH ORDINALITY
        AS u(h, t, d, o)
    ORDER BY u.o
    RETURNING 1
)
SELECT count(*), (SELECT count(pg_notify('firegrid_hazards', n::text))
                  FROM unnest(%s::bigint[]) WITH ORDINALITY AS v(n, o))
FROM e
"""


def _dt(ms: int | None) -> datetime | None:
    return None if ms is None else ms_to_dt(ms)


class DbSink:
    """The database ``HazardSink``: a batch's operations decided in memory, written in bulk.

    The latest episode of every (subject, rule) the operations touch is read row-locked in one
    query; ``decide`` runs op by op in memory exactly as it would row by row; then one UPDATE,
    one INSERT and one INSERT of events (with their NOTIFYs, in operation order) write the
    outcome. ``now()`` is the transaction's time, so the rows are the ones op-by-op writes give.
    """

    def __init__(self, conn: Conn, *, locator: GridLocator | None = None) -> None:
        self.conn = conn
        self.locator = locator

    def apply(self, ops: Sequence[HazardOp]) -> None:
        """Apply operations in order, in the caller's transaction."""
        if not ops:
            return
        triples = list(dict.fromkeys((*op.subject, op.rule_id) for op in ops))
        latest: dict[Triple, HazardRecord | None] = dict.fromkeys(triples)
        with self.conn.cursor(row_factory=dict_row) as cur:
            for row in cur.execute(_LATEST, [list(col) for col in zip(*triples, strict=True)]):
                latest[row["subject_type"], row["subject_id"], row["rule_id"]] = _record(row)
        final: dict[Episode, HazardRecord] = {}
        events: list[tuple[Episode, str, dict[str, Any]]] = []
        for op in ops:
            triple = (*op.subject, op.rule_id)
            change = decide(latest[triple], op)
            if change is None:
                continue
            rec = change.record
            latest[triple] = rec
            ep = (*triple, rec.episode)
            final[ep] = rec
            events.append((ep, change.event, {"rule": op.rule_id, **change.data}))
        if not final:
            return
        ids = {ep: rec.id for ep, rec in final.items() if rec.id is not None}
        self._update([r for r in final.values() if r.id is not None])
        ids.update(self._insert([r for r in final.values() if r.id is None]))
        hazard_ids = [ids[ep] for ep, _, _ in events]
        self.conn.execute(
            _EVENTS,
            (hazard_ids, [t for _, t, _ in events], [Jsonb(d) for _, _, d in events], hazard_ids),
        )

    def _update(self, recs: list[HazardRecord]) -> None:
        if not recs:
            return
        self.conn.execute(
            _UPDATE,
            (
                [r.id for r in recs],
                [r.severity.value for r in recs],
                [r.status for r in recs],
                [_dt(r.cleared_at) for r in recs],
                [r.occurrences for r in recs],
                [r.last_value for r in recs],
                [Jsonb(r.detail) for r in recs],
                [r.flapping for r in recs],
            ),
        )

    def _insert(self, recs: list[HazardRecord]) -> dict[Episode, int]:
        if not recs:
            return {}
        places = locate_subjects(
            self.conn,
            subjects=list(dict.fromkeys((r.subject_type, r.subject_id) for r in recs)),
            locator=self.locator,
        )
        ps = [places[r.subject_type, r.subject_id] for r in recs]
        rows = self.conn.execute(
            _INSERT,
            (
                [r.rule_id for r in recs],
                [r.kind for r in recs],
                [r.severity.value for r in recs],
                [r.status for r in recs],
                [r.subject_type for r in recs],
                [r.subject_id for r in recs],
                [r.key for r in recs],
                [p.device_id for p in ps],
                [p.unit_id for p in ps],
                [p.grid_code for p in ps],
                [p.community_code for p in ps],
                [p.street_code for p in ps],
                [p.grid_version for p in ps],
                [p.lat for p in ps],
                [p.lon for p in ps],
                [ms_to_dt(r.opened_at) for r in recs],
                [_dt(r.cleared_at) for r in recs],
                [r.occurrences for r in recs],
                [r.episode for r in recs],
                [r.last_value for r in recs],
                [Jsonb(r.detail) for r in recs],
                [r.flapping for r in recs],
            ),
        ).fetchall()
        return {(st, sid, rid, int(ep)): int(i) for i, st, sid, rid, ep in rows}


_REPORT_PLACES: Final = """
SELECT report_id::text, lat, lon, terminal_id, unit_id, grid_code, community_code, street_code,
       grid_version
FROM hazard_reports WHERE report_id = ANY(%s::text[])
"""


def locate_subjects(
    conn: Conn, *, subjects: Sequence[tuple[str, str]], locator: GridLocator | None
) -> dict[tuple[str, str], Place]:
    """Locate many subjects: sensors and reports in one query each, the rest (terminals, units,
    grids) one by one; a report's hazard is where the report is, its device the terminal."""
    devices = [sid for st, sid in subjects if st == "device"]
    found: dict[str, tuple[Any, ...]] = {}
    if devices:
        for row in conn.execute(
            "SELECT d.device_id, d.kind, d.unit_id, coalesce(d.lat, u.lat), coalesce(d.lon, u.lon) "
            "FROM devices d LEFT JOIN key_units u USING (unit_id) WHERE d.device_id = ANY(%s)",
            (devices,),
        ):
            found[row[0]] = row
    out: dict[tuple[str, str], Place] = {}
    reports = [sid for st, sid in subjects if st == "report"]
    if reports:  # located when the rules took the report in, in this same transaction
        for row in conn.execute(_REPORT_PLACES, (reports,)):
            out["report", row[0]] = Place(*row[1:])
    for st, sid in subjects:
        if st == "report":
            out.setdefault((st, sid), Place())
            continue
        row = found.get(sid) if st == "device" else None
        if st != "device" or (row is not None and row[1] == "terminal"):
            out[st, sid] = locate_subject(conn, subject_type=st, subject_id=sid, locator=locator)
            continue
        unit_id, lat, lon = (row[2], row[3], row[4]) if row is not None else (None, None, None)
        where = (
            locator.locate(lat, lon) if locator and lat is not None and lon is not None else None
        )
        out[st, sid] = (
            Place(lat, lon, sid, unit_id)
            if where is None
            else Place(
                lat,
                lon,
                sid,
                unit_id,
                where.grid_code,
                where.community_code,
                where.street_code,
                where.version,
            )
        )
    return out


# ---- reading and acknowledging ------------------------------------------------------------


def area_condition(codes: Sequence[str]) -> tuple[str, list[Any]]:
    """Return SQL true for a hazard inside any of ``codes``, and its parameters.

    The SQL form of ``rules.grid_codes.in_area``: a grid, community or street code equals the
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
    area: str | None = None,
    since: datetime | None = None,
    rule: str | None = None,
    device_id: str | None = None,
    unit_id: str | None = None,
    areas: Sequence[str] = (),
    before_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Return hazards newest first in ``area`` and in any of ``areas`` (what the caller may
    see; empty: everything), each a grid, community or street code (``area_condition``)."""
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
