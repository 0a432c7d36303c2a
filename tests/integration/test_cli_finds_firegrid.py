"""One FireGrid wherever the CLI runs (issue 10): the recorded instance, the fixed broker port,
the printed first command, and no second embedded database started silently."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fix_api import free_port
from tests.integration.up_support import Running, cli, get, running_up, user_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    # One FireGrid for the module's tests: starting one takes a while on a 2-core machine.
    home = tmp_path_factory.mktemp("running")
    with running_up(home) as up:
        yield up
    # Stopped, it forgets its record: a CLI command then says nothing runs.
    assert not (home / "state" / "firegrid" / "instance.json").exists()


def test_the_cli_run_elsewhere_uses_the_running_firegrid(running: Running, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The broker is on the configured fixed port, printed with the data directory.
    said = f"MQTT broker (embedded Mosquitto): mqtt://127.0.0.1:{running.mqtt_port}, data in " + (
        str(running.data_dir / "broker")
    )
    assert any(line.startswith(said) for line in running.lines), running.lines
    record = json.loads((running.home / "state" / "firegrid" / "instance.json").read_text())
    assert record["data_dir"] == str(running.data_dir)
    assert record["mqtt_url"] == f"mqtt://127.0.0.1:{running.mqtt_port}"
    assert record["api_url"] == running.api

    devices = elsewhere / "devices.json"
    devices.write_text(json.dumps([{"device_id": "ELSEWHERE-1", "kind": "hydrant"}]))
    # No FIREGRID_DATA_DIR, another directory: the recorded instance takes the import...
    done = cli(running.env, elsewhere, "devices", "import", "devices.json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["created"] == 1
    # ... which the running API serves, and no second database was started there.
    device = get(f"{running.api}/api/v1/devices/ELSEWHERE-1", running.token)
    assert device["kind"] == "hydrant"
    assert sorted(p.name for p in elsewhere.iterdir()) == ["devices.json"]
    assert "embedded" not in done.stdout + done.stderr


def test_the_printed_first_command_raises_a_hazard(running: Running) -> None:
    tries = running.lines[running.lines.index("try it:") + 1 :]
    publish = next(line.strip() for line in tries if line.strip().startswith("mosquitto_pub "))
    curl = next(line.strip() for line in tries if line.strip().startswith("curl "))
    assert f"-p {running.mqtt_port}" in publish
    assert running.token in curl
    sent = subprocess.run(
        ["bash", "-c", publish], capture_output=True, text=True, timeout=30, check=False
    )
    assert sent.returncode == 0, sent.stderr
    deadline = time.monotonic() + 30
    while True:
        listed = subprocess.run(
            ["bash", "-c", curl + " -s"], capture_output=True, text=True, timeout=30, check=False
        )
        items = json.loads(listed.stdout)["items"]
        alarms = [h for h in items if (h["rule"], h["device_id"]) == ("smoke_alarm", "DEMO-SMK-00")]
        if alarms:
            break
        assert time.monotonic() < deadline, listed.stdout
        time.sleep(0.5)
    assert alarms[0]["grid_code"] is not None  # the demo's detector sits inside a demo grid


def test_with_nothing_running_the_cli_says_so_and_starts_nothing(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = user_env(tmp_path)
    # Another checkout-less directory as the default data directory, so that a developer's own
    # running ./scripts/up is not found: nothing is recorded and nothing runs there.
    env["FIREGRID_DATA_DIR"] = str(elsewhere / "var")
    for args in (("token", "list"), ("simulate", "hydrant_drop"), ("migrate",)):
        done = cli(env, elsewhere, *args)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "no FireGrid runs on" in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    del env["FIREGRID_DATA_DIR"]
    done = cli(env, elsewhere, "token", "list")
    if done.returncode == 1:  # unless this checkout's own ./scripts/up is running right now
        assert "no running FireGrid found" in done.stderr
        assert "./scripts/up" in done.stderr
    assert list(elsewhere.iterdir()) == []  # no ./var: no second database


def test_a_taken_broker_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = user_env(tmp_path) | {
            "FIREGRID_DATA_DIR": str(tmp_path / "var"),
            "FIREGRID_HTTP": f"127.0.0.1:{free_port()}",
            "FIREGRID_EMBEDDED__MQTT_PORT": str(port),
        }
        done = cli(env, tmp_path, "up")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"firegrid: the embedded broker's port 127.0.0.1:{port} is taken (another FireGrid, or"
        " another broker?): stop it, or set FIREGRID_EMBEDDED__MQTT_PORT to a free port"
    ]
    assert not (tmp_path / "var" / "postgres").exists()
