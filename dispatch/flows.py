"""The ``dispatch`` role: hazards open or join cases; terminals' case actions are applied.

A durable consumer ``dispatch`` of the event log reads ``hazard.opened`` (each hazard once) and
``batch.committed`` (the case actions ingest stored with the batch, ``terminal_case_actions``).
Each claim is ONE transaction with its effects (cases, history, case events) and the cursor's
advance: a crash before the commit leaves both as they were, after it neither is redone. One
event that raises is logged and passed (in its own savepoint), so a bad row never stops the
role; the database going away is retried in place (degraded).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import psycopg
from prometheus_client import Counter
from pydantic import ValidationError

from dispatch import service
from dispatch.actions import ActionOutcome, apply_action
from dispatch.assign import staff_by_terminal
from dispatch.case_rules import CaseRules, load_case_rules
from dispatch.config import DispatchSettings
from dispatch.models import CaseAction, Deadlines
from dispatch.opening import Opened, open_or_join
from dispatch.sweep import SweepStats, sweep
from dispatch.wallclock import WallClockDeadlines
from infra.clock import SYSTEM_CLOCK, Clock
from infra.database import Conn
from infra.eventlog import Consumer, Event, oldest_pending
from infra.log_driven_role import LogDrivenRole
from infra.roles import pending_age_s

__all__ = ["CONSUMER", "DispatchService", "DispatchStats"]

log = logging.getLogger(__name__)

CONSUMER: Final = Consumer("dispatch", kinds={"hazard.opened", "batch.committed"})

CASES_OPENED = Counter("firegrid_dispatch_cases_opened", "Cases hazards opened")
HAZARDS_JOINED = Counter("firegrid_dispatch_hazards_joined", "Hazards that joined an open case")
ACTIONS = Counter(
    "firegrid_dispatch_actions", "Terminal case actions applied or refused", ["status"]
)
EVENT_ERRORS = Counter("firegrid_dispatch_event_errors", "Log events whose handling raised")


@dataclass
class DispatchStats:
    """Totals since start."""

    opened: int = 0
    joined: int = 0
    actions: list[ActionOutcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class DispatchService(LogDrivenRole):
    """The dispatch role over one database; ``process_pending`` runs it in-process (tests)."""

    def __init__(
        self,
        *,
        db_url: str,
        settings: DispatchSettings | None = None,
        clock: Clock = SYSTEM_CLOCK,
        deadlines: Deadlines | None = None,
        rules: CaseRules | None = None,
    ) -> None:
        self.settings = settings or DispatchSettings()
        super().__init__("dispatch", db_url=db_url, poll_s=self.settings.poll_s)
        self.clock = clock
        # Engineer Z's working-time DeadlineTable is the production one; wall clock until wired.
        self.deadlines: Deadlines = deadlines or WallClockDeadlines()
        self.rules = rules or load_case_rules(self.settings.case_rules)
        self.stats = DispatchStats()
        # When the oldest unhandled event was appended, measured by the loop (health is no I/O).
        self._lag_lock = threading.Lock()
        self._lag_measured = False
        self._pending_since: datetime | None = None
        self._last_sweep = float("-inf")  # monotonic: the sweep's cadence is the machine's
        # Tests: called after a sweep batch's effects, before its commit (the kill test).
        self.sweep_hook: Callable[[], None] | None = None

    def process_pending(self) -> int:
        """Handle every pending event; return how many were handled."""
        done = 0
        while True:
            handled, moved = self.process_next()
            done += handled
            if not moved:
                return done

    def process_next(self) -> tuple[int, bool]:
        """Handle the next claim of events in one transaction with the cursor's advance.

        Returns (events handled, the cursor moved).
        """
        conn = self.conn
        with conn.transaction():
            claim = CONSUMER.claim(conn, limit=self.settings.events_per_tx)
            self.blocked = claim.blocked
            for event in claim.events:
                self._handle_isolated(conn, event)
            if claim.moved:
                CONSUMER.advance(conn, claim.upto)
        return len(claim.events), claim.moved

    def _handle_isolated(self, conn: Conn, event: Event) -> None:
        try:
            with conn.transaction():  # a savepoint: a failing event leaves no half effects
                self._handle(conn, event)
        except psycopg.OperationalError:
            raise  # the database is away: the whole claim is retried
        except Exception as exc:
            log.exception("dispatch: event %s (%s) failed; passed", event.id, event.kind)
            EVENT_ERRORS.inc()
            self.stats.errors.append(f"{event.id}: {type(exc).__name__}: {exc}")

    def _handle(self, conn: Conn, event: Event) -> None:
        now = self.clock.now()
        if event.kind == "hazard.opened":
            opened = self._open(conn, event.payload.get("hazard") or {})
            if opened.outcome == "opened":
                self.stats.opened += 1
                CASES_OPENED.inc()
            elif opened.outcome == "joined":
                self.stats.joined += 1
                HAZARDS_JOINED.inc()
            return
        batch_id = int(event.payload["batch_id"])
        for terminal_id, doc in service.batch_case_actions(conn, batch_id=batch_id):
            self._terminal_action(conn, terminal_id, doc, now=now)

    def _open(self, conn: Conn, hazard: Mapping[str, Any]) -> Opened:
        return open_or_join(
            conn,
            hazard=hazard,
            rules=self.rules,
            deadlines=self.deadlines,
            settings=self.settings,
            now=self.clock.now(),
        )

    def _terminal_action(
        self, conn: Conn, terminal_id: str, doc: Mapping[str, Any], *, now: datetime
    ) -> None:
        try:
            action = CaseAction.model_validate(doc)
        except ValidationError:
            # The codec checked it; a row that no longer validates is a bug, logged and passed.
            log.exception("dispatch: stored case action from %s is not valid", terminal_id)
            return
        outcome = apply_action(
            conn,
            action=action,
            actor=staff_by_terminal(conn, terminal_id=terminal_id),
            deadlines=self.deadlines,
            settings=self.settings,
            now=now,
            terminal_id=terminal_id,
            announce_refusal=True,
        )
        self.stats.actions.append(outcome)
        ACTIONS.labels(status=outcome.status).inc()

    def sweep(self, now: datetime | None = None) -> SweepStats:
        """Send the reminders and escalations due at ``now`` (default: the role's clock)."""
        return sweep(
            self.conn,
            now=self.clock.now() if now is None else now,
            deadlines=self.deadlines,
            settings=self.settings,
            before_commit=self.sweep_hook,
        )

    def _sweep_when_due(self) -> None:
        if time.monotonic() - self._last_sweep >= self.settings.sweep_s:
            self.sweep()
            self._last_sweep = time.monotonic()

    # ---- the role's thread --------------------------------------------------------------

    def lag_s(self) -> float | None:
        """Return how old the oldest event the role has not handled is (None: not measured)."""
        with self._lag_lock:
            measured, since = self._lag_measured, self._pending_since
        if not measured:
            return None
        return pending_age_s(since, self.clock.now())

    def _measure_lag(self) -> None:
        since = oldest_pending(self.conn, consumer=CONSUMER.name, kinds=CONSUMER.kinds)
        with self._lag_lock:
            self._lag_measured, self._pending_since = True, since

    def round(self) -> None:
        """Handle the pending events, sweep when due, measure the lag."""
        self.process_pending()
        self._sweep_when_due()
        self._measure_lag()
        self.set_state("running")
