"""The rules role: process committed batches exactly once, run ticks, reload the rules file.

``RulesService`` is usable in-process (tests call ``process_pending()`` and ``tick(now)``) and
as the role's thread (``start``/``stop``): the process's event-log listener wakes it
(``infra.listener``) and it polls every ``poll_s`` as a fallback.

Exactly once: the rules consume ``batch.committed`` events through their cursor in the event
log (``RULES_CONSUMER``). Each batch is evaluated in ONE transaction that takes the rules lock,
claims the next event under the cursor's row lock, writes hazards, hazard events, rule state and
patrol segments, and advances the cursor. A crash before the commit leaves the cursor before the
batch with nothing of it written; after the commit it is never claimed again.

``replay`` (in ``rules.replay``, re-exported here) runs the same engine and ticks over stored
history with fresh in-memory state and an in-memory sink: it writes nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from prometheus_client import Counter

from grids.locator import GridLocator
from hazards.lifecycle import HazardSink
from hazards.places import place_with_current_grids
from hazards.sink import DbSink
from infra.clock import SYSTEM_CLOCK, Clock
from infra.database import Conn
from infra.listener import Wakeup, shared
from infra.roles import RoleHealth, RoleState, pending_age_s
from patrols.service import rebuild_segments
from rules.config import RulesSettings
from rules.engine.core import Engine
from rules.engine.service import (
    RULES_CONSUMER,
    DbHistory,
    batch_fix_ranges,
    load_batch,
    load_contexts,
    locate_batch_reports,
    lock_rules,
)
from rules.engine.state import DbStateStore, StateCache
from rules.engine.types import BatchStats, EngineConfig
from rules.health import oldest_pending_batch
from rules.replay import MemoryStateStore, replay
from rules.rules_file import RulesFile
from rules.ticks import TICKS

__all__ = ["MemoryStateStore", "RulesService", "engine_config", "replay"]

log = logging.getLogger(__name__)

SinkFactory = Callable[[Conn, GridLocator], HazardSink]
# When the oldest item the role has not processed was committed (None: nothing pending).
PendingSince = Callable[[Conn], datetime | None]

# Called in a batch's transaction after its effects, before the cursor moves and it commits:
# where a test stops (or kills) the role to prove the two commit together.
BeforeCommit = Callable[[Conn, int], None]

BATCHES = Counter("firegrid_rules_batches", "Ingest batches the rules evaluated")
TRANSITIONS = Counter("firegrid_rules_transitions", "Hazard transitions the rules raised")
TOO_LATE = Counter("firegrid_rules_too_late", "Samples too late to evaluate")
RULE_ERRORS = Counter("firegrid_rules_errors", "Rule evaluations that raised")
RULE_FAILURES = Counter(
    "firegrid_rule_failures",
    "Rule evaluations that raised (their batch's effects dropped), per rule",
    ["rule"],
)


def engine_config(settings: RulesSettings) -> EngineConfig:
    """Return the engine's config from the settings section."""
    return EngineConfig(
        late_window_ms=round(settings.late_window_s * 1000),
        checkpoint_every_ms=round(settings.checkpoint_every_s * 1000),
        flap_count=settings.flap_count,
        flap_window_ms=round(settings.flap_window_s * 1000),
        rejudge_days=settings.rejudge_days,
        rejudge_settle_ms=round(settings.rejudge_settle_s * 1000),
    )


def _db_sink(conn: Conn, locator: GridLocator) -> HazardSink:
    return DbSink(conn, locator=locator)


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
        for rule_id in s.failed_rules:
            RULE_FAILURES.labels(rule=rule_id).inc()


