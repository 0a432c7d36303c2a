"""The console in a real browser: a running FireGrid, Debian's Chromium driven by Playwright.

``console_up`` runs FireGrid as a subprocess (``firegrid up`` with the ingest, rules, dispatch and
api roles) on a database of its own (the rules and dispatch roles process every row they find,
so they must not see other tests' rows) and the session's broker, under its own topic prefix.
Before it starts, one street of two communities of four grids is imported (``ConsoleUp.grids``:
a point well inside each grid), so the rules role places hazards from the first alarm.
``browser`` is Chromium, headless; ``console`` is a page of it with an operator logged in.

Chromium comes from the distribution (``scripts/test`` installs it with apt when missing):
``playwright install`` downloads from the internet, which the test machines cannot reach. With
no Chromium at all the browser tests are skipped, saying so. Screenshots go to
``test-artifacts/console/`` (``shot``), which CI keeps.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from api.tokens import create_token
from firegrid.db import migrate
from grids.models import parse_grids
from grids.service import import_grids
from ingest.config import StorageSettings
from simulators.grid_layout import generate_street, grid_centres
from tests.fix_api import free_port
from tests.fix_db import create_database, drop_database

ROOT = Path(__file__).parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "console"
_CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
_UP_ROLES = ("ingest", "rules", "dispatch", "api")


def chromium_path() -> str | None:
    """Return the path of a Chromium the tests can drive, or None."""
    override = os.environ.get("FIREGRID_TEST_CHROMIUM")
    if override:
        return override
    for name in _CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class ConsoleUp:
    """A running FireGrid: its API's base URL, database, broker and topic prefix."""

    base_url: str
    db_url: str
    broker_url: str
    prefix: str
    log: Path
    process: subprocess.Popen[bytes]
    grids: dict[str, tuple[float, float]]

    def communities(self) -> list[str]:
        """The community codes of the imported street, in order."""
        return sorted({code[:12] for code in self.grids})

    def grids_of(self, community: str) -> list[str]:
        """The grid codes of one community, in order."""
        return sorted(code for code in self.grids if code.startswith(community))

    def token(self, role: str = "admin", areas: list[str] | None = None) -> str:
        """Create an API token of ``role`` for ``areas`` (none: city-wide)."""
        with psycopg.connect(self.db_url) as conn:
            return create_token(conn, role=role, areas=areas or [])

    def api(self, method: str, path: str, token: str, body: Any = None) -> Any:
        """Call the API as ``token``; return the decoded JSON answer (fail on an error)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as answer:
            pytest.fail(f"{method} {path}: {answer.code} {answer.read()!r}")

    def ready(self) -> bool:
        """Say whether /healthz answers 200 with every role up."""
        try:
            with urllib.request.urlopen(self.base_url + "/healthz", timeout=5) as answer:
                body = json.loads(answer.read())
        except (OSError, ValueError):
            return False
        return set(_UP_ROLES) <= set(body.get("roles", {}))

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait until every role is up; False if the process ended or time ran out first."""
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def stop(self) -> None:
        """Stop FireGrid (SIGTERM: a clean shutdown), killing it if it does not end."""
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def import_street(db_url: str) -> dict[str, tuple[float, float]]:
    """Import one street of two communities of four grids; return a point inside each grid."""
    collection = generate_street(
        lat=31.262,
        lon=120.618,
        street_code="320508005",
        street_name="双塔街道",
        communities=2,
        grids_per_community=4,
        cell_m=250.0,
    )
    with psycopg.connect(db_url) as conn:
        import_grids(conn, grid_set=parse_grids(collection), source="console tests")
    return grid_centres(collection)


