"""Scenarios judged on the clock over the real broker and database: silence, dates, patrols.
Each scenario declares its hazards; the test asserts exactly those."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scenarios.harness import ScenarioEnv, scenario_env


@pytest.fixture
def env(pg_admin_url: str, broker_url: str, tmp_path: Path) -> Iterator[ScenarioEnv]:
    with scenario_env(pg_admin_url, broker_url, tmp_path) as e:
        yield e


def test_silence_of_one_device_and_of_a_whole_unit(env: ScenarioEnv) -> None:
    outcome = env.run(env.build("silence"))
    assert outcome.mismatch.ok, str(outcome.mismatch)
    # A whole unit quiet is ONE hazard: none for its four detectors.
    quiet_unit = next(u["unit_id"] for u in outcome.scenario.units if "QALL" in u["unit_id"])
    assert env.scalar("SELECT count(*) FROM hazards WHERE unit_id = %s", quiet_unit) == 1


def test_extinguisher_dates(env: ScenarioEnv) -> None:
    outcome = env.run(env.build("extinguisher_dates"))
    assert outcome.mismatch.ok, str(outcome.mismatch)


def test_patrol_compliance(env: ScenarioEnv) -> None:
    scenario = env.build("patrol")
    outcome = env.run(scenario, timeout_s=120)
    assert outcome.mismatch.ok, str(outcome.mismatch)
    valid = dict(
        env.rows(
            "SELECT terminal_id, array_agg(valid ORDER BY started_at) FROM patrol_segments "
            "GROUP BY terminal_id"
        )
    )
    terminals = {d["device_id"].split("-")[1]: d["device_id"] for d in scenario.devices}
    assert valid == {
        terminals["TWICE"]: [True, True],
        terminals["ONCE"]: [True],
        terminals["DESK"]: [False, False],
    }
