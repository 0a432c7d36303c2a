"""The API for tests: a TestClient or a real uvicorn on loopback, tokens, a stored hazard.

A conftest plugin: ``client`` (the app in a TestClient, no token) and ``auth`` (an admin's
token header) are fixtures for every test; a module needing another app defines its own.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from api.tokens import create_token
from dispatch.models import Deadlines
from infra.clock import SYSTEM_CLOCK, Clock


def free_port() -> int:
    """Return a TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread; yield its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start", pytrace=False)
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def bearer(
    db_url: str, role: str = "admin", areas: list[str] | None = None, **token: Any
) -> dict[str, str]:
    """Create a token (``token``: its staff member, name...) and return the header sending it."""
    with psycopg.connect(db_url) as conn:
        issued = create_token(conn, role=role, areas=areas or [], **token)
    return {"Authorization": f"Bearer {issued}"}


def api_client(
    db_url: str,
    headers: dict[str, str] | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
    deadlines: Deadlines | None = None,
) -> TestClient:
    """Return the API on ``db_url`` in a TestClient to enter, sending ``headers`` each request."""
    # The broker probe answers "up": these tests judge the API, not the broker's health.
    app = create_app(
        ApiSettings(db_url=db_url), broker_probe=lambda: True, clock=clock, deadlines=deadlines
    )
    return TestClient(app, headers=headers)


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    """The API on the test database in a TestClient, sending no token of its own."""
    with api_client(db_url) as test_client:
        yield test_client


@pytest.fixture
def auth(db_url: str) -> dict[str, str]:
    """The header of a fresh city-wide admin token."""
    return bearer(db_url)


def open_hazard(db_url: str) -> int:
    """Store an open hazard of a device of its own; return its id."""
    device = f"API-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "INSERT INTO hazards (rule_id, kind, severity, status, subject_type, subject_id,"
            " key, device_id, opened_at, episode)"
            " VALUES ('hydrant_municipal_low', 'threshold', 'warning', 'open', 'device', %s,"
            " %s, %s, now(), 1) RETURNING id",
            (device, device + "/pressure_mpa", device),
        ).fetchone()
        assert row is not None
        return int(row[0])