def start_up(
    tmp: Path, db_url: str, broker_url: str, grids: dict[str, tuple[float, float]]
) -> ConsoleUp:
    """Start ``firegrid up`` with the ingest, rules, dispatch and api roles; do not wait."""
    port = free_port()
    tag = uuid.uuid4().hex[:8]
    prefix = f"fgconsole{tag}/v1"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREGRID_")}
    env.update(
        PYTHONUNBUFFERED="1",
        FIREGRID_DB_URL=db_url,
        FIREGRID_MQTT_URL=broker_url,
        FIREGRID_HTTP=f"127.0.0.1:{port}",
        FIREGRID_DATA_DIR=str(tmp / "var"),
        FIREGRID_INGEST__TOPIC_PREFIX=prefix,
        FIREGRID_INGEST__CLIENT_ID=f"fg-console-{tag}",
        FIREGRID_RULES__POLL_S="0.2",
    )
    log = tmp / "up.log"
    roles = [arg for role in _UP_ROLES for arg in ("--role", role)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "firegrid.cli", "up", *roles, "--no-simulate"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return ConsoleUp(f"http://127.0.0.1:{port}", db_url, broker_url, prefix, log, process, grids)


# One FireGrid for every browser test of the session: each test registers its own devices and
# units (a tag of its own), so they share it without seeing each other's alarms.
@pytest.fixture(scope="session")
def console_up(
    pg_admin_url: str, broker_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsoleUp]:
    """FireGrid running with ingest, rules, dispatch and the API, on a database of its own."""
    name = f"fg_console_{uuid.uuid4().hex[:8]}"
    db_url = create_database(pg_admin_url, name)
    migrate(db_url, storage=StorageSettings())
    grids = import_street(db_url)  # before the start: the rules role places the first alarm
    up = start_up(tmp_path_factory.mktemp("console"), db_url, broker_url, grids)
    try:
        if not up.wait_ready(60):
            pytest.fail(f"FireGrid did not start:\n{up.log.read_text()}", pytrace=False)
        yield up
    finally:
        up.stop()
        drop_database(pg_admin_url, name)


def launch_chromium(playwright: Any, executable: str) -> Any:
    """Launch Chromium headless through Playwright (sync API)."""
    # --no-sandbox: the test machines run as root, where Chromium's sandbox refuses to start.
    return playwright.chromium.launch(
        executable_path=executable, headless=True, args=["--no-sandbox"]
    )


# Per module, not per session: Playwright's sync API keeps an asyncio loop running in the main
# thread while it is open, and every later test that calls asyncio.run() would then fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, headless, driven by Playwright; skipped when the machine has none, except
    under ``scripts/test`` (FIREGRID_NEED_BROWSER=1), which installed it: there a missing
    browser fails, so the console's tests never pass by not running."""
    executable = chromium_path()
    if executable is None:
        why = (
            "no Chromium found (apt-get install chromium; scripts/test does it) "
            "or set FIREGRID_TEST_CHROMIUM"
        )
        if os.environ.get("FIREGRID_NEED_BROWSER") == "1":
            pytest.fail(why)
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright, executable)
        try:
            yield chromium
        finally:
            chromium.close()


class Shots:
    """Numbered screenshots of one test under test-artifacts/console/<test>/."""

    def __init__(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.folder = folder
        self.count = 0

    def take(self, page: Any, what: str) -> Path:
        """Save a full-page screenshot of ``page`` named after the step ``what``."""
        self.count += 1
        path = self.folder / f"{self.count:02d}-{what}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    """Where this test's screenshots go."""
    return Shots(ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name))


# What the console's pages said went wrong in this test: uncaught exceptions, and errors logged
# to the browser console (a Content-Security-Policy refusal among them). A failed request is
# not one: tests provoke 401s and disconnections on purpose, and the pages show those.
_PAGE_ERRORS: list[str] = []


def watch_errors(page: Any) -> Any:
    """Record ``page``'s script errors for ``no_page_errors`` to check; return the page."""
    # With the stack: an error inside a vendored library says little without where it came from.
    page.on("pageerror", lambda error: _PAGE_ERRORS.append(f"{page.url}: {error.stack or error}"))

    def logged(message: Any) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            _PAGE_ERRORS.append(f"{page.url}: {message.text}")

    page.on("console", logged)
    return page


@pytest.fixture(autouse=True)
def no_page_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a browser test whose pages raised or logged a script error."""
    _PAGE_ERRORS.clear()
    yield
    if request.node.get_closest_marker("browser") is not None:
        assert _PAGE_ERRORS == [], "the console's pages reported errors"


def open_console(browser: Any, base_url: str, token: str) -> Any:
    """Open the console in a fresh browser context and log in with ``token``; return the page."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = watch_errors(context.new_page())
    page.goto(base_url + "/")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=nav]")
    return page


@pytest.fixture
def console(browser: Any, console_up: ConsoleUp) -> Iterator[Any]:
    """A console page with a city-wide admin logged in."""
    page = open_console(browser, console_up.base_url, console_up.token())
    try:
        yield page
    finally:
        page.context.close()
