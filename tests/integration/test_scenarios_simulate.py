"""Every scenario one after another in ONE database (their tags keep them apart), and
``firegrid simulate`` against a FireGrid running ingest and its rules role."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rules.config import RulesSettings
from rules.flows import RulesService
from simulators.scenarios import SCENARIOS
from tests.fix_api import free_port
from tests.scenarios.harness import ScenarioEnv, gateway_role, scenario_env


@pytest.fixture
def env(pg_admin_url: str, broker_url: str, tmp_path: Path) -> Iterator[ScenarioEnv]:
    with scenario_env(pg_admin_url, broker_url, tmp_path) as e:
        yield e


def test_all_scenarios_in_one_database(env: ScenarioEnv) -> None:
    failures: dict[str, str] = {}
    subjects: set[str] = set()
    with gateway_role(env) as gateway:  # for the GB/T 26875.3 scenarios
        outcomes = [env.run(env.build(n), timeout_s=120, gateway=gateway) for n in SCENARIOS]
    for name, outcome in zip(SCENARIOS, outcomes, strict=True):
        s = outcome.scenario
        subjects |= s.device_ids | s.unit_ids | s.grid_codes | s.report_ids
        if not outcome.mismatch.ok:
            failures[name] = str(outcome.mismatch)
    assert failures == {}
    # Nothing raised about anything but the scenarios' own subjects.
    assert {r[0] for r in env.rows("SELECT DISTINCT subject_id FROM hazards")} <= subjects


def _simulate(
    env: ScenarioEnv,
    broker_url: str,
    *args: str,
    gateway: str | None = None,
    settings: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    environ = {
        **{k: v for k, v in os.environ.items() if k != "FIREGRID_GB26875"},
        "FIREGRID_DB_URL": env.db_url,
        "FIREGRID_MQTT_URL": broker_url,
        "FIREGRID_INGEST__TOPIC_PREFIX": env.prefix,
        **(settings or {}),
    }
    if gateway is not None:
        environ["FIREGRID_GB26875"] = gateway
    return subprocess.run(
        [sys.executable, "-m", "firegrid.cli", "simulate", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_firegrid_simulate_against_a_running_firegrid(env: ScenarioEnv, broker_url: str) -> None:
    # The rules role as ``firegrid up`` runs it: its own thread, NOTIFY and polling, its clock.
    role = RulesService(db_url=env.db_url, settings=RulesSettings(poll_s=0.5))
    role.start()
    try:
        started = time.monotonic()
        done = _simulate(env, broker_url, "hydrant_drop", "--wait", "60")
    finally:
        role.stop()
    assert done.returncode == 0, done.stderr + done.stdout
    verdicts = [line for line in done.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert len(verdicts) == 1
    assert verdicts[0].startswith("PASS hydrant_drop [")
    assert ": 2/2 hazards, 0 extra, " in verdicts[0]
    assert time.monotonic() - started < 60
    assert env.scalar("SELECT count(*) FROM hazards WHERE rule_id = 'hydrant_sudden_drop'") == 2


def test_firegrid_simulate_says_when_hazards_do_not_appear(
    env: ScenarioEnv, broker_url: str
) -> None:
    # Ingest runs but no rules role: the data arrives, the hazards never do.
    done = _simulate(env, broker_url, "confirmed_fire", "--wait", "1")
    assert done.returncode == 1
    verdicts = [line for line in done.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert len(verdicts) == 1
    assert verdicts[0].startswith("FAIL confirmed_fire [")
    assert ": 0/5 hazards, 0 extra, " in verdicts[0]
    # A table a person reads: a row per expected hazard, none observed; no Python reprs.
    table = done.stdout[done.stdout.index(verdicts[0]) + len(verdicts[0]) :]
    assert table.count("expected") == 5 + 1  # the rows and the title
    assert table.count("(none)") == 5
    assert "smoke_confirmed_fire" in table
    assert "ExpectedHazard(" not in done.stdout


def test_firegrid_simulate_list_and_unknown_names() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "firegrid.cli", "simulate", "--list"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert listed.returncode == 0
    assert [line.split()[0] for line in listed.stdout.splitlines()] == list(SCENARIOS)
    unknown = subprocess.run(
        [sys.executable, "-m", "firegrid.cli", "simulate", f"nope-{uuid.uuid4().hex[:4]}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert unknown.returncode == 2
    assert len(unknown.stderr.strip().splitlines()) == 1
    assert "unknown scenario" in unknown.stderr
    both = subprocess.run(
        [sys.executable, "-m", "firegrid.cli", "simulate", "hydrant_drop", "--all"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert both.returncode == 2
    assert "a SCENARIO or --all" in both.stderr


def test_firegrid_simulate_finds_a_running_embedded_firegrid(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FIREGRID_") or "TEST" in k}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    environ |= {
        "FIREGRID_DATA_DIR": str(tmp_path / "var"),
        "FIREGRID_HTTP": f"127.0.0.1:{port}",
        # Not the embedded broker's usual 1884: a developer's own ./scripts/up may hold it.
        "FIREGRID_EMBEDDED__MQTT_PORT": str(free_port()),
    }
    log = tmp_path / "up.log"
    with (
        log.open("w") as out,
        subprocess.Popen(
            [sys.executable, "-m", "firegrid.cli", "up", "--no-simulate"],
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        ) as up,
    ):
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and up.poll() is None:
                with socket.socket() as sock:
                    if sock.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.2)
            assert up.poll() is None, log.read_text()
            done = subprocess.run(
                [sys.executable, "-m", "firegrid.cli", "simulate", "hydrant_drop", "--wait", "60"],
                env=environ,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        finally:
            up.send_signal(signal.SIGTERM)
            up.wait(30)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "PASS hydrant_drop [" in done.stdout
    # simulate left the running services alone: no second PostgreSQL or broker was started.
    assert "embedded" not in done.stdout


def test_firegrid_simulate_sends_gb26875_frames_to_the_configured_gateway(
    env: ScenarioEnv, broker_url: str
) -> None:
    role = RulesService(db_url=env.db_url, settings=RulesSettings(poll_s=0.5))
    role.start()
    try:
        with gateway_role(env) as gateway:
            done = _simulate(env, broker_url, "gb26875_fault", "--wait", "60", gateway=gateway)
    finally:
        role.stop()
    assert done.returncode == 0, done.stderr + done.stdout
    assert "PASS gb26875_fault [" in done.stdout
    assert ": 2/2 hazards, 0 extra," in done.stdout
    assert env.scalar("SELECT count(*) FROM hazards WHERE rule_id = 'transmission_fault'") == 2


def test_firegrid_simulate_skips_gb26875_scenarios_without_a_gateway(
    env: ScenarioEnv, broker_url: str
) -> None:
    done = _simulate(env, broker_url, "gb26875_fire", "--wait", "5")
    assert done.returncode == 0, done.stderr + done.stdout
    assert done.stdout.startswith("SKIP gb26875_fire: "), done.stdout
    assert "FIREGRID_GB26875" in done.stdout
    assert env.scalar("SELECT count(*) FROM devices WHERE kind = 'transmission'") == 0


def test_firegrid_simulate_all_runs_side_by_side_and_stops_at_the_first_failure(
    env: ScenarioEnv, broker_url: str
) -> None:
    # A gateway address nothing listens on: the GB/T 26875.3 scenarios cannot connect, and the
    # first of them to give up ends the run. --wait 0: the others are sent, not watched.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nobody = f"127.0.0.1:{closed.getsockname()[1]}"
    done = _simulate(env, broker_url, "--all", "--wait", "0", gateway=nobody)
    assert done.returncode == 1, done.stderr + done.stdout
    verdicts = [
        line for line in done.stdout.splitlines() if line.startswith(("SENT", "FAIL", "SKIP"))
    ]
    names = [v.split()[1].rstrip(":") for v in verdicts]
    # What ended by then, in the order of --list, whatever order it ended in.
    assert names == [n for n in SCENARIOS if n in names]
    failed = [v for v in verdicts if v.startswith("FAIL ")]
    assert len(failed) == 1, verdicts
    assert failed[0].split()[1].startswith("gb26875_"), failed
    assert f"the gateway at {nobody} did not confirm" in failed[0]
    assert "(last: Connection refused)" in failed[0]
    assert all(v.startswith("SENT ") for v in verdicts if v not in failed), verdicts
    # The rest (if the failure came before everything else ended) is named, not left out.
    stopped = [line for line in done.stdout.splitlines() if line.startswith("stopped")]
    left = stopped[0].split("not judged: ")[1].split(", ") if stopped else []
    assert sorted([*names, *left]) == sorted(SCENARIOS)


def test_firegrid_simulate_patrol_against_a_running_firegrid(
    env: ScenarioEnv, broker_url: str
) -> None:
    # The rules role's daily look every 2 s (instead of 10 min) and a 3 s settle (instead of
    # 60): what `firegrid up` reads from FIREGRID_RULES__*, and simulate waits for.
    fast = RulesSettings(poll_s=0.5, daily_every_s=2, rejudge_settle_s=3)
    role = RulesService(db_url=env.db_url, settings=fast)
    role.start()
    try:
        # Its first daily look has judged yesterday, before the scenario's street existed.
        deadline = time.monotonic() + 30
        while not env.rows("SELECT day FROM patrol_days") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert env.rows("SELECT day FROM patrol_days"), "the rules role judged no day"
        done = _simulate(
            env,
            broker_url,
            "patrol",
            "--wait",
            "30",
            settings={
                "FIREGRID_RULES__DAILY_EVERY_S": "2",
                "FIREGRID_RULES__REJUDGE_SETTLE_S": "3",
            },
        )
    finally:
        role.stop()
    assert done.returncode == 0, done.stderr + done.stdout
    verdicts = [line for line in done.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert len(verdicts) == 1, done.stdout
    assert verdicts[0].startswith("PASS patrol ["), done.stdout
    assert ": 3/3 hazards, 0 extra, " in verdicts[0]
    # Yesterday judged twice: once without the street, once again with it and its late tracks.
    assert env.rows("SELECT stale_at IS NULL FROM patrol_days") == [(True,)]
