"""A `firegrid up` on the embedded services, started as ./scripts/up starts it, for CLI tests.

The user's shell is imitated: no FIREGRID_ settings but the data directory, the API and broker
ports (free ones, so a developer's own ./scripts/up is never disturbed) and what a test adds;
the user's state directory (``XDG_STATE_HOME``) is the test's own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fix_api import free_port


def user_env(home: Path) -> dict[str, str]:
    """Return a user's environment: no FIREGRID_ settings, their state directory in ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREGRID_")}
    env["XDG_STATE_HOME"] = str(home / "state")
    return env


def cli(env: dict[str, str], cwd: Path, *args: str, timeout: float = 120) -> Completed:
    """Run ``firegrid ARGS`` in ``cwd`` and return what it did."""
    return subprocess.run(
        [sys.executable, "-m", "firegrid.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


Completed = subprocess.CompletedProcess[str]


def get(url: str, token: str) -> Any:
    """GET ``url`` with the token; return the JSON body."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


@dataclass
class Running:
    """A running `firegrid up` with the demo, and what it printed."""

    env: dict[str, str]  # the user's environment, without the FireGrid's own settings
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


@contextmanager
def running_up(home: Path, **settings: str) -> Iterator[Running]:
    """Start `firegrid up` (demo included) with ``settings`` added; stop it after."""
    http, mqtt = free_port(), free_port()
    env = user_env(home)
    up_env = env | {
        "FIREGRID_DATA_DIR": str(home / "var"),
        "FIREGRID_HTTP": f"127.0.0.1:{http}",
        "FIREGRID_EMBEDDED__MQTT_PORT": str(mqtt),
        **settings,
    }
    log = home / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen(
            [sys.executable, "-m", "firegrid.cli", "up"],
            env=up_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    state = Running(env, home, home / "var", mqtt, f"http://127.0.0.1:{http}", log)
    try:
        deadline = time.monotonic() + 90
        # Its last line at start (the commands to try), and the API answering.
        while not (any(line.startswith("  curl ") for line in state.lines) and _answers(state)):
            assert up.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield state
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(60)


def _answers(state: Running) -> bool:
    try:
        with urllib.request.urlopen(f"{state.api}/healthz", timeout=2):
            return True
    except urllib.error.HTTPError:  # 503 while a role is still starting: it answers
        return True
    except OSError:
        return False
