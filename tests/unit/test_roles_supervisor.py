"""The supervisor with in-memory roles: restart with back-off, give up after repeated failures."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

from infra.roles import RoleHealth, RoleState, Supervisor, SupervisorSettings, ThreadRole

FAST = SupervisorSettings(
    max_failures=5, failure_window_s=60, backoff_initial_s=0.05, backoff_max_s=1, check_every_s=0.01
)


class MemoryRole:
    """A role whose state the test sets."""

    def __init__(self, name: str, born: list[MemoryRole]) -> None:
        self._name = name
        self.state: RoleState = "starting"
        self.lag: float | None = None
        self.stopped = False
        self.started_at = 0.0
        born.append(self)

    @property
    def name(self) -> str:
        return self._name

    def start(self) -> None:
        self.started_at = time.monotonic()
        self.state = "running"

    def stop(self) -> None:
        self.stopped = True
        self.state = "stopped"

    def health(self) -> RoleHealth:
        return RoleHealth(self.state, self.lag, "")


def wait_for(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_roles_start_in_order_and_report_running() -> None:
    born: list[MemoryRole] = []
    sup = Supervisor({n: lambda n=n: MemoryRole(n, born) for n in ("a", "b")}, settings=FAST)
    sup.start()
    try:
        assert [r.name for r in born] == ["a", "b"]
        assert {n: h.state for n, h in sup.health().items()} == {"a": "running", "b": "running"}
        assert sup.ready()
    finally:
        sup.stop()
    assert all(r.stopped for r in born)
    assert {h.state for h in sup.health().values()} == {"stopped"}


def test_a_failed_role_is_stopped_and_replaced_after_its_back_off() -> None:
    born: list[MemoryRole] = []
    settings = FAST.model_copy(update={"backoff_initial_s": 0.3})
    sup = Supervisor({"a": lambda: MemoryRole("a", born)}, settings=settings)
    sup.start()
    try:
        born[0].state = "failed"
        wait_for(lambda: born[0].stopped)
        down = sup.health()["a"]
        assert down.state == "failed"
        assert not sup.ready()
        assert len(born) == 1, "restarted before its back-off"
        wait_for(lambda: len(born) == 2)
        assert born[1].state == "running"
        wait_for(sup.ready)
    finally:
        sup.stop()


def test_restart_delays_double() -> None:
    born: list[MemoryRole] = []
    sup = Supervisor({"a": lambda: MemoryRole("a", born)}, settings=FAST)
    sup.start()
    try:
        for _ in range(4):
            count = len(born)
            born[-1].state = "failed"
            wait_for(lambda count=count: len(born) == count + 1)
    finally:
        sup.stop()
    gaps = [b.started_at - a.started_at for a, b in itertools.pairwise(born)]
    for k, gap in enumerate(gaps):
        assert gap >= 0.05 * 2**k, gaps


def test_repeated_failures_stop_every_role_and_give_up() -> None:
    born: list[MemoryRole] = []
    reasons: list[str] = []
    gave_up = threading.Event()

    def give_up(reason: str) -> None:
        reasons.append(reason)
        gave_up.set()

    settings = FAST.model_copy(update={"max_failures": 3})
    sup = Supervisor(
        {"steady": lambda: MemoryRole("steady", born), "flaky": lambda: MemoryRole("flaky", born)},
        settings=settings,
        on_give_up=give_up,
    )
    sup.start()
    try:
        for _ in range(3):
            flaky = [r for r in born if r.name == "flaky"][-1]
            flaky.state = "failed"
            wait_for(lambda flaky=flaky: flaky.stopped)
            wait_for(lambda flaky=flaky: gave_up.is_set() or born[-1] is not flaky)
        assert gave_up.wait(5)
    finally:
        sup.stop()
    assert "flaky failed 3 times" in reasons[0]
    assert all(r.stopped for r in born), "a role was left running after giving up"
    assert sup.gave_up is not None
    assert {h.state for h in sup.health().values()} == {"stopped"}


def test_failures_older_than_the_window_are_forgotten() -> None:
    born: list[MemoryRole] = []
    gave_up = threading.Event()
    settings = FAST.model_copy(update={"max_failures": 2, "failure_window_s": 0.2})
    sup = Supervisor(
        {"a": lambda: MemoryRole("a", born)}, settings=settings, on_give_up=lambda _r: gave_up.set()
    )
    sup.start()
    try:
        born[0].state = "failed"
        wait_for(lambda: len(born) == 2)
        time.sleep(0.3)
        born[1].state = "failed"
        wait_for(lambda: len(born) == 3)
        assert not gave_up.is_set()
    finally:
        sup.stop()


def test_a_factory_that_raises_is_a_failure_and_is_retried() -> None:
    born: list[MemoryRole] = []
    calls: list[int] = []

    def factory() -> MemoryRole:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("cannot build")
        return MemoryRole("a", born)

    sup = Supervisor({"a": factory}, settings=FAST)
    sup.start()
    try:
        assert sup.health()["a"].state == "failed"
        assert "cannot build" in sup.health()["a"].detail
        wait_for(lambda: len(born) == 1)
        assert sup.health()["a"].state == "running"
    finally:
        sup.stop()


def test_readiness_tolerates_lag_up_to_the_bound() -> None:
    assert RoleHealth("running", 59.0).ready(max_lag_s=60)
    assert not RoleHealth("running", 61.0).ready(max_lag_s=60)
    assert RoleHealth("running", None).ready(max_lag_s=60)
    assert not RoleHealth("degraded", 0.0).ready(max_lag_s=60)
    assert not RoleHealth("starting").ready(max_lag_s=60)


class Looping(ThreadRole):
    def __init__(self, action: Callable[[], None]) -> None:
        super().__init__("loop")
        self.action = action

    def run(self) -> None:
        self.set_state("running")
        while not self.stopping.wait(0.01):
            self.action()


def test_thread_role_that_raises_is_failed_with_the_reason() -> None:
    def boom() -> None:
        raise ValueError("injected")

    role = Looping(boom)
    role.start()
    try:
        wait_for(lambda: role.health().state == "failed")
        assert "ValueError: injected" in role.health().detail
    finally:
        role.stop()
    assert role.health().state == "failed", "stopping a failed role hides why it failed"


def test_thread_role_stops_cleanly() -> None:
    role = Looping(lambda: None)
    role.start()
    wait_for(lambda: role.health().state == "running")
    role.stop()
    assert role.health().state == "stopped"


def test_thread_role_ending_by_itself_is_failed() -> None:
    class Ends(ThreadRole):
        def run(self) -> None:
            self.set_state("running")

    role = Ends("ends")
    role.start()
    try:
        wait_for(lambda: role.health().state == "failed")
        assert role.health().detail == "ended by itself"
    finally:
        role.stop()


def test_stopping_during_a_back_off_starts_nothing_more() -> None:
    born: list[MemoryRole] = []
    settings = FAST.model_copy(update={"backoff_initial_s": 0.3})
    sup = Supervisor({"a": lambda: MemoryRole("a", born)}, settings=settings)
    sup.start()
    born[0].state = "failed"
    wait_for(lambda: born[0].stopped)
    sup.stop()
    time.sleep(0.4)
    assert len(born) == 1
    assert sup.health()["a"].state == "stopped"
