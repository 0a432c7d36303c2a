"""Scenarios on readings over the real broker and database: threshold, sudden drop, late data.

Each scenario declares its hazards; the test asserts exactly those, no more, no fewer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.scenarios.harness import ScenarioEnv, scenario_env


@pytest.fixture
def env(pg_admin_url: str, broker_url: str, tmp_path: Path) -> Iterator[ScenarioEnv]:
    with scenario_env(pg_admin_url, broker_url, tmp_path) as e:
        yield e


def test_hydrant_threshold_hysteresis_gives_exact_episodes(env: ScenarioEnv) -> None:
    outcome = env.run(env.build("hydrant_threshold"))
    assert outcome.mismatch.ok, str(outcome.mismatch)
    s = outcome.scenario
    low = s.devices[0]["device_id"]
    rows = env.rows(
        "SELECT episode, status, severity, opened_at, cleared_at FROM hazards "
        "WHERE subject_id = %s ORDER BY episode",
        low,
    )
    assert [r[:3] for r in rows] == [(1, "cleared", "warning"), (2, "open", "critical")]
    # Samples are 30 s apart from base - 60 min: episode 1 opens at the 5th low sample (#8,
    # 120 s into the run) and clears at the first 0.17 (#17); episode 2 at #32.
    t0, step = s.base - timedelta(minutes=60), timedelta(seconds=30)
    assert (rows[0][3], rows[0][4]) == (t0 + 8 * step, t0 + 17 * step)
    assert (rows[1][3], rows[1][4]) == (t0 + 32 * step, None)


def test_hydrant_sudden_drop_twice(env: ScenarioEnv) -> None:
    outcome = env.run(env.build("hydrant_drop"))
    assert outcome.mismatch.ok, str(outcome.mismatch)


def test_late_too_late_and_duplicate_samples(env: ScenarioEnv) -> None:
    scenario = env.build("late_data")
    outcome = env.run(scenario)
    assert outcome.mismatch.ok, str(outcome.mismatch)
    too_late = next(d["device_id"] for d in scenario.devices if "TOOLATE" in d["device_id"])
    # The stale 0.05 MPa sample is stored as data, and recorded as too late for the rules.
    assert (
        env.scalar("SELECT count(*) FROM readings WHERE device_id = %s AND value = 0.05", too_late)
        == 1
    )
    assert env.scalar("SELECT count(*) FROM rule_too_late WHERE key LIKE %s", too_late + "/%") >= 1
    twice = next(d["device_id"] for d in scenario.devices if "HYD-TWICE" in d["device_id"])
    assert env.scalar("SELECT count(*) FROM readings WHERE device_id = %s", twice) == 6
