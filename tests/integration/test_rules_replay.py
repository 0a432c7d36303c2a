"""``firegrid rules replay`` over the clock-driven rules: silence (one device, a whole unit),
extinguisher dates and patrol compliance. Each scenario runs live with the rules role's ticks,
then the same period is replayed; the replayed hazards must equal the live ones, and the
replay must write nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from firegrid.cli import main
from hazards.lifecycle import HazardRecord
from rules.config import RulesSettings
from rules.flows import engine_config, replay
from rules.replay import tick_schedule
from rules.rules_file import load_rules
from simulators.scenarios.smoke import TICK_AT
from tests.scenarios.harness import ScenarioEnv, scenario_env

MINUTE = timedelta(minutes=1)
# What is compared: rule, subject, severity, opened_at, cleared_at, status.
Hazard = tuple[str, str, str, str, datetime, datetime | None, str]
_COUNTS = (
    "SELECT (SELECT count(*) FROM hazards), (SELECT count(*) FROM hazard_events), "
    "(SELECT count(*) FROM rule_state), (SELECT count(*) FROM patrol_segments)"
)


@pytest.fixture
def env(pg_admin_url: str, broker_url: str, tmp_path: Path) -> Iterator[ScenarioEnv]:
    with scenario_env(pg_admin_url, broker_url, tmp_path) as e:
        yield e


def _live(env: ScenarioEnv) -> list[Hazard]:
    return sorted(
        (r[0], r[1], r[2], r[3], r[4], r[5], r[6])
        for r in env.rows(
            "SELECT rule_id, subject_type, subject_id, severity, opened_at, cleared_at, status "
            "FROM hazards"
        )
    )


def _dt(ms: int | None) -> datetime | None:
    return None if ms is None else datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def _replayed(hazards: list[HazardRecord]) -> list[Hazard]:
    out: list[Hazard] = []
    for h in hazards:
        opened = _dt(h.opened_at)
        assert opened is not None
        out.append(
            (
                h.rule_id,
                h.subject_type,
                h.subject_id,
                h.severity.value,
                opened,
                _dt(h.cleared_at),
                h.status,
            )
        )
    return sorted(out)


def _tick_live(env: ScenarioEnv, start: datetime, end: datetime) -> None:
    """Tick the live rules on the role's schedule over [start, end)."""
    s = env.rules.settings
    every = {"silence": s.silence_every_s, "dates": s.daily_every_s, "patrols": s.daily_every_s}
    for now, which in tick_schedule(start, end, every):
        env.rules.tick(now, which=which)


def _replay_and_compare(env: ScenarioEnv, start: datetime, end: datetime) -> list[Hazard]:
    """Replay [start, end), check it wrote nothing and equals the live hazards; return them."""
    before = env.rows(_COUNTS)
    got = replay(
        db_url=env.db_url,
        start=start,
        end=end,
        rules=load_rules(),
        config=engine_config(RulesSettings()),
    )
    assert env.rows(_COUNTS) == before
    live = _live(env)
    assert live, "the live run raised nothing: the comparison would prove nothing"
    assert _replayed(got) == live
    return live


def test_silence_of_one_device_and_whole_units_replays_as_live(env: ScenarioEnv) -> None:
    scenario = env.build("silence")
    assert env.run(scenario).mismatch.ok
    t0 = scenario.at(TICK_AT)
    # Six minutes of ticks: the talking detectors' last samples (t0 - 60 s) fall silent at
    # t0 + 3 min, and with the quiet one their whole unit is then down: a unit hazard opens.
    end = t0 + 6 * MINUTE
    _tick_live(env, t0, end)
    live = _replay_and_compare(env, t0, end)
    units = {u["unit_id"] for u in scenario.units}
    unit_hazards = [h for h in live if h[1] == "unit"]
    assert {h[2] for h in unit_hazards} == units
    assert sorted(h[4] for h in unit_hazards) == [t0, t0 + 3 * MINUTE]
    devices = [h for h in live if h[1] == "device"]
    assert [(h[0], h[4], h[6]) for h in devices] == [("smoke_silence", t0, "open")]


def test_extinguisher_dates_replay_as_live(env: ScenarioEnv) -> None:
    scenario = env.build("extinguisher_dates")
    assert env.run(scenario).mismatch.ok
    t0 = scenario.at(TICK_AT)
    end = t0 + 30 * MINUTE  # three daily looks: the day is judged once
    _tick_live(env, t0, end)
    live = _replay_and_compare(env, t0, end)
    assert {h[0] for h in live} >= {
        "extinguisher_scrap",
        "extinguisher_service_due",
        "extinguisher_monthly_check",
    }


def test_patrol_compliance_replays_as_live(env: ScenarioEnv) -> None:
    scenario = env.build("patrol")
    assert env.run(scenario, timeout_s=120).mismatch.ok
    t0 = scenario.at(TICK_AT)
    end = t0 + 20 * MINUTE
    _tick_live(env, t0, end)
    live = _replay_and_compare(env, t0, end)
    grids = sorted(h[2] for h in live if h[0] == "grid_patrol")
    assert len(grids) == 3  # the once-patrolled, the desk and the unwalked grid


def test_cli_prints_replayed_clock_hazards_as_json_lines(
    env: ScenarioEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = env.build("silence")
    assert env.run(scenario).mismatch.ok
    t0 = scenario.at(TICK_AT)
    before = env.rows(_COUNTS)
    args = ["--db-url", env.db_url, "rules", "replay"]
    assert main([*args, "--from", t0.isoformat(), "--to", (t0 + MINUTE).isoformat()]) == 0
    out = capsys.readouterr()
    lines: list[dict[str, Any]] = [json.loads(x) for x in out.out.splitlines()]
    # The scenario's grids were imported and nobody patrolled them yesterday: patrol hazards too.
    assert {x["rule"] for x in lines} == {"smoke_silence", "grid_patrol"}
    lines = [x for x in lines if x["rule"] == "smoke_silence"]
    assert {(x["rule"], x["subject"]["type"], x["status"]) for x in lines} == {
        ("smoke_silence", "device", "open"),
        ("smoke_silence", "unit", "open"),
    }
    assert all(x["opened_at"] == t0.astimezone(UTC).isoformat() for x in lines)
    assert "registry" in out.err
    assert env.rows(_COUNTS) == before
