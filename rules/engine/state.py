"""Rule state in the database, read through an in-memory cache that a generation validates.

The engine saves the state of every key a batch touched (tens of thousands of keys a batch), so
this is the engine's widest write: rows go by binary COPY into a temporary table, then one
UPDATE (only the parts that changed: most batches move the kind's state alone) and one INSERT.
Between batches the states stay in memory (``StateCache``), so the common path reads nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from devices.timefmt import ms_to_dt
from infra.database import Conn
from rules.engine.keystate import KeyState
from rules.exceptions import RulesError
from rules.models import RuleState


class StateCache:
    """Committed rule state kept in memory between transactions, per rule ID and key.

    Valid while ``rule_state_generation`` holds the generation it last saw: every statement on
    ``rule_state`` bumps it (a trigger), so state written by another process or by hand makes
    the next transaction start from the database again. The engine works on the cached objects
    themselves (no copy per key and batch): a failed transaction clears the cache, a failed
    rule evicts its keys. Past ``max_keys`` keys the least recently saved half goes.
    """

    def __init__(self, *, max_keys: int = 2_000_000) -> None:
        self.max_keys = max_keys
        self.generation: int | None = None
        self.rules: dict[str, dict[str, KeyState]] = {}

    def begin(self, conn: Conn) -> int | None:
        """Check the cache at a transaction's start and return the database's generation.

        The row lock holds off other writers of ``rule_state`` until the transaction ends.
        """
        row = conn.execute("SELECT generation FROM rule_state_generation FOR UPDATE").fetchone()
        if row is None or row[0] != self.generation:
            self.clear()
        self.generation = None  # unknown until this transaction commits
        return None if row is None else int(row[0])

    def clear(self) -> None:
        """Forget everything (a transaction failed, or the database moved on)."""
        self.rules.clear()
        self.generation = None

    def committed(self, saved: Mapping[str, Mapping[str, KeyState]], generation: int) -> None:
        """Take a committed transaction's states and the generation they left."""
        for rule_id, by_key in saved.items():
            cached = self.rules.setdefault(rule_id, {})
            for key, ks in by_key.items():
                cached.pop(key, None)  # re-inserted at the end: the dict's order is recency
                cached[key] = ks
        if sum(len(c) for c in self.rules.values()) > self.max_keys:
            for cached in self.rules.values():
                for key in list(cached)[: len(cached) // 2]:
                    del cached[key]
        self.generation = generation


_COLUMNS: Final = ("state", "checkpoints", "emitted", "flap")
# Per session; its rows go at commit, and ``save`` empties it for a second save in one transaction.
_STAGING: Final = """
CREATE TEMP TABLE IF NOT EXISTS rule_state_in (
    rule_id text, key text, stored bool, last_ts bigint, state text, checkpoints text,
    emitted text, flap text
) ON COMMIT DELETE ROWS
"""


class DbStateStore:
    """Rule state in ``rule_state``, written in the caller's transaction, read through a cache.

    Give it a ``StateCache`` and call ``begin`` once the rules lock is held; after the
    transaction commits, ``committed`` hands the saved states to the cache.
    """

    def __init__(self, conn: Conn, cache: StateCache | None = None) -> None:
        self.conn = conn
        self.cache = cache if cache is not None else StateCache()
        self._saved: dict[str, dict[str, KeyState]] = {}
        self._generation: int | None = None

    def begin(self) -> None:
        """Check the cache against the database's generation."""
        self._generation = self.cache.begin(self.conn)

    def load(
        self, rule_id: str, kind_state: type[RuleState], keys: Sequence[str]
    ) -> dict[str, KeyState]:
        """Return the keys' states, from the cache or the database (the caller may change them)."""
        cached = self.cache.rules.get(rule_id, {})
        out: dict[str, KeyState] = {}
        missing: list[str] = []
        for k in keys:
            ks = cached.get(k)
            if ks is None:
                missing.append(k)
            else:
                out[k] = ks
        if missing:
            rows = self.conn.execute(
                "SELECT key, state::text, checkpoints::text, emitted::text, flap::text "
                "FROM rule_state WHERE rule_id = %s AND key = ANY(%b)",
                (rule_id, missing),
            ).fetchall()
            for key, state, ck, em, fl in rows:
                out[key] = KeyState.from_columns(
                    kind_state, state.encode(), ck.encode(), em.encode(), fl.encode()
                )
        return out

    def discard(self, rule_id: str, keys: Sequence[str]) -> None:
        """Forget cached keys whose state a failed evaluation may have half changed."""
        cached = self.cache.rules.get(rule_id, {})
        for k in keys:
            cached.pop(k, None)

    def save(self, states: Mapping[str, Mapping[str, KeyState]]) -> None:
        """Write the keys' states: changed parts of stored keys, whole rows of new ones.

        The rows go to a temporary table by binary COPY (tens of thousands of keys a batch:
        array parameters are dumped in Python, COPY rows in C), then one UPDATE and one INSERT.
        """
        stored = total = 0
        conn = self.conn
        conn.execute(_STAGING)
        with conn.cursor().copy(
            "COPY rule_state_in (rule_id, key, stored, last_ts, state, checkpoints, emitted, flap)"
            " FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["text", "text", "bool", "int8", "text", "text", "text", "text"])
            write = copy.write_row
            for rule_id, by_key in states.items():
                for key, ks in by_key.items():
                    total += 1
                    stored += ks.has_row
                    write(
                        (
                            rule_id,
                            key,
                            ks.has_row,
                            ks.state.last_ts,
                            *[
                                ks.column_json(p).decode() if ks.changed(p) else None
                                for p in _COLUMNS
                            ],
                        )
                        if ks.dirty()
                        # The common case: only the kind's state moved.
                        else (
                            rule_id,
                            key,
                            True,
                            ks.state.last_ts,
                            ks.state_json(),
                            None,
                            None,
                            None,
                        )
                    )
        if stored:
            cur = conn.execute(
                """
                UPDATE rule_state AS r SET last_ts = u.last_ts, state = u.state::jsonb,
                    checkpoints = coalesce(u.checkpoints::jsonb, r.checkpoints),
                    emitted = coalesce(u.emitted::jsonb, r.emitted),
                    flap = coalesce(u.flap::jsonb, r.flap), updated_at = now()
                FROM rule_state_in AS u
                WHERE u.stored AND r.rule_id = u.rule_id AND r.key = u.key
                """
            )
            if cur.rowcount != stored:  # rows gone behind the cache's back: redo the batch
                self.cache.clear()
                raise RulesError("rule state changed under the cache; the batch is redone")
        if stored < total:
            conn.execute(
                """
                INSERT INTO rule_state AS r
                    (rule_id, key, last_ts, state, checkpoints, emitted, flap)
                SELECT rule_id, key, last_ts, state::jsonb, checkpoints::jsonb, emitted::jsonb,
                    flap::jsonb
                FROM rule_state_in WHERE NOT stored
                ON CONFLICT (rule_id, key) DO UPDATE SET last_ts = excluded.last_ts,
                    state = excluded.state, checkpoints = excluded.checkpoints,
                    emitted = excluded.emitted, flap = excluded.flap, updated_at = now()
                """
            )
        conn.execute("TRUNCATE rule_state_in")
        for rule_id, by_key in states.items():
            saved = self._saved.setdefault(rule_id, {})
            for key, ks in by_key.items():
                ks.mark_stored()
                saved[key] = ks
        row = conn.execute("SELECT generation FROM rule_state_generation").fetchone()
        self._generation = None if row is None else int(row[0])

    def committed(self) -> None:
        """Hand this (committed) transaction's states to the cache."""
        if self._generation is not None:
            self.cache.committed(self._saved, self._generation)

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
