"""GET /api/v1/cases and /cases/{id}: filters, cursor pagination, the token's area scope."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.fix_api import api_client, bearer
from tests.integration.case_support import open_case

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def _street() -> str:
    return f"35{uuid.uuid4().int % 10**7:07d}"


def _open(db_url: str, street: str, n: int, minute: int) -> str:
    with psycopg.connect(db_url) as conn:
        return open_case(conn, street, unit=f"U{n}", now=T0 + timedelta(minutes=minute))


@pytest.fixture
def client_for(db_url: str) -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(areas: list[str]) -> TestClient:
        client = api_client(db_url, bearer(db_url, "operator", areas))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def test_list_pages_newest_first_within_the_area(db_url: str, client_for: Any) -> None:
    mine, other = _street(), _street()
    ids = [_open(db_url, mine, n, minute=n) for n in range(3)]
    foreign = _open(db_url, other, 0, minute=5)
    api = client_for([mine])
    first = api.get("/api/v1/cases", params={"limit": 2}).json()
    assert [c["id"] for c in first["items"]] == [ids[2], ids[1]]
    assert first["next_cursor"] is not None
    rest = api.get("/api/v1/cases", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [c["id"] for c in rest["items"]] == [ids[0]]
    assert rest["next_cursor"] is None
    item = first["items"][0]
    for name in (
        "id",
        "hazard_ids",
        "report_ids",
        "category",
        "status",
        "grid_code",
        "assignee",
        "escalation_level",
        "deadline",
        "created_at",
        "closed_at",
    ):
        assert name in item
    assert item["created_at"].endswith("Z")
    # Another street's case is not listed and answers like a missing one.
    assert api.get(f"/api/v1/cases/{foreign}").status_code == 404
    one = api.get(f"/api/v1/cases/{ids[0]}").json()
    assert [s["action"] for s in one["history"]] == ["report", "file"]
    filtered = api.get("/api/v1/cases", params={"grid": mine + "001", "status": "filed"}).json()
    assert len(filtered["items"]) == 3
    assert api.get("/api/v1/cases", params={"status": "closed", "grid": mine}).json()["items"] == []
    assert api.get("/api/v1/cases", params={"cursor": "nonsense"}).status_code == 400
