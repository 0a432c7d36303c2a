"""SQL behind the engine: committed batches, the watermark, registry contexts, history.

Times cross into Python as integer Unix ms of device time (``floor`` of the stored timestamp:
FireGrid's inputs carry milliseconds at most).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar

import numpy as np

from devices.timefmt import ms_to_dt
from grids.locator import GridLocator
from infra.database import Conn
from infra.eventlog import Consumer
from rules.engine.types import BatchData, Event, EventRows, Reading, ReadingColumns
from rules.kinds.report import LocatedReport
from rules.models import DeviceContext, SeriesArrays

MS: Final = "floor(extract(epoch FROM {col}) * 1000)::bigint"
# Any constant works; every rules process on one database takes it per transaction, so two
# rules roles never evaluate the same key at once (state is read, evaluated and written back).
RULES_LOCK: Final = 0x52554C45  # "RULE"
BATCH_COMMITTED: Final = "batch.committed"  # appended by ingest.service.write_batch

# Rows per round trip of the replay's server-side cursors: large enough that the round trips
# cost little next to the engine's work, small enough to be nothing next to the engine's state.
FETCH_ROWS: Final = 5_000

_T = TypeVar("_T")


def lock_rules(conn: Conn) -> None:
    """Take the rules lock for the current transaction."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (RULES_LOCK,))


# The rules' cursor in the event log: they consume each committed batch exactly once.
RULES_CONSUMER: Final = Consumer("rules", kinds={BATCH_COMMITTED})


def processed(alias: str) -> str:
    """Return SQL true when the batch of row ``alias`` has been evaluated by the rules.

    Its ``batch.committed`` event is at or below the rules' cursor, or pruned (every consumer
    had passed it). What replaced the ``rules_done`` flag, for the rules' history and retention.
    """
    return (
        f"NOT EXISTS (SELECT 1 FROM event_log l WHERE l.kind = '{BATCH_COMMITTED}'"
        f" AND l.subject = {alias}.batch_id::text AND l.id > coalesce((SELECT c.position"
        f" FROM event_cursors c WHERE c.consumer = '{RULES_CONSUMER.name}'), 0))"
    )


def load_batch(conn: Conn, *, batch_id: int) -> BatchData:
    """Return a batch's readings (as columns) and events in (device, metric/type, ts, seq) order."""
    order = "ORDER BY device_id, metric, ts, seq"
    row = conn.execute(
        # One row of arrays: thousands of rows would each be a tuple for the GC to track.
        f"SELECT array_agg(device_id {order}), array_agg(metric {order}), "
        f"array_agg({MS.format(col='ts')} {order}), array_agg(value {order}), "
        f"array_agg(seq {order}) FROM readings WHERE batch_id = %s",
        (batch_id,),
    ).fetchone()
    columns = (
        ReadingColumns.of([])
        if row is None or row[0] is None
        else ReadingColumns(
            row[0],
            row[1],
            np.array(row[2], np.int64),
            np.array(row[3], np.float64),
            np.array(row[4], np.int64),
        )
    )
    events: list[Event] = [
        (str(d), str(ty), int(t), int(s))
        for d, ty, t, s in conn.execute(
            f"SELECT device_id, type, {MS.format(col='ts')}, seq FROM device_events "
            "WHERE batch_id = %s ORDER BY device_id, ts, seq",
            (batch_id,),
        ).fetchall()
    ]
    return BatchData(batch_id, (), events, columns)


def server_rows(
    conn: Conn, name: str, query: str, args: Sequence[Any] | Mapping[str, Any]
) -> Iterator[Any]:
    """Yield a query's rows through server-side cursor ``name``, ``FETCH_ROWS`` at a time.

    Needs a transaction (not autocommit); other statements may run on ``conn`` in between.
    """
    with conn.cursor(name=name) as cur:
        cur.itersize = FETCH_ROWS
        yield from cur.execute(query, args)


