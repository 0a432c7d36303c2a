"""The GB/T 26875.3 scenarios over real TCP, the gateway role and a real database: a
transmission device's fire alarm becomes a hazard in its unit's grid and a fire case; a fault
and a power failure become a fault hazard each. Without a gateway they are skipped, said why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatch.flows import DispatchService
from simulators.scenarios.live import simulate, stored_cases
from simulators.scenarios.models import Tick, case_mismatches
from simulators.scenarios.runner import GatewayOffError
from tests.scenarios.harness import ScenarioEnv, gateway_role, scenario_env


@pytest.fixture
def env(pg_admin_url: str, broker_url: str, tmp_path: Path) -> Iterator[ScenarioEnv]:
    with scenario_env(pg_admin_url, broker_url, tmp_path) as e:
        yield e


@pytest.fixture
def gateway(env: ScenarioEnv) -> Iterator[str]:
    with gateway_role(env) as address:
        yield address


def test_a_transmission_devices_fire_alarm_becomes_a_hazard_and_a_case(
    env: ScenarioEnv, gateway: str
) -> None:
    scenario = env.build("gb26875_fire")
    outcome = env.run(scenario, gateway=gateway)
    assert outcome.mismatch.ok, str(outcome.mismatch)
    dispatch = DispatchService(db_url=env.db_url)
    try:
        dispatch.process_pending()
    finally:
        dispatch.close()
    cases = stored_cases(env.db_url, scenario)
    assert case_mismatches(scenario.expected_cases, cases) == []


def test_a_fault_and_a_power_failure_become_fault_hazards(env: ScenarioEnv, gateway: str) -> None:
    outcome = env.run(env.build("gb26875_fault"), gateway=gateway)
    assert outcome.mismatch.ok, str(outcome.mismatch)
    assert len(outcome.observed) == 2


def test_without_a_gateway_the_runner_refuses_before_registering(env: ScenarioEnv) -> None:
    scenario = env.build("gb26875_fire")
    with pytest.raises(GatewayOffError, match="FIREGRID_GB26875"):
        env.run(scenario)
    assert (
        env.rows("SELECT 1 FROM devices WHERE device_id = ANY(%s)", sorted(scenario.device_ids))
        == []
    )


def test_firegrid_simulate_skips_a_gb26875_scenario_when_the_gateway_is_off() -> None:
    said: list[str] = []
    result = simulate(
        "gb26875_fault",
        db_url="postgresql://unused",
        mqtt_url="mqtt://unused",
        prefix="x",
        say=said.append,
    )
    assert result is None
    assert "skipped" in said[-1]
    assert "FIREGRID_GB26875" in said[-1]


def test_a_transmission_device_silent_past_its_polling_interval_raises_a_hazard(
    env: ScenarioEnv, gateway: str
) -> None:
    scenario = env.build("gb26875_silence")
    outcome = env.run(scenario, gateway=gateway)
    assert outcome.mismatch.ok, str(outcome.mismatch)
    # Opened by the tick past the interval, not by the one five minutes short of it.
    device = next(iter(scenario.device_ids))
    opened = env.scalar(
        "SELECT opened_at FROM hazards WHERE device_id = %s AND rule_id = 'transmission_silence'",
        device,
    )
    ticks = [t for t in scenario.timeline if isinstance(t, Tick)]
    assert len(ticks) == 2
    assert opened is not None
    assert opened > scenario.at(ticks[0].at)
