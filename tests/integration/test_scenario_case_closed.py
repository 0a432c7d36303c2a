"""The ``case_closed`` scenario end to end over the real broker and database, every role in
this process: ingest stores the smoke alarm, the rules raise the hazard, the dispatch role opens
the case, the inbox role tells the workers' simulated terminals, and they sign, give feedback
with a photo and verify on site, until the case closes with each step by the right person."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dispatch.config import DispatchSettings, InboxSettings
from dispatch.deadlines_file import load_deadlines
from dispatch.flows import DispatchService
from dispatch.inbox import InboxRole
from infra.clock import FixedClock
from infra.publisher import MqttPublisher, PublisherSettings
from rules.config import RulesSettings
from rules.flows import RulesService
from simulators.scenarios.live import simulate, stored_cases
from simulators.scenarios.models import case_mismatches
from simulators.terminal_cases import Behaviour, CaseTerminal
from tests.fix_ingest import wait_until
from tests.scenarios.harness import ScenarioEnv, scenario_env


@pytest.fixture
def env(pg_admin_url: str, broker_url: str, tmp_path: Path) -> Iterator[ScenarioEnv]:
    with scenario_env(pg_admin_url, broker_url, tmp_path) as e:
        yield e


@pytest.fixture
def roles(env: ScenarioEnv, broker_url: str) -> Iterator[None]:
    """The dispatch and inbox roles running in their threads, on the scenario's database."""
    pub = MqttPublisher(
        broker_url,
        settings=PublisherSettings(reconnect_max_s=1),
        client_id=f"case-closed-{uuid.uuid4().hex[:8]}",
    )
    pub.start()
    assert pub.connected.wait(10)
    dispatch = DispatchService(db_url=env.db_url)
    inbox = InboxRole(db_url=env.db_url, publisher=pub, settings=InboxSettings(prefix=env.prefix))
    dispatch.start()
    inbox.start()
    try:
        yield
    finally:
        inbox.stop()
        dispatch.stop()
        inbox.close()
        dispatch.close()
        pub.stop()


def test_a_smoke_alarm_becomes_a_case_the_workers_close(
    env: ScenarioEnv, roles: None, broker_url: str
) -> None:
    scenario = env.build("case_closed")
    terminals = [
        CaseTerminal(
            broker_url,
            plan.terminal_id,
            prefix=env.prefix,
            behaviour=Behaviour(plan.behaviour),
            delay_s=plan.delay_s,
        ).start()
        for plan in scenario.terminals
    ]
    try:
        outcome = env.run(scenario)
        assert outcome.mismatch.ok, str(outcome.mismatch)

        def closed() -> bool:
            return [c.status for c in stored_cases(env.db_url, scenario)] == ["closed"]

        wait_until(closed, timeout_s=60, what="the case closed by the simulated workers")
        problems = case_mismatches(scenario.expected_cases, stored_cases(env.db_url, scenario))
        assert problems == [], problems

        (case,) = stored_cases(env.db_url, scenario)
        handler, verifier = terminals
        # The handler was asked to sign; the other worker to verify; both were told of closure.
        assert [(m["kind"], m["asks"]) for m in handler.messages()][:1] == [
            ("case_assigned", "sign")
        ]
        assert ("case_assigned", "verify") in [(m["kind"], m["asks"]) for m in verifier.messages()]
        wait_until(
            lambda: "closure" in [m["kind"] for m in handler.messages()],
            what="the closure on the handler's inbox",
        )
        assert [a["action"] for a in handler.actions()] == ["sign", "feedback"]
        assert [a["action"] for a in verifier.actions()] == ["verify"]
        # The evidence is in the history: the verify step's photo is stored, at the case.
        (photos, lat, lon) = env.rows(
            "SELECT photos, lat, lon FROM case_history WHERE case_id = %s AND action = 'verify'",
            case.case_id,
        )[0]
        assert len(photos) == 1
        assert env.scalar("SELECT count(*) FROM photos WHERE sha256 = %s", photos[0]) == 1
        assert (lat, lon) == tuple(
            env.rows("SELECT lat, lon FROM cases WHERE case_id = %s", case.case_id)[0]
        )
        # Nothing was refused along the way.
        assert not [m for t in terminals for m in t.messages() if m["kind"] == "refusal"]
    finally:
        for t in terminals:
            t.close()