def stream_range(
    conn: Conn, *, start: datetime, end: datetime
) -> Iterator[tuple[int, list[Reading], list[Event]]]:
    """Yield stored batches' samples with start <= ts < end, batch by batch in batch order.

    Server-side cursors: at most one batch and ``FETCH_ROWS`` rows per table are held at once,
    however long the range. Needs a transaction (the caller's, not autocommit).
    """
    readings = (
        (int(b), (str(d), str(m), int(t), float(v), int(s)))
        for b, d, m, t, v, s in server_rows(
            conn,
            "fg_range_readings",
            f"SELECT batch_id, device_id, metric, {MS.format(col='ts')}, value, seq FROM readings "
            "WHERE ts >= %s AND ts < %s ORDER BY batch_id, device_id, metric, ts, seq",
            (start, end),
        )
    )
    events = (
        (int(b), (str(d), str(ty), int(t), int(s)))
        for b, d, ty, t, s in server_rows(
            conn,
            "fg_range_events",
            f"SELECT batch_id, device_id, type, {MS.format(col='ts')}, seq FROM device_events "
            "WHERE ts >= %s AND ts < %s ORDER BY batch_id, device_id, ts, seq",
            (start, end),
        )
    )
    by_readings, by_events = _grouped(readings), _grouped(events)
    r, e = next(by_readings, None), next(by_events, None)
    while r is not None or e is not None:
        batch_id = min(x[0] for x in (r, e) if x is not None)
        batch_readings: list[Reading] = []
        batch_events: list[Event] = []
        if r is not None and r[0] == batch_id:
            batch_readings, r = r[1], next(by_readings, None)
        if e is not None and e[0] == batch_id:
            batch_events, e = e[1], next(by_events, None)
        yield batch_id, batch_readings, batch_events


def _grouped(rows: Iterable[tuple[int, _T]]) -> Iterator[tuple[int, list[_T]]]:
    """Group (batch ID, row) pairs sorted by batch ID into (batch ID, rows)."""
    for batch_id, group in itertools.groupby(rows, key=lambda pair: pair[0]):
        yield batch_id, [row for _, row in group]


def load_contexts(
    conn: Conn,
    *,
    device_ids: Sequence[str],
    known: Callable[[str], DeviceContext | None] | None = None,
) -> dict[str, DeviceContext]:
    """Return the registry context of the given devices (unknown IDs are left out).

    A context equal to ``known(device_id)`` is that same object: most devices do not change
    between batches, and a new object per device and batch is work for the GC.
    """
    row = conn.execute(
        # Thresholds as text: most devices have none, and parsing '{}' per device costs more
        # than the rest of the query.
        "SELECT array_agg(device_id), array_agg(kind), array_agg(model), array_agg(unit_id), "
        "array_agg(hydrant_class), array_agg(agent), array_agg(thresholds::text) "
        "FROM devices WHERE device_id = ANY(%b)",
        (list(device_ids),),
    ).fetchone()
    if row is None or row[0] is None:
        return {}
    out: dict[str, DeviceContext] = {}
    for d, kind, model, unit, hydrant_class, agent, th in zip(*row, strict=True):
        old = known(d) if known is not None else None
        if (
            old is not None
            and old.kind == kind
            and old.model == model
            and old.unit_id == unit
            and old.hydrant_class == hydrant_class
            and old.agent == agent
            and not old.thresholds
            and th in (None, "{}")
        ):
            out[d] = old
        else:
            out[d] = DeviceContext(d, kind, model, unit, hydrant_class, agent, _thresholds(th))
    return out


def _thresholds(text: str | None) -> dict[str, float]:
    if text is None or text == "{}":
        return {}
    return {k: float(v) for k, v in (json.loads(text) or {}).items()}


def batch_fix_ranges(conn: Conn, *, batch_id: int) -> list[tuple[str, datetime, datetime]]:
    """Return (terminal, first ts, last ts) of the fixes a batch stored."""
    rows = conn.execute(
        "SELECT terminal_id, min(ts), max(ts) FROM fixes WHERE batch_id = %s GROUP BY 1",
        (batch_id,),
    ).fetchall()
    return [(str(t), lo, hi) for t, lo, hi in rows]


_REPORTS: Final = f"""
SELECT report_id::text, terminal_id, {MS.format(col="ts")}, category, description, photos,
       unit_id, lat, lon, grid_code, community_code, street_code, grid_version, batch_id
FROM hazard_reports
"""
_LOCATED: Final = """
UPDATE hazard_reports AS h SET grid_code = u.g, community_code = u.c, street_code = u.s,
    grid_version = %s
FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS u(id, g, c, s)
WHERE h.report_id = u.id
"""


def _report(row: Sequence[Any]) -> LocatedReport:
    return LocatedReport(
        str(row[0]),
        str(row[1]),
        int(row[2]),
        str(row[3]),
        str(row[4]),
        tuple(row[5]),
        *row[6:13],
    )


def locate_batch_reports(conn: Conn, *, batch_id: int, locator: GridLocator) -> list[LocatedReport]:
    """Locate the reports a batch stored under the current grid version and store their codes.

    Runs in the batch's rules transaction, so a report's codes and its hazard commit together.
    """
    rows = conn.execute(_REPORTS + "WHERE batch_id = %s ORDER BY ts, report_id", (batch_id,))
    reports = [_report(r) for r in rows.fetchall()]
    if not reports:
        return []
    where = locator.locate_many([r.lat for r in reports], [r.lon for r in reports])
    reports = [
        dataclasses.replace(
            r,
            grid_code=where.grid[i],
            community_code=where.community[i],
            street_code=where.street[i],
            grid_version=where.version,
        )
        for i, r in enumerate(reports)
    ]
    conn.execute(
        _LOCATED,
        (
            where.version,
            [r.report_id for r in reports],
            [r.grid_code for r in reports],
            [r.community_code for r in reports],
            [r.street_code for r in reports],
        ),
    )
    return reports


