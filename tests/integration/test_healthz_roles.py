"""/healthz reports each role and answers 503 when one is down or lags past the bound."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.routes import system
from infra.database import open_pool
from infra.roles import RoleHealth

Healthz = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def healthz(db_url: str) -> Iterator[Healthz]:
    """Ask /healthz of an app whose runtime reports the given role healths."""
    pool = open_pool(db_url, name="test-healthz", max_size=2)
    pool.open()

    def ask(roles: dict[str, RoleHealth] | None, max_lag_s: float = 60.0) -> tuple[int, Any]:
        app = FastAPI()
        app.include_router(system.router)
        app.state.pool = pool
        app.state.broker_probe = lambda: True
        if roles is not None:
            app.state.role_health = lambda: roles
            app.state.role_max_lag_s = max_lag_s
        with TestClient(app) as client:
            answer = client.get("/healthz")
        return answer.status_code, answer.json()

    try:
        yield ask
    finally:
        pool.close()


def test_every_role_running_within_its_lag_is_200(healthz: Healthz) -> None:
    status, body = healthz(
        {"ingest": RoleHealth("running", 0.5, "3 messages buffered"), "api": RoleHealth("running")}
    )
    assert status == 200
    assert body["ready"] is True
    assert body["database"] == {"ok": True}
    assert body["roles"]["ingest"] == {
        "ok": True,
        "state": "running",
        "lag_s": 0.5,
        "detail": "3 messages buffered",
    }
    assert body["roles"]["api"]["lag_s"] is None


def test_a_failed_role_is_503(healthz: Healthz) -> None:
    status, body = healthz(
        {"ingest": RoleHealth("running", 0.0), "rules": RoleHealth("failed", None, "boom")}
    )
    assert status == 503
    assert body["status"] == "degraded"
    assert body["ready"] is False
    assert body["live"] is True
    assert body["roles"]["rules"] == {
        "ok": False,
        "state": "failed",
        "lag_s": None,
        "detail": "boom",
    }


def test_a_role_lagging_past_the_bound_is_503(healthz: Healthz) -> None:
    roles = {"rules": RoleHealth("running", 61.0)}
    status, body = healthz(roles, max_lag_s=60)
    assert status == 503
    assert body["roles"]["rules"]["ok"] is False
    assert healthz(roles, max_lag_s=120)[0] == 200


def test_a_degraded_role_is_not_ready(healthz: Healthz) -> None:
    assert healthz({"rules": RoleHealth("degraded", None, "database: gone")})[0] == 503


def test_an_app_without_roles_reports_none(healthz: Healthz) -> None:
    status, body = healthz(None)
    assert status == 200
    assert body["roles"] == {}
