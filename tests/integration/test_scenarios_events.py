"""Scenarios on device events over the real broker and database: event families, correlation,
false alarms. Each scenario declares its hazards; the test asserts exactly those."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scenarios.harness import ScenarioEnv, scenario_env


@pytest.fixture
def env(pg_admin_url: str, broker_url: str, tmp_path: Path) -> Iterator[ScenarioEnv]:
    with scenario_env(pg_admin_url, broker_url, tmp_path) as e:
        yield e


def test_device_event_families(env: ScenarioEnv) -> None:
    outcome = env.run(env.build("device_events"))
    assert outcome.mismatch.ok, str(outcome.mismatch)


def test_two_detectors_within_120_s_confirm_a_fire(env: ScenarioEnv) -> None:
    outcome = env.run(env.build("confirmed_fire"))
    assert outcome.mismatch.ok, str(outcome.mismatch)
    fire = [h for h in outcome.observed if h.rule_id == "smoke_confirmed_fire"]
    # Located by the unit's registered position, in the scenario's first grid.
    assert [h.grid_code for h in fire] == [sorted(outcome.scenario.grid_codes)[0]]


def test_smoke_alarm_with_a_hydrant_pressure_drop(env: ScenarioEnv) -> None:
    outcome = env.run(env.build("smoke_with_drop"))
    assert outcome.mismatch.ok, str(outcome.mismatch)


def test_more_than_five_false_alarms_a_day(env: ScenarioEnv) -> None:
    outcome = env.run(env.build("false_alarms"))
    assert outcome.mismatch.ok, str(outcome.mismatch)