def stream_range_reports(
    conn: Conn, *, start: datetime, end: datetime
) -> Iterator[tuple[int, list[LocatedReport]]]:
    """Yield stored reports with start <= ts < end, located as the live engine left them, batch
    by batch in batch order (a server-side cursor, as ``stream_range``)."""
    rows = server_rows(
        conn,
        "fg_range_reports",
        _REPORTS + "WHERE ts >= %s AND ts < %s ORDER BY batch_id, ts, report_id",
        (start, end),
    )
    for batch_id, group in itertools.groupby(rows, key=lambda r: int(r[13])):
        yield batch_id, [_report(r) for r in group]


class DbHistory:
    """Stored samples for replays: batches already processed plus the current one.

    Processed: see ``processed``; the cursor is the one the batch's transaction holds locked.

    For ``firegrid rules replay`` (``replay=True``) the batches up to the current one within
    [start, end) count instead, since replay processes them in batch order with fresh state.
    """

    def __init__(
        self,
        conn: Conn,
        *,
        batch_id: int,
        replay: bool = False,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> None:
        self.conn, self.batch_id, self.replay = conn, batch_id, replay
        self.start, self.end = start, end
        # A replay decides lateness afresh: the live role's too-late records do not apply.
        self._late = (
            ""
            if replay
            else "AND NOT EXISTS (SELECT 1 FROM rule_too_late l WHERE l.rule_id = %s "
            "AND l.key = %s AND l.device_id = {a}.device_id AND l.ts = {a}.ts AND l.seq = {a}.seq) "
        )

    def _scope(self, alias: str) -> tuple[str, list[Any]]:
        if not self.replay:
            # Batches with an event past the cursor are committed but not evaluated yet.
            return f"({alias}.batch_id = %s OR {processed(alias)})", [self.batch_id]
        sql = f"{alias}.batch_id <= %s"
        args: list[Any] = [self.batch_id]
        if self.start is not None and self.end is not None:
            sql += f" AND {alias}.ts >= %s AND {alias}.ts < %s"
            args += [self.start, self.end]
        return sql, args

    def _late_args(self, rule_id: str, key: str) -> list[str]:
        return [] if self.replay else [rule_id, key]

    def series(self, *, rule_id: str, key: str, after_ts: int) -> SeriesArrays:
        """Return a ``device/metric`` key's readings with ts > ``after_ts``, in order."""
        device, metric = key.split("/", 1)
        scope, args = self._scope("r")
        rows = self.conn.execute(
            f"SELECT {MS.format(col='r.ts')}, r.value, r.seq FROM readings r "
            f"WHERE r.device_id = %s AND r.metric = %s AND r.ts >= %s AND {scope} "
            + self._late.format(a="r")
            + "ORDER BY r.ts, r.seq",
            [device, metric, ms_to_dt(after_ts + 1), *args, *self._late_args(rule_id, key)],
        ).fetchall()
        return SeriesArrays.build(
            key,
            np.array([r[0] for r in rows], np.int64),
            [r[1] for r in rows],
            [r[2] for r in rows],
        )

    def unit_devices(self, *, unit_id: str) -> list[str]:
        """Return the IDs of the devices the registry places in ``unit_id``."""
        rows = self.conn.execute(
            "SELECT device_id FROM devices WHERE unit_id = %s ORDER BY device_id", (unit_id,)
        ).fetchall()
        return [str(r[0]) for r in rows]

    def events(self, *, rule_id: str, key: str, after_ts: int) -> EventRows:
        """Return a device's (or ``unit:U``'s devices') events with ts > ``after_ts``."""
        if key.startswith("unit:"):
            who = "e.device_id IN (SELECT device_id FROM devices WHERE unit_id = %s)"
            ident = key[5:]
        else:
            who, ident = "e.device_id = %s", key
        scope, args = self._scope("e")
        rows = self.conn.execute(
            f"SELECT e.device_id, e.type, {MS.format(col='e.ts')}, e.seq FROM device_events e "
            f"WHERE {who} AND e.ts >= %s AND {scope} "
            + self._late.format(a="e")
            + "ORDER BY e.ts, e.device_id, e.seq",
            [ident, ms_to_dt(after_ts + 1), *args, *self._late_args(rule_id, key)],
        ).fetchall()
        return EventRows.build(key, [(str(d), str(t), int(ts), int(s)) for d, t, ts, s in rows])
