"""SQL behind the engine: committed batches, the watermark, registry contexts, state, history.

Times cross into Python as integer Unix ms of device time (``floor`` of the stored timestamp:
FireGrid's inputs carry milliseconds at most).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from rules.engine_types import BatchData, Event, EventRows, Reading
from rules.keystate import KeyState
from rules.models import DeviceContext, SeriesArrays

Conn = psycopg.Connection[Any]

MS: Final = "floor(extract(epoch FROM {col}) * 1000)::bigint"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# Any constant works; every rules process on one database takes it per transaction, so two
# rules roles never evaluate the same key at once (state is read, evaluated and written back).
RULES_LOCK: Final = 0x52554C45  # "RULE"


def ms_to_dt(ms: int) -> datetime:
    """Return Unix ms as an aware UTC datetime (before 1970 is clamped to the epoch)."""
    return _EPOCH + timedelta(milliseconds=max(ms, 0))


def dt_to_ms(dt: datetime) -> int:
    """Return an aware datetime as Unix ms."""
    return (dt - _EPOCH) // timedelta(milliseconds=1)


def lock_rules(conn: Conn) -> None:
    """Take the rules lock for the current transaction."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (RULES_LOCK,))


def pending_batches(conn: Conn, *, limit: int) -> list[int]:
    """Return committed batches the rules have not processed, oldest first."""
    rows = conn.execute(
        "SELECT batch_id FROM ingest_batches WHERE NOT rules_done ORDER BY batch_id LIMIT %s",
        (limit,),
    ).fetchall()
    return [int(r[0]) for r in rows]


def claim_batch(conn: Conn, *, batch_id: int) -> bool:
    """Lock a batch's row in this transaction; False when it was processed meanwhile."""
    row = conn.execute(
        "SELECT rules_done FROM ingest_batches WHERE batch_id = %s FOR UPDATE", (batch_id,)
    ).fetchone()
    return row is not None and not row[0]


def mark_done(conn: Conn, *, batch_id: int) -> None:
    """Mark a batch processed, in the transaction that applied its hazards."""
    conn.execute("UPDATE ingest_batches SET rules_done = true WHERE batch_id = %s", (batch_id,))


def load_batch(conn: Conn, *, batch_id: int) -> BatchData:
    """Return a batch's readings and events in (device, metric/type, ts, seq) order."""
    readings: list[Reading] = [
        (str(d), str(m), int(t), float(v), int(s))
        for d, m, t, v, s in conn.execute(
            f"SELECT device_id, metric, {MS.format(col='ts')}, value, seq FROM readings "
            "WHERE batch_id = %s ORDER BY device_id, metric, ts, seq",
            (batch_id,),
        ).fetchall()
    ]
    events: list[Event] = [
        (str(d), str(ty), int(t), int(s))
        for d, ty, t, s in conn.execute(
            f"SELECT device_id, type, {MS.format(col='ts')}, seq FROM device_events "
            "WHERE batch_id = %s ORDER BY device_id, ts, seq",
            (batch_id,),
        ).fetchall()
    ]
    return BatchData(batch_id, readings, events)


def load_range(conn: Conn, *, start: datetime, end: datetime) -> list[BatchData]:
    """Return stored batches' samples with start <= ts < end, per batch in batch order."""
    out: dict[int, tuple[list[Reading], list[Event]]] = {}
    for b, d, m, t, v, s in conn.execute(
        f"SELECT batch_id, device_id, metric, {MS.format(col='ts')}, value, seq FROM readings "
        "WHERE ts >= %s AND ts < %s ORDER BY batch_id, device_id, metric, ts, seq",
        (start, end),
    ):
        out.setdefault(int(b), ([], []))[0].append((str(d), str(m), int(t), float(v), int(s)))
    for b, d, ty, t, s in conn.execute(
        f"SELECT batch_id, device_id, type, {MS.format(col='ts')}, seq FROM device_events "
        "WHERE ts >= %s AND ts < %s ORDER BY batch_id, device_id, ts, seq",
        (start, end),
    ):
        out.setdefault(int(b), ([], []))[1].append((str(d), str(ty), int(t), int(s)))
    return [BatchData(b, r, e) for b, (r, e) in sorted(out.items())]


def load_contexts(conn: Conn, *, device_ids: Sequence[str]) -> dict[str, DeviceContext]:
    """Return the registry context of the given devices (unknown IDs are left out)."""
    rows = conn.execute(
        "SELECT device_id, kind, model, unit_id, hydrant_class, agent, thresholds "
        "FROM devices WHERE device_id = ANY(%s)",
        (list(device_ids),),
    ).fetchall()
    return {
        r[0]: DeviceContext(
            r[0], r[1], r[2], r[3], r[4], r[5], {k: float(v) for k, v in (r[6] or {}).items()}
        )
        for r in rows
    }


def batch_fix_ranges(conn: Conn, *, batch_id: int) -> list[tuple[str, datetime, datetime]]:
    """Return (terminal, first ts, last ts) of the fixes a batch stored."""
    rows = conn.execute(
        "SELECT terminal_id, min(ts), max(ts) FROM fixes WHERE batch_id = %s GROUP BY 1",
        (batch_id,),
    ).fetchall()
    return [(str(t), lo, hi) for t, lo, hi in rows]


class DbStateStore:
    """Rule state in ``rule_state``, written in the caller's transaction."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    def load(self, rule_id: str, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Return the stored JSON of the keys that have state."""
        rows = self.conn.execute(
            "SELECT key, state FROM rule_state WHERE rule_id = %s AND key = ANY(%s)",
            (rule_id, list(keys)),
        ).fetchall()
        return {str(k): dict(s) for k, s in rows}

    def save(self, rule_id: str, states: Mapping[str, KeyState]) -> None:
        """Upsert the keys' states."""
        if not states:
            return
        keys = sorted(states)
        self.conn.execute(
            """
            INSERT INTO rule_state AS r (rule_id, key, last_ts, state)
            SELECT %s, u.k, u.t, j.s
            FROM unnest(%s::text[], %s::bigint[]) WITH ORDINALITY AS u(k, t, i)
            JOIN jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS j(s, i) USING (i)
            ON CONFLICT (rule_id, key) DO UPDATE SET
                last_ts = excluded.last_ts, state = excluded.state, updated_at = now()
            """,
            # One jsonb array, not jsonb[]: quoting thousands of array elements costs more
            # than the whole evaluation.
            (
                rule_id,
                keys,
                [states[k].state.last_ts for k in keys],
                Jsonb([states[k].to_json() for k in keys]),
            ),
        )

    def too_late(
        self, rule_id: str, key: str, rows: Sequence[tuple[str, int, int]], batch_id: int
    ) -> None:
        """Record samples refused as too late (once each)."""
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO rule_too_late (rule_id, key, device_id, ts, seq, batch_id) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(rule_id, key, d, ms_to_dt(t), s, batch_id) for d, t, s in rows],
            )


class DbHistory:
    """Stored samples for replays: batches already processed plus the current one.

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
            return (
                f"EXISTS (SELECT 1 FROM ingest_batches b WHERE b.batch_id = {alias}.batch_id "
                f"AND (b.rules_done OR b.batch_id = %s))",
                [self.batch_id],
            )
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
