"""Roles and the supervisor: every long-running part of FireGrid is a role, none runs unwatched.

A role (ingest, rules, storage maintenance, the API, an outbound publisher) starts, stops and
tells its health: a state, how far behind it is, and why. The ``Supervisor`` builds each role
from a factory, watches them all from one thread, and replaces a role that failed (its thread
died, or it says so) with a fresh one after an exponential back-off. When one role keeps failing
(``max_failures`` within ``failure_window_s``) restarting it in-process is not helping: the
supervisor stops everything and gives up, and the process exits 1 so that a service manager
starts a clean one.

States: ``starting`` (not yet doing its work), ``running``, ``degraded`` (alive and retrying
in place, e.g. while the database is away: not restarted, but not ready either), ``failed``
(will not recover by itself: the supervisor restarts it) and ``stopped``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from prometheus_client import Counter, Gauge
from pydantic import BaseModel, Field

__all__ = [
    "Role",
    "RoleFactory",
    "RoleHealth",
    "RoleState",
    "Supervisor",
    "SupervisorSettings",
    "ThreadRole",
    "pending_age_s",
]

log = logging.getLogger(__name__)

RoleState = Literal["starting", "running", "degraded", "failed", "stopped"]

ROLE_UP = Gauge("firegrid_role_up", "1 while the role is running, else 0", ["role"])
ROLE_RESTARTS = Counter("firegrid_role_restarts", "Times the supervisor replaced a role", ["role"])


@dataclass(frozen=True, slots=True)
class RoleHealth:
    """What a role says about itself; cheap to ask (no I/O)."""

    state: RoleState
    lag_s: float | None = None  # how far behind its input it is; None: not measured
    detail: str = ""

    def ready(self, *, max_lag_s: float) -> bool:
        """Tell whether the role is doing its work and is at most ``max_lag_s`` behind."""
        return self.state == "running" and (self.lag_s is None or self.lag_s <= max_lag_s)


class Role(Protocol):
    """A unit the supervisor runs: started once, stopped once, asked for health in between."""

    @property
    def name(self) -> str:
        """Return the role's name (``ingest``, ``rules``, ...)."""
        ...

    def start(self) -> None:
        """Start the role's work in the background and return."""
        ...

    def stop(self) -> None:
        """Stop the role's work and release what it holds; return when it has."""
        ...

    def health(self) -> RoleHealth:
        """Return the role's health now."""
        ...


RoleFactory = Callable[[], Role]


class SupervisorSettings(BaseModel):
    """How roles are restarted, when the process gives up, and what readiness tolerates."""

    max_failures: int = Field(default=5, ge=1, description="failures of one role that end it")
    failure_window_s: float = Field(default=300.0, gt=0, description="...within this window")
    backoff_initial_s: float = Field(default=1.0, gt=0, description="first restart delay")
    backoff_max_s: float = Field(default=60.0, gt=0, description="restart delays double to this")
    check_every_s: float = Field(default=1.0, gt=0, description="how often roles are looked at")
    max_lag_s: float = Field(
        default=60.0, gt=0, description="/healthz answers 503 when a role lags more than this"
    )


class ThreadRole:
    """A role whose work is one thread running ``run``; a base for the simple roles.

    ``run`` loops until ``self.stopping`` is set and reports progress with ``set_state``. An
    exception out of ``run`` (or the thread ending on its own) makes the role ``failed``.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._lock = threading.Lock()
        self._state: RoleState = "starting"
        self._detail = ""

    @property
    def name(self) -> str:
        """Return the role's name."""
        return self._name

    def start(self) -> None:
        """Start the role's thread."""
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask ``run`` to end and wait for it (at most ``timeout_s``)."""
        self.stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        with self._lock:
            if self._state != "failed":
                self._state, self._detail = "stopped", ""

    def health(self) -> RoleHealth:
        """Return the state ``run`` last set, or failed when its thread is gone."""
        with self._lock:
            state, detail = self._state, self._detail
        started = self._thread.ident is not None
        if state not in {"failed", "stopped"} and started and not self._thread.is_alive():
            return RoleHealth("failed", None, "its thread ended")
        return RoleHealth(state, self.lag_s(), detail)

    def set_state(self, state: RoleState, detail: str = "") -> None:
        """Record the role's state (called from ``run``)."""
        with self._lock:
            self._state, self._detail = state, detail

    def lag_s(self) -> float | None:
        """Return how far behind the role is; None (not measured) unless overridden."""
        return None

    def run(self) -> None:
        """Do the role's work until ``self.stopping`` is set."""
        raise NotImplementedError

    def _main(self) -> None:
        try:
            self.run()
        except Exception as exc:  # whatever it was, the role is down: say so and why
            log.exception("role %s failed", self._name)
            self.set_state("failed", f"{type(exc).__name__}: {exc}")
            return
        if not self.stopping.is_set():
            self.set_state("failed", "ended by itself")


@dataclass
class _Slot:
    """One supervised role: its factory, the instance now running, its recent failures."""

    name: str
    factory: RoleFactory
    role: Role | None = None
    failures: deque[float] = field(default_factory=deque)  # monotonic times within the window
    restart_at: float | None = None  # set while the role is down, waiting for its back-off
    last_error: str = ""


