"""A query parameter a route does not declare is a 400 ``unknown_parameter``, route by route;
and the hazard list filters by the severity and kind it shows."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.fix_api import open_hazard


@pytest.fixture
def client(client: TestClient, auth: dict[str, str]) -> TestClient:
    """The shared client, sending an admin's token with every request."""
    client.headers.update(auth)
    return client


def _operations(client: TestClient) -> list[tuple[str, str]]:
    """Every (method, path) of the OpenAPI document, path parameters filled in."""
    paths: dict[str, dict[str, Any]] = client.get("/openapi.json").json()["paths"]
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "x1", path))
        for path, ops in paths.items()
        for method in ops
    ]


def _assert_unknown(answer: Any, *names: str) -> None:
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "unknown_parameter"
    assert error["details"]["unknown"] == sorted(names)
    assert error["request_id"] == answer.headers["X-Request-ID"]


def test_every_route_refuses_an_unknown_query_parameter(client: TestClient) -> None:
    operations = _operations(client)
    assert ("GET", "/api/v1/hazards") in operations
    for method, path in operations:
        if path == "/api/v1/stream":
            continue  # a stream that opened would never end; checked below without opening
        answer = client.request(method, path, params={"no_such_filter": "1"})
        _assert_unknown(answer, "no_such_filter")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/hazards?severty=critical",
        "/api/v1/cases?state=open",
        "/api/v1/grids?lvl=grid",
        "/api/v1/rejected?topics=a",
        "/api/v1/devices/D-1/readings?metric=pressure_mpa&form=2026-01-01T00:00:00Z",
        "/api/v1/terminals/T-1/track?until=2026-01-01T00:00:00Z",
        "/api/v1/terminals/T-1/patrols?page=2",
        "/api/v1/webhooks/failures?offset=10",
        "/api/v1/stream?severty=critical",
    ],
)
def test_lists_name_the_misspelt_filter(client: TestClient, path: str) -> None:
    name = re.split(r"[?&]", path)[-1].partition("=")[0]
    _assert_unknown(client.get(path), name)


def test_declared_parameters_and_aliases_pass(client: TestClient) -> None:
    assert client.get("/api/v1/hazards?status=open&limit=5&crs=wgs84").status_code == 200
    assert client.get("/api/v1/terminals/T-1/track?from=2026-01-01T00:00:00Z").status_code == 200
    # Several unknown parameters are all named, each once.
    _assert_unknown(client.get("/api/v1/hazards?b=1&a=2&a=3"), "a", "b")


def test_hazards_filter_by_severity_and_kind(client: TestClient, db_url: str) -> None:
    warning = open_hazard(db_url)  # a warning threshold hazard
    critical = open_hazard(db_url)
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "UPDATE hazards SET severity = 'critical', kind = 'stale' WHERE id = %s", (critical,)
        )

    def ids(query: str) -> set[int]:
        answer = client.get(f"/api/v1/hazards?{query}&limit=500")
        assert answer.status_code == 200, answer.text
        return {item["id"] for item in answer.json()["items"]}

    assert critical in ids("severity=critical")
    assert warning not in ids("severity=critical")
    assert warning in ids("severity=warning")
    assert critical not in ids("severity=warning")
    assert critical in ids("kind=stale")
    assert warning not in ids("kind=stale")
    assert client.get("/api/v1/hazards?severity=bogus").status_code in (400, 422)
