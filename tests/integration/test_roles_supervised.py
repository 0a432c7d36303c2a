"""Roles die loudly: a fault in a real role shows in /healthz, the supervisor restarts the role,
and a role that keeps failing ends the process with exit code 1 (issue 7, "Roles die silently").

FireGrid runs as a subprocess (``tests.integration.faulty_up``: ``runtime.run`` with a hook that
injects faults into the real roles) against the test database and broker.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from firegrid.db import migrate
from ingest.config import StorageSettings
from tests.fix_db import create_database, drop_database

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Up:
    """A running FireGrid with fault triggers."""

    process: subprocess.Popen[bytes]
    port: int
    triggers: Path
    log: Path

    def health(self) -> tuple[int, dict[str, Any]]:
        """Return /healthz's status and body (0 and {} while nothing answers)."""
        url = f"http://127.0.0.1:{self.port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return int(answer.status), json.loads(answer.read())
        except urllib.error.HTTPError as answer:
            return int(answer.code), json.loads(answer.read())
        except OSError:
            return 0, {}

    def wait_health(
        self, accept: Callable[[int, dict[str, Any]], bool], what: str, timeout_s: float = 60
    ) -> dict[str, Any]:
        """Poll /healthz until ``accept`` holds; fail with the log otherwise."""
        deadline = time.monotonic() + timeout_s
        seen: tuple[int, dict[str, Any]] = (0, {})
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"FireGrid exited:\n{self.log.read_text()}"
            seen = self.health()
            if accept(*seen):
                return seen[1]
            time.sleep(0.05)
        pytest.fail(f"timed out waiting for {what}; last /healthz {seen}\n{self.log.read_text()}")


def _start(tmp: Path, db_url: str, broker_url: str, **extra: str) -> Up:
    port = _free_port()
    triggers = tmp / "triggers"
    triggers.mkdir(exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREGRID_")}
    env.update(
        PYTHONUNBUFFERED="1",
        FIREGRID_DB_URL=db_url,
        FIREGRID_MQTT_URL=broker_url,
        FIREGRID_HTTP=f"127.0.0.1:{port}",
        FIREGRID_DATA_DIR=str(tmp / "var"),
        FIREGRID_INGEST__TOPIC_PREFIX=f"fgroles{tag}/v1",
        FIREGRID_INGEST__CLIENT_ID=f"fg-roles-{tag}",
        FIREGRID_RULES__POLL_S="0.2",
        FIREGRID_ROLES__CHECK_EVERY_S="0.1",
        **extra,
    )
    log = tmp / f"up-{tag}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.faulty_up", str(triggers)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Up(process, port, triggers, log)


def _all_ready(status: int, body: dict[str, Any]) -> bool:
    return status == 200 and set(body.get("roles", {})) == {"ingest", "maintenance", "rules", "api"}


@pytest.fixture(scope="module")
def own_db(pg_admin_url: str) -> Iterator[str]:
    """A database of these tests' own: the rules role they run processes all it finds."""
    name = f"fg_roles_{uuid.uuid4().hex[:8]}"
    url = create_database(pg_admin_url, name)
    migrate(url, storage=StorageSettings())
    yield url
    drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def up(own_db: str, broker_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """One FireGrid for the restart tests; a back-off wide enough to see the role down."""
    running = _start(
        tmp_path_factory.mktemp("roles"),
        own_db,
        broker_url,
        FIREGRID_ROLES__BACKOFF_INITIAL_S="1.5",
        FIREGRID_ROLES__MAX_FAILURES="10",
    )
    try:
        running.wait_health(_all_ready, "every role running")
        yield running
    finally:
        running.process.terminate()
        running.process.wait(30)


@pytest.mark.parametrize("role", ["ingest", "rules", "maintenance"])
def test_a_fault_in_a_role_answers_503_then_the_role_is_restarted(up: Up, role: str) -> None:
    up.wait_health(_all_ready, "every role running")
    (up.triggers / role).write_text("once")

    down = up.wait_health(
        lambda status, body: status == 503 and body["roles"][role]["state"] == "failed",
        f"/healthz to answer 503 with {role} failed",
    )
    assert down["ready"] is False
    assert "injected" in down["roles"][role]["detail"] or "restart" in down["roles"][role]["detail"]
    assert not (up.triggers / role).exists(), "the fault did not fire in the role"

    back = up.wait_health(_all_ready, f"{role} restarted and /healthz back to 200")
    assert back["roles"][role]["state"] == "running"
    assert f"restarting role {role}" in up.log.read_text()


def test_a_role_that_keeps_failing_ends_the_process_with_exit_code_1(
    own_db: str, broker_url: str, tmp_path: Path
) -> None:
    (tmp_path / "triggers").mkdir()
    (tmp_path / "triggers" / "rules").write_text("always")
    failing = _start(
        tmp_path,
        own_db,
        broker_url,
        FIREGRID_ROLES__BACKOFF_INITIAL_S="0.1",
        FIREGRID_ROLES__MAX_FAILURES="3",
    )
    try:
        code = failing.process.wait(90)
    finally:
        if failing.process.poll() is None:
            failing.process.kill()
            failing.process.wait()
    text = failing.log.read_text()
    assert code == 1, text
    assert "role rules failed 3 times" in text
    assert text.count("faulty_up: injecting a failure into rules") == 3
