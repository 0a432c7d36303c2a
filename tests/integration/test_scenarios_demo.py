"""The demo fleet over the real broker and database: its hydrant drops become hazards."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from firegrid.demo import register
from simulators.fleet import DemoFleetSim
from tests.fix_ingest import wait_until
from tests.scenarios.harness import ScenarioEnv, scenario_env


@pytest.fixture
def env(pg_admin_url: str, broker_url: str, tmp_path: Path) -> Iterator[ScenarioEnv]:
    with scenario_env(pg_admin_url, broker_url, tmp_path) as e:
        yield e


def test_demo_fleet_raises_and_clears_sudden_drops(env: ScenarioEnv) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    assert register(env.db_url, today=now) == 15  # with the transmission device (issue 11)
    # 25 minutes of the fleet, sent as fast as possible: hydrants 01 and 02 drop in turn.
    fleet = DemoFleetSim(now - timedelta(minutes=25), prefix=env.prefix)
    messages = [
        m for k in range(1, 301) for m in fleet.messages(fleet.start + timedelta(seconds=5 * k))
    ]
    started = time.monotonic()
    env.publisher.publish_all(messages)
    wait_until(lambda: env.committed_messages() >= len(messages), what="demo messages committed")
    env.rules.process_pending()
    hazards = env.rows(
        "SELECT rule_id, subject_id, status, grid_code IS NOT NULL FROM hazards ORDER BY 2"
    )
    assert hazards == [
        ("hydrant_sudden_drop", "DEMO-HYD-01", "cleared", True),
        ("hydrant_sudden_drop", "DEMO-HYD-02", "cleared", True),
    ]
    assert time.monotonic() - started < 60
    # The worker's walk is stored and makes a valid patrol segment in the demo grid.
    assert env.rows("SELECT valid, fixes FROM patrol_segments") == [(True, 750)]