class RulesService:
    """The rules role over one database."""

    name = "rules"

    def __init__(
        self,
        *,
        db_url: str,
        settings: RulesSettings | None = None,
        clock: Clock = SYSTEM_CLOCK,
        sink_factory: SinkFactory = _db_sink,
        oldest_pending: PendingSince | None = oldest_pending_batch,
        before_commit: BeforeCommit | None = None,
    ) -> None:
        self.db_url = db_url
        self.settings = settings or RulesSettings()
        self.clock = clock
        self.sink_factory = sink_factory
        self.before_commit = before_commit
        self.blocked = False  # the log has a gap that may still fill: look again soon
        self.rules_file = RulesFile(self.settings.path)
        self.engine = Engine(self.rules_file.current, engine_config(self.settings))
        self.locator = GridLocator(connect=lambda: psycopg.connect(db_url, autocommit=True))
        self.stats = ServiceStats()
        self.cache = StateCache()
        self._conn: Conn | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # The role's health, written by its thread and read by the supervisor and /healthz.
        self._oldest_pending = oldest_pending
        self._health_lock = threading.Lock()
        self._state: RoleState = "starting"
        self._detail = ""
        self._lag_measured = False
        self._pending_since: datetime | None = None

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
            evaluated, moved = self.process_next()
            done += evaluated
            if not moved:
                break
        return done

    def process_next(self) -> tuple[bool, bool]:
        """Evaluate the next committed batch in one transaction with the cursor's move.

        Returns (a batch was evaluated, the cursor moved): events of other kinds before the
        batch are passed in the same transaction, and with no batch left the cursor still
        moves past them.
        """
        conn = self.conn
        store = DbStateStore(conn, self.cache)
        stats: BatchStats | None = None
        try:
            with conn.transaction():
                lock_rules(conn)
                claim = RULES_CONSUMER.claim(conn, limit=1)
                self.blocked = claim.blocked
                if claim.events:
                    batch_id = int(claim.events[0].payload["batch_id"])
                    place_with_current_grids(conn, locator=self.locator)
                    store.begin()
                    stats = self._evaluate(conn, store, batch_id)
                    if self.before_commit is not None:
                        self.before_commit(conn, batch_id)
                if claim.moved:
                    RULES_CONSUMER.advance(conn, claim.upto)
        except BaseException:
            self.cache.clear()  # the cache may hold nothing the database does not
            raise
        if stats is not None:
            store.committed()
            self.stats.add(stats)
        return stats is not None, claim.moved

    def _evaluate(self, conn: Conn, store: DbStateStore, batch_id: int) -> BatchStats:
        data = load_batch(conn, batch_id=batch_id)
        reports = locate_batch_reports(conn, batch_id=batch_id, locator=self.locator)
        stats = self.engine.run_batch(
            data,
            contexts=load_contexts(conn, device_ids=data.device_ids(), known=self.engine.context),
            store=store,
            history=DbHistory(conn, batch_id=batch_id),
            sink=self.sink_factory(conn, self.locator),
            reports=reports,
        )
        for terminal, since, until in batch_fix_ranges(conn, batch_id=batch_id):
            rebuild_segments(
                conn, terminal_id=terminal, since=since, until=until, locator=self.locator
            )
        return stats

    def tick(self, now: datetime, *, which: Sequence[str] = tuple(TICKS)) -> int:
        """Run the clock-driven rules at ``now``; return the transitions they raised."""
        raised = 0
        conn = self.conn
        for name in which:
            store = DbStateStore(conn, self.cache)
            try:
                with conn.transaction():
                    lock_rules(conn)
                    place_with_current_grids(conn, locator=self.locator)
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
        with self._health_lock:
            if self._state != "failed":
                self._state, self._detail = "stopped", ""

    def health(self) -> RoleHealth:
        """Return the thread's state and lag: degraded while the database is away (it retries),
        failed after an unexpected error (the thread has ended; the supervisor restarts it)."""
        with self._health_lock:
            state, detail = self._state, self._detail
            measured, since = self._lag_measured, self._pending_since
        thread = self._thread
        if state not in {"failed", "stopped"} and thread is not None and not thread.is_alive():
            state, detail = "failed", "its thread ended"
        lag = None
        if measured:
            lag = pending_age_s(since, self.clock.now())
        return RoleHealth(state, lag, detail)

    def _set_state(self, state: RoleState, detail: str = "") -> None:
        with self._health_lock:
            self._state, self._detail = state, detail

    def _measure_lag(self) -> None:
        if self._oldest_pending is None:
            return
        since = self._oldest_pending(self.conn)
        with self._health_lock:
            self._lag_measured, self._pending_since = True, since

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:
            # Not the database (that retries in place): a bug or a broken rules engine. End the
            # thread as failed, so the supervisor replaces the role with fresh state.
            log.exception("rules role failed")
            self._set_state("failed", f"{type(exc).__name__}: {exc}")

    def _loop(self) -> None:
        due: dict[str, float] = {}
        every = {
            "silence": self.settings.silence_every_s,
            "dates": self.settings.daily_every_s,
            "patrols": self.settings.daily_every_s,
        }
        # The process's one LISTEN connection on the event log wakes this thread.
        wake: Wakeup = shared(self.db_url).wakeup()
        try:
            while not self._stop.is_set():
                try:
                    self._measure_lag()
                    self._set_state("running")
                    self.reload_rules()
                    self.process_pending()
                    self._measure_lag()
                    now = time.monotonic()
                    ready = [n for n in TICKS if due.get(n, 0.0) <= now]
                    if ready:
                        self.tick(self.clock.now(), which=ready)
                        for n in ready:
                            due[n] = now + every[n]
                    # Wakes at the first notification or after poll_s; soon while a gap may fill.
                    wake.wait(0.02 if self.blocked else self.settings.poll_s)
                except psycopg.Error as exc:
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                    if self.health().state == "degraded":  # one traceback per outage, not per try
                        log.warning("rules role: database error, retrying: %s", first)
                    else:
                        log.exception("rules role: database error; retrying")
                    self._set_state("degraded", f"database: {first}")
                    self.close()
                    self._stop.wait(self.settings.poll_s)
        finally:
            wake.close()
