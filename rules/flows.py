"""The rules role: process committed batches exactly once, run ticks, reload the rules file.

``RulesService`` is usable in-process (tests call ``process_pending()`` and ``tick(now)``) and
as the role's thread (``start``/``stop``): it LISTENs on ``firegrid_batches`` and polls every
``poll_s`` as a fallback, since a NOTIFY sent while it was down is never delivered.

Exactly once: each batch is evaluated in ONE transaction that takes the rules lock, re-checks
the batch's ``rules_done`` flag under a row lock, writes hazards, hazard events, rule state and
patrol segments, and sets the flag. A crash before the commit leaves the batch pending with
nothing of it written; after the commit it is never picked again.

``replay`` runs the same engine over stored history with fresh in-memory state and an
in-memory sink: it writes nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from prometheus_client import Counter

from rules.config import RulesSettings
from rules.definitions import RuleSet, RulesFile
from rules.engine import Engine
from rules.engine_service import (
    DbHistory,
    batch_fix_ranges,
    claim_batch,
    load_batch,
    load_contexts,
    load_range,
    load_range_reports,
    locate_batch_reports,
    lock_rules,
    mark_done,
    pending_batches,
)
from rules.engine_state import DbStateStore, StateCache
from rules.engine_types import BatchData, BatchStats, EngineConfig, EventRows
from rules.grid_locator import GridLocator
from rules.hazard_service import DbSink
from rules.hazards import HazardRecord, HazardSink, InMemorySink
from rules.keystate import KeyState
from rules.models import RuleState, SeriesArrays
from rules.patrol_service import rebuild_segments
from rules.ticks import TICKS

log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]
SinkFactory = Callable[[Conn, GridLocator], HazardSink]

BATCHES = Counter("firegrid_rules_batches", "Ingest batches the rules evaluated")
TRANSITIONS = Counter("firegrid_rules_transitions", "Hazard transitions the rules raised")
TOO_LATE = Counter("firegrid_rules_too_late", "Samples too late to evaluate")
RULE_ERRORS = Counter("firegrid_rules_errors", "Rule evaluations that raised")


def engine_config(settings: RulesSettings) -> EngineConfig:
    """Return the engine's config from the settings section."""
    return EngineConfig(
        late_window_ms=round(settings.late_window_s * 1000),
        checkpoint_every_ms=round(settings.checkpoint_every_s * 1000),
        flap_count=settings.flap_count,
        flap_window_ms=round(settings.flap_window_s * 1000),
    )


def _db_sink(conn: Conn, locator: GridLocator) -> HazardSink:
    return DbSink(conn, locator=locator)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class ServiceStats:
    """Totals since start (also exported as Prometheus counters)."""

    batches: int = 0
    transitions: int = 0
    too_late: int = 0
    replays: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, s: BatchStats) -> None:
        """Add one batch's numbers."""
        self.batches += 1
        self.transitions += s.transitions
        self.too_late += s.too_late
        self.replays += s.replays
        self.errors += s.errors
        BATCHES.inc()
        TRANSITIONS.inc(s.transitions)
        TOO_LATE.inc(s.too_late)
        RULE_ERRORS.inc(len(s.errors))


