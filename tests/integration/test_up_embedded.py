"""`firegrid up` on the embedded defaults, with CLI commands run beside it (CONTRACT §5)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(data_dir: Path, port: int) -> dict[str, str]:
    # Without PYTHONUNBUFFERED, as under systemd or nohup: FireGrid's own line buffering must
    # get its lines into a file at once (CI sets the variable, which once hid that it did not).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FIREGRID_") and k != "PYTHONUNBUFFERED"
    }
    env.update(
        FIREGRID_DATA_DIR=str(data_dir),
        FIREGRID_HTTP=f"127.0.0.1:{port}",
        FIREGRID_EMBEDDED__MQTT_PORT="0",  # any free port: not a developer's ./scripts/up's
    )
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "firegrid.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def test_up_then_import_beside_it_then_a_second_up_is_refused(tmp_path: Path) -> None:
    port = _free_port()
    env = _env(tmp_path / "var", port)
    log, errors = tmp_path / "up.log", tmp_path / "up.err"
    with log.open("wb") as out, errors.open("wb") as err:
        up = subprocess.Popen(
            [sys.executable, "-m", "firegrid.cli", "up", "--no-simulate"],
            env=env,
            stdout=out,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 60
        while not _healthy(port):
            assert up.poll() is None, log.read_text() + errors.read_text()
            assert time.monotonic() < deadline, log.read_text() + errors.read_text()
            time.sleep(0.2)
        # Every line `firegrid up` prints is in the file while it runs, not when it stops.
        lines = log.read_text().splitlines()
        assert f"data directory: {tmp_path / 'var'}" in lines
        assert any(line.startswith("PostgreSQL (embedded): data in /") for line in lines)
        assert any(line.startswith("MQTT broker (embedded Mosquitto)") for line in lines)
        assert any(line.startswith("API token (admin, printed once): fg_") for line in lines)
        assert f"API: http://127.0.0.1:{port}/docs" in lines
        assert f"console: http://127.0.0.1:{port}/ (paste the API token to log in)" in lines

        devices = tmp_path / "devices.json"
        devices.write_text(json.dumps([{"device_id": "BESIDE-1", "kind": "hydrant"}]))
        done = _cli(env, "devices", "import", str(devices))
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["created"] == 1
        assert up.poll() is None, "importing beside `firegrid up` must not disturb it"
        assert _healthy(port)
        _device_credentials_on_the_running_broker(env, tmp_path / "var", done.stdout)

        second = _cli({**env, "FIREGRID_HTTP": f"127.0.0.1:{_free_port()}"}, "up")
        assert second.returncode == 1
        assert "already runs the embedded services" in second.stderr
        assert _healthy(port)
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(30)
    owners = list((tmp_path / "var").glob("*/owner.pid"))
    assert owners == [], "the embedded services were not stopped with FireGrid"


def _device_credentials_on_the_running_broker(
    env: dict[str, str], data_dir: Path, import_output: str
) -> None:
    """The credential an import printed works on `up`'s broker, ingest stores what it sends,
    and a rotation beside `up` stops the old secret at once (issue 10 point 1)."""
    import psycopg

    from firegrid.embedded import running_urls
    from firegrid.embedded.accounts import with_user
    from tests.integration.credentials_support import DELIVERED, NOT_AUTHORIZED, Probe

    [cred] = json.loads(import_output)["credentials"]
    assert cred["username"] == "BESIDE-1"
    db_url, service_url = running_urls(data_dir)
    assert db_url is not None
    assert service_url is not None
    anonymous = "mqtt://" + service_url.rpartition("@")[2]
    with Probe(anonymous, client_id="anonymous") as nobody:
        assert nobody.refused
    sample = b'{"ts": "2026-11-26T06:30:00Z", "values": {"pressure_mpa": 0.42}}'
    with Probe(with_user(anonymous, "BESIDE-1", cred["password"]), client_id="B1") as device:
        assert device.accepted
        assert device.publish("fg/v1/d/BESIDE-1/telemetry", sample) in DELIVERED
        assert device.publish("fg/v1/d/OTHER/telemetry", sample) == NOT_AUTHORIZED
    deadline = time.monotonic() + 30
    with psycopg.connect(db_url, autocommit=True) as conn:
        while (
            conn.execute(
                "SELECT 1 FROM readings WHERE device_id = 'BESIDE-1' AND value = 0.42"
            ).fetchone()
            is None
        ):
            assert time.monotonic() < deadline, "ingest did not store the device's reading"
            time.sleep(0.1)
    rotated = _cli(env, "devices", "credentials", "rotate", "BESIDE-1")
    assert rotated.returncode == 0, rotated.stderr
    new = json.loads(rotated.stdout)["password"]
    with Probe(with_user(anonymous, "BESIDE-1", cred["password"]), client_id="B1") as old:
        assert old.refused
    with Probe(with_user(anonymous, "BESIDE-1", new), client_id="B1") as device:
        assert device.accepted
