"""The database ``HazardSink``: hazard transitions written in the caller's transaction.

``DbSink`` applies ``hazards.lifecycle.decide`` to the latest episode of each (subject, rule), row
locked, in the caller's transaction; every change writes a ``hazard_events`` row (the hazard's
history) and appends ``hazard.opened|updated|cleared`` to the event log in that same
transaction, so the live feed (and later dispatch) sees exactly what committed. The unique
constraint on (subject, rule, episode) and the partial unique index on live episodes make a
second live episode impossible whatever the code above does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from devices.timefmt import dt_to_ms, ms_to_dt
from grids.locator import GridLocator
from hazards.events import record_hazard_events
from hazards.lifecycle import HazardOp, HazardRecord, decide
from hazards.models import Severity
from hazards.places import locate_subjects
from hazards.service import FIELDS
from infra.database import Conn


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


def _dt(ms: int | None) -> datetime | None:
    return None if ms is None else ms_to_dt(ms)


class DbSink:
    """The database ``HazardSink``: a batch's operations decided in memory, written in bulk.

    The latest episode of every (subject, rule) the operations touch is read row-locked in one
    query; ``decide`` runs op by op in memory exactly as it would row by row; then one UPDATE,
    one INSERT and the events (history and log, in operation order) write the
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
        record_hazard_events(
            self.conn,
            hazard_ids=[ids[ep] for ep, _, _ in events],
            types=[t for _, t, _ in events],
            changes=[d for _, _, d in events],
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