class RulesService:
    """The rules role over one database."""

    def __init__(
        self,
        *,
        db_url: str,
        settings: RulesSettings | None = None,
        clock: Callable[[], datetime] = _utcnow,
        sink_factory: SinkFactory = _db_sink,
    ) -> None:
        self.db_url = db_url
        self.settings = settings or RulesSettings()
        self.clock = clock
        self.sink_factory = sink_factory
        self.rules_file = RulesFile(self.settings.path)
        self.engine = Engine(self.rules_file.current, engine_config(self.settings))
        self.locator = GridLocator(connect=lambda: psycopg.connect(db_url, autocommit=True))
        self.stats = ServiceStats()
        self.cache = StateCache()
        self._conn: Conn | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- in-process API ---------------------------------------------------------------

    @property
    def conn(self) -> Conn:
        """Return the service's connection (autocommit; each unit of work is a transaction)."""
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.db_url, autocommit=True)
        return self._conn

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()

    def reload_rules(self) -> bool:
        """Reload the rules file if it changed; return whether the rule set changed."""
        result = self.rules_file.check()
        for problem in result.errors:
            log.error("rules file refused, keeping the last good one: %s", problem)
        if result.changed:
            self.engine.set_rules(self.rules_file.current)
            log.info("rules reloaded from %s", self.settings.path)
        return result.changed

    def process_pending(self, *, limit: int | None = None) -> int:
        """Process every committed batch not yet processed (at most ``limit``); return how many."""
        done = 0
        while limit is None or done < limit:
            want = self.settings.max_batches_per_round
            ids = pending_batches(self.conn, limit=want if limit is None else min(want, limit))
            if not ids:
                break
            done += sum(self.process_batch(b) for b in ids)
            if len(ids) < want:
                break
        return done

    def process_batch(self, batch_id: int) -> bool:
        """Evaluate one batch in one transaction; False when it was already processed."""
        conn = self.conn
        store = DbStateStore(conn, self.cache)
        try:
            with conn.transaction():
                lock_rules(conn)
                if not claim_batch(conn, batch_id=batch_id):
                    return False
                store.begin()
                data = load_batch(conn, batch_id=batch_id)
                reports = locate_batch_reports(conn, batch_id=batch_id, locator=self.locator)
                stats = self.engine.run_batch(
                    data,
                    contexts=load_contexts(
                        conn, device_ids=data.device_ids(), known=self.engine.context
                    ),
                    store=store,
                    history=DbHistory(conn, batch_id=batch_id),
                    sink=self.sink_factory(conn, self.locator),
                    reports=reports,
                )
                for terminal, since, until in batch_fix_ranges(conn, batch_id=batch_id):
                    rebuild_segments(
                        conn, terminal_id=terminal, since=since, until=until, locator=self.locator
                    )
                mark_done(conn, batch_id=batch_id)
        except BaseException:
            self.cache.clear()  # the cache may hold nothing the database does not
            raise
        store.committed()
        self.stats.add(stats)
        return True

    def tick(self, now: datetime, *, which: Sequence[str] = tuple(TICKS)) -> int:
        """Run the clock-driven rules at ``now``; return the transitions they raised."""
        raised = 0
        conn = self.conn
        for name in which:
            store = DbStateStore(conn, self.cache)
            try:
                with conn.transaction():
                    lock_rules(conn)
                    store.begin()
                    raised += len(
                        TICKS[name](
                            conn,
                            self.engine,
                            now=now,
                            store=store,
                            sink=self.sink_factory(conn, self.locator),
                        )
                    )
            except BaseException:
                self.cache.clear()
                raise
            store.committed()
        return raised

    # ---- the role's thread ------------------------------------------------------------

    def start(self) -> None:
        """Run the role in a thread until ``stop``."""
        self._thread = threading.Thread(target=self._run, name="rules", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread and close the connection."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.close()

    def _run(self) -> None:
        due: dict[str, float] = {}
        every = {
            "silence": self.settings.silence_every_s,
            "dates": self.settings.daily_every_s,
            "patrols": self.settings.daily_every_s,
        }
        listen: Conn | None = None
        while not self._stop.is_set():
            try:
                if listen is None or listen.closed:
                    listen = psycopg.connect(self.db_url, autocommit=True)
                    listen.execute("LISTEN firegrid_batches")
                self.reload_rules()
                self.process_pending()
                now = time.monotonic()
                ready = [n for n in TICKS if due.get(n, 0.0) <= now]
                if ready:
                    self.tick(self.clock(), which=ready)
                    for n in ready:
                        due[n] = now + every[n]
                # Wakes at the first NOTIFY or after poll_s, whichever comes first.
                for _ in listen.notifies(timeout=self.settings.poll_s, stop_after=1):
                    break
            except psycopg.Error:
                log.exception("rules role: database error; retrying")
                if listen is not None:
                    listen.close()
                self.close()
                self._stop.wait(self.settings.poll_s)
        if listen is not None:
            listen.close()


# ---- replay -------------------------------------------------------------------------------


class MemoryStateStore:
    """Rule state in memory, for replays; too-late samples are remembered to exclude them."""

    def __init__(self) -> None:
        self.states: dict[tuple[str, str], KeyState] = {}
        self.excluded: set[tuple[str, str, str, int, int]] = set()

    def load(
        self, rule_id: str, kind_state: type[RuleState], keys: Sequence[str]
    ) -> dict[str, KeyState]:
        """Return copies of the states of the keys that have one."""
        del kind_state
        got = self.states
        return {k: got[rule_id, k].copy() for k in keys if (rule_id, k) in got}

    def save(self, states: Mapping[str, Mapping[str, KeyState]]) -> None:
        """Keep the keys' states (copies: the caller's may change later)."""
        for rule_id, by_key in states.items():
            for k, ks in by_key.items():
                self.states[rule_id, k] = ks.copy()

    def discard(self, rule_id: str, keys: Sequence[str]) -> None:
        """Nothing to forget: ``load`` hands out copies."""
        del rule_id, keys

    def too_late(
        self, rule_id: str, key: str, rows: Sequence[tuple[str, int, int]], batch_id: int
    ) -> None:
        """Remember refused samples."""
        del batch_id
        self.excluded.update((rule_id, key, d, t, s) for d, t, s in rows)


class _ReplayHistory(DbHistory):
    """Stored history within the replay's range, minus the replay's own too-late samples."""

    def __init__(self, conn: Conn, store: MemoryStateStore, **kw: Any) -> None:
        super().__init__(conn, replay=True, **kw)
        self.store = store

    def series(self, *, rule_id: str, key: str, after_ts: int) -> SeriesArrays:
        """Return the key's readings, excluding what this replay refused as too late."""
        s = super().series(rule_id=rule_id, key=key, after_ts=after_ts)
        device = key.split("/", 1)[0]
        keep = [
            (rule_id, key, device, t, q) not in self.store.excluded
            for t, q in zip(s.ts.tolist(), s.seq.tolist(), strict=True)
        ]
        return s.take(_mask(keep))

    def events(self, *, rule_id: str, key: str, after_ts: int) -> EventRows:
        """Return the key's events, excluding what this replay refused as too late."""
        e = super().events(rule_id=rule_id, key=key, after_ts=after_ts)
        keep = [
            (rule_id, key, d, t, q) not in self.store.excluded
            for d, t, q in zip(e.device.tolist(), e.ts.tolist(), e.seq.tolist(), strict=True)
        ]
        return e.take(_mask(keep))


def _mask(keep: list[bool]) -> npt.NDArray[np.bool_]:
    return np.asarray(keep, dtype=np.bool_)


def replay(
    *, db_url: str, start: datetime, end: datetime, rules: RuleSet, config: EngineConfig
) -> list[HazardRecord]:
    """Evaluate stored batches with device times in [start, end) afresh; return the hazards."""
    engine = Engine(rules, config)
    sink = InMemorySink()
    store = MemoryStateStore()
    with psycopg.connect(db_url) as conn:
        conn.read_only = True
        batches = {b.batch_id: b for b in load_range(conn, start=start, end=end)}
        reports = load_range_reports(conn, start=start, end=end)
        for batch_id in sorted(batches.keys() | reports.keys()):
            batch = batches.get(batch_id) or BatchData(batch_id)
            history = _ReplayHistory(conn, store, batch_id=batch_id, start=start, end=end)
            engine.run_batch(
                batch,
                contexts=load_contexts(conn, device_ids=batch.device_ids()),
                store=store,
                history=history,
                sink=sink,
                reports=reports.get(batch_id, ()),
            )
        conn.rollback()
    return sink.hazards()
