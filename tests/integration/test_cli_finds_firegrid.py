"""One FireGrid wherever the CLI runs (issue 10): the recorded instance, the fixed broker port,
the printed first command, and no second embedded database started silently."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _base_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a user's shell: no FIREGRID_ settings, their own state directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREGRID_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    return env


def _cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "firegrid.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _get(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.loads(answer.read())


@dataclass
class Running:
    """A `firegrid up` with the demo, as ./scripts/up starts it, and what it printed."""

    env: dict[str, str]
    home: Path  # the user's state directory is home / "state"
    data_dir: Path
    mqtt_port: int
    api: str
    log: Path

    @property
    def lines(self) -> list[str]:
        """Return what it has printed so far."""
        return self.log.read_text().splitlines()

    @property
    def token(self) -> str:
        """Return the admin token it printed."""
        line = next(x for x in self.lines if x.startswith("API token (admin, printed once): "))
        return line.rsplit(" ", 1)[1]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    # One FireGrid for the module's tests: starting one takes a while on a 2-core machine.
    tmp_path = tmp_path_factory.mktemp("running")
    http, mqtt = _free_port(), _free_port()
    env = _base_env(tmp_path)
    up_env = env | {
        "FIREGRID_DATA_DIR": str(tmp_path / "var"),
        "FIREGRID_HTTP": f"127.0.0.1:{http}",
        "FIREGRID_EMBEDDED__MQTT_PORT": str(mqtt),
    }
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen(
            [sys.executable, "-m", "firegrid.cli", "up"],
            env=up_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    state = Running(env, tmp_path, tmp_path / "var", mqtt, f"http://127.0.0.1:{http}", log)
    try:
        deadline = time.monotonic() + 90
        while not any(line.startswith("  curl ") for line in state.lines):
            assert up.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield state
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(60)
    # Stopped, it forgets its record: a CLI command then says nothing runs.
    assert not (tmp_path / "state" / "firegrid" / "instance.json").exists()


def test_the_cli_run_elsewhere_uses_the_running_firegrid(running: Running, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The broker is on the configured fixed port, printed with the data directory.
    assert (
        f"MQTT broker (embedded Mosquitto): mqtt://127.0.0.1:{running.mqtt_port}, data in "
        + (str(running.data_dir / "broker"))
        in running.lines
    )
    record = json.loads((running.home / "state" / "firegrid" / "instance.json").read_text())
    assert record["data_dir"] == str(running.data_dir)
    assert record["mqtt_url"] == f"mqtt://127.0.0.1:{running.mqtt_port}"
    assert record["api_url"] == running.api

    devices = elsewhere / "devices.json"
    devices.write_text(json.dumps([{"device_id": "ELSEWHERE-1", "kind": "hydrant"}]))
    # No FIREGRID_DATA_DIR, another directory: the recorded instance takes the import...
    done = _cli(running.env, elsewhere, "devices", "import", "devices.json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["created"] == 1
    # ... which the running API serves, and no second database was started there.
    device = _get(f"{running.api}/api/v1/devices/ELSEWHERE-1", running.token)
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
    env = _base_env(tmp_path)
    # Another checkout-less directory as the default data directory, so that a developer's own
    # running ./scripts/up is not found: nothing is recorded and nothing runs there.
    env["FIREGRID_DATA_DIR"] = str(elsewhere / "var")
    for args in (("token", "list"), ("simulate", "hydrant_drop"), ("migrate",)):
        done = _cli(env, elsewhere, *args)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "no FireGrid runs on" in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    del env["FIREGRID_DATA_DIR"]
    done = _cli(env, elsewhere, "token", "list")
    if done.returncode == 1:  # unless this checkout's own ./scripts/up is running right now
        assert "no running FireGrid found" in done.stderr
        assert "./scripts/up" in done.stderr
    assert list(elsewhere.iterdir()) == []  # no ./var: no second database


def test_a_taken_broker_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = _base_env(tmp_path) | {
            "FIREGRID_DATA_DIR": str(tmp_path / "var"),
            "FIREGRID_HTTP": f"127.0.0.1:{_free_port()}",
            "FIREGRID_EMBEDDED__MQTT_PORT": str(port),
        }
        done = _cli(env, tmp_path, "up")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"firegrid: the embedded broker's port 127.0.0.1:{port} is taken (another FireGrid, or"
        " another broker?): stop it, or set FIREGRID_EMBEDDED__MQTT_PORT to a free port"
    ]
    assert not (tmp_path / "var" / "postgres").exists()