def test_simulate_runs_the_terminals_and_waits_for_the_case(
    env: ScenarioEnv, roles: None, broker_url: str
) -> None:
    # As ``firegrid simulate case_closed`` against a running FireGrid: every role in its thread.
    rules = RulesService(db_url=env.db_url, settings=RulesSettings(poll_s=0.5))
    rules.start()
    said: list[str] = []
    try:
        result = simulate(
            "case_closed",
            db_url=env.db_url,
            mqtt_url=broker_url,
            prefix=env.prefix,
            wait_s=60,
            say=said.append,
        )
    finally:
        rules.stop()
    assert result is not None
    assert result.ok, str(result.mismatch)
    assert result.line.startswith("PASS case_closed [")
    assert ": 1/1 hazards, 0 extra, cases as expected, " in result.line


def test_a_forgetful_worker_leaves_the_case_dispatched(
    env: ScenarioEnv, roles: None, broker_url: str
) -> None:
    scenario = env.build("case_unsigned")
    forgetful, _ = terminals = [
        CaseTerminal(
            broker_url, plan.terminal_id, prefix=env.prefix, behaviour=Behaviour(plan.behaviour)
        ).start()
        for plan in scenario.terminals
    ]
    try:
        outcome = env.run(scenario)
        assert outcome.mismatch.ok, str(outcome.mismatch)
        wait_until(
            lambda: [m["asks"] for m in forgetful.messages()] == ["sign"],
            what="the assignment on the forgetful worker's terminal",
        )
        time.sleep(1.0)  # a sign would have come back by now
        assert forgetful.actions() == []
        problems = case_mismatches(scenario.expected_cases, stored_cases(env.db_url, scenario))
        assert problems == [], problems
    finally:
        for t in terminals:
            t.close()


def test_a_forgotten_case_is_escalated_to_the_grid_head_who_handles_it(
    env: ScenarioEnv, broker_url: str
) -> None:
    """``case_escalated`` on an injected clock, no sleeping for the deadline: the forgetful
    worker never signs; once the clock passes the sign deadline the running dispatch role's
    sweep supervises the case and escalates it; the grid head's terminal gets the escalation
    on its inbox, signs and handles it; the worker verifies it on site and it closes. Each step
    once, by the person the history names."""
    clock = FixedClock(datetime.now(UTC))
    pub = MqttPublisher(
        broker_url,
        settings=PublisherSettings(reconnect_max_s=1),
        client_id=f"case-escalated-{uuid.uuid4().hex[:8]}",
    )
    pub.start()
    assert pub.connected.wait(10)
    dispatch = DispatchService(
        db_url=env.db_url,
        clock=clock,
        deadlines=load_deadlines(),
        settings=DispatchSettings(sweep_s=0.2),
    )
    inbox = InboxRole(db_url=env.db_url, publisher=pub, settings=InboxSettings(prefix=env.prefix))
    scenario = env.build("case_escalated")
    forgetful, head = terminals = [
        CaseTerminal(
            broker_url, plan.terminal_id, prefix=env.prefix, behaviour=Behaviour(plan.behaviour)
        ).start()
        for plan in scenario.terminals
    ]
    dispatch.start()
    inbox.start()
    try:
        outcome = env.run(scenario)
        assert outcome.mismatch.ok, str(outcome.mismatch)
        wait_until(
            lambda: [m["asks"] for m in forgetful.messages()] == ["sign"],
            what="the assignment on the forgetful worker's terminal",
        )
        (case,) = stored_cases(env.db_url, scenario)
        deadline = env.rows("SELECT deadline FROM cases WHERE case_id = %s", case.case_id)[0][0]
        assert head.messages() == []  # nothing escalated before the deadline
        clock.set(deadline + timedelta(seconds=1))
        wait_until(
            lambda: [c.status for c in stored_cases(env.db_url, scenario)] == ["closed"],
            timeout_s=60,
            what="the escalated case handled by the grid head and verified by the worker",
        )
        problems = case_mismatches(scenario.expected_cases, stored_cases(env.db_url, scenario))
        assert problems == [], problems
        assert "supervision" in [m["kind"] for m in forgetful.messages()]
        escalations = [m for m in head.messages() if m["kind"] == "escalation"]
        assert len(escalations) == 1
        assert escalations[0]["asks"] == "sign"
        assert (
            env.scalar("SELECT escalation_level FROM cases WHERE case_id = %s", case.case_id) == 1
        )
        assert [a["action"] for a in head.actions()] == ["sign", "feedback"]
        assert [a["action"] for a in forgetful.actions()] == ["verify"]  # never signed
    finally:
        for t in terminals:
            t.close()
        inbox.stop()
        dispatch.stop()
        inbox.close()
        dispatch.close()
        pub.stop()