class Supervisor:
    """Starts roles from factories, restarts the ones that fail, gives up when they keep failing.

    ``on_give_up`` is called (from the supervisor's thread, after every role was stopped) with
    the reason; the composition root then ends the process with exit code 1.
    """

    def __init__(
        self,
        factories: Mapping[str, RoleFactory],
        *,
        settings: SupervisorSettings | None = None,
        on_give_up: Callable[[str], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or SupervisorSettings()
        self._slots = [_Slot(name, factory) for name, factory in factories.items()]
        self._on_give_up = on_give_up
        self._monotonic = monotonic
        self._lock = threading.Lock()  # guards the slots; never held while a role starts/stops
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self.gave_up: str | None = None

    def start(self) -> None:
        """Start every role, in the order given, then the watcher."""
        for slot in self._slots:
            self._launch(slot)
        self._thread.start()

    def stop(self) -> None:
        """Stop the watcher, then every role, newest first."""
        self._stopping.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join()
        self._stop_all()

    def health(self) -> dict[str, RoleHealth]:
        """Return every role's health by name (a role waiting for its restart is failed)."""
        now = self._monotonic()
        with self._lock:
            running = [(s.name, s.role, s.restart_at, s.last_error) for s in self._slots]
        out: dict[str, RoleHealth] = {}
        for name, role, restart_at, last_error in running:
            if role is None and (self.gave_up is not None or self._stopping.is_set()):
                out[name] = RoleHealth("stopped", None, self.gave_up or "")
            elif role is None:
                wait = max(0.0, (restart_at or now) - now)
                out[name] = RoleHealth("failed", None, f"restart in {wait:.1f}s; {last_error}")
            else:
                out[name] = _ask(role)
        return out

    def ready(self) -> bool:
        """Tell whether every role is running within the lag bound."""
        bound = self.settings.max_lag_s
        return all(h.ready(max_lag_s=bound) for h in self.health().values())

    # ---- the watcher --------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stopping.wait(self.settings.check_every_s):
            for slot in self._slots:
                if self._stopping.is_set():
                    return
                self._check(slot)
                if self.gave_up is not None:
                    self._give_up()
                    return

    def _check(self, slot: _Slot) -> None:
        now = self._monotonic()
        if slot.role is None:
            if slot.restart_at is not None and now >= slot.restart_at:
                ROLE_RESTARTS.labels(role=slot.name).inc()
                log.warning("restarting role %s", slot.name)
                self._launch(slot)
            return
        health = _ask(slot.role)
        ROLE_UP.labels(role=slot.name).set(1 if health.state == "running" else 0)
        if health.state in {"failed", "stopped"}:
            self._failed(slot, health.detail or health.state)

    def _launch(self, slot: _Slot) -> None:
        try:
            role = slot.factory()
            role.start()
        except Exception as exc:  # a role that cannot even start has failed like any other
            log.exception("role %s failed to start", slot.name)
            with self._lock:
                slot.role = None
            self._record_failure(slot, f"start: {type(exc).__name__}: {exc}")
            return
        with self._lock:
            slot.role, slot.restart_at = role, None

    def _failed(self, slot: _Slot, why: str) -> None:
        log.error("role %s failed: %s", slot.name, why)
        with self._lock:
            role, slot.role = slot.role, None
            slot.restart_at = self._monotonic() + self.settings.backoff_max_s  # until recorded
        if role is not None:
            _stop_quietly(role)
        self._record_failure(slot, why)

    def _record_failure(self, slot: _Slot, why: str) -> None:
        now = self._monotonic()
        window = self.settings.failure_window_s
        with self._lock:
            slot.last_error = why
            slot.failures.append(now)
            while slot.failures and slot.failures[0] < now - window:
                slot.failures.popleft()
            count = len(slot.failures)
            delay = min(
                self.settings.backoff_max_s, self.settings.backoff_initial_s * 2 ** (count - 1)
            )
            slot.restart_at = now + delay
        ROLE_UP.labels(role=slot.name).set(0)
        if count >= self.settings.max_failures:
            self.gave_up = (
                f"role {slot.name} failed {count} times within {window:.0f}s; last: {why}"
            )
        else:
            log.warning("role %s restarts in %.1fs (failure %d)", slot.name, delay, count)

    def _give_up(self) -> None:
        reason = self.gave_up or "gave up"
        log.critical("supervisor gives up: %s; stopping every role", reason)
        self._stopping.set()
        self._stop_all()
        if self._on_give_up is not None:
            self._on_give_up(reason)

    def _stop_all(self) -> None:
        for slot in reversed(self._slots):
            with self._lock:
                role, slot.role = slot.role, None
            if role is not None:
                _stop_quietly(role)
            ROLE_UP.labels(role=slot.name).set(0)


def pending_age_s(since: datetime | None, now: datetime) -> float:
    """Return a role's lag: how long its oldest pending item has waited (0 when none waits)."""
    return 0.0 if since is None else max(0.0, (now - since).total_seconds())


def _ask(role: Role) -> RoleHealth:
    try:
        return role.health()
    except Exception as exc:  # a role that cannot tell its health is not healthy
        return RoleHealth("failed", None, f"health: {type(exc).__name__}: {exc}")


def _stop_quietly(role: Role) -> None:
    try:
        role.stop()
    except Exception:  # one role failing to stop must not keep the others running
        log.exception("role %s did not stop cleanly", role.name)
