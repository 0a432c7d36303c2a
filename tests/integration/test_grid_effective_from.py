"""A grid import's ``effective_from`` over HTTP and the CLI: stored, answered, refused clearly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from api.tokens import create_token
from firegrid.cli import main
from grids.effective import china_day
from simulators.grid_layout import generate_street
from tests.fix_db import private_database

STREET = generate_street(
    lat=29.5630, lon=106.5516, street_code="500103002", communities=1, grids_per_community=2
)


@pytest.fixture(scope="module")
def db(pg_admin_url: str) -> Iterator[str]:
    # Its own database: an effective date marks the patrol days other tests' ticks judged.
    yield from private_database(pg_admin_url, "fg_effective")


@pytest.fixture(scope="module")
def client(db: str) -> Iterator[TestClient]:
    app = create_app(ApiSettings(db_url=db), broker_probe=lambda: True)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def auth(db: str) -> dict[str, str]:
    with psycopg.connect(db) as conn:
        return {"Authorization": f"Bearer {create_token(conn, role='admin', areas=[])}"}


def post(client: TestClient, auth: dict[str, str], body: Any, **params: str) -> Any:
    return client.post(
        "/api/v1/grids/import",
        content=json.dumps(body).encode(),
        params=params,
        headers={**auth, "Content-Type": "application/geo+json"},
    )


def stored(db: str, version: int) -> Any:
    with psycopg.connect(db) as conn:
        row = conn.execute(
            "SELECT effective_from FROM grid_versions WHERE version = %s", (version,)
        ).fetchone()
    return None if row is None else row[0]


def test_the_api_takes_the_date_as_a_parameter_or_a_member_of_the_file(
    client: TestClient, auth: dict[str, str], db: str
) -> None:
    day = china_day() - timedelta(days=6)
    answer = post(client, auth, STREET, effective_from=day.isoformat())
    assert answer.status_code == 200, answer.text
    assert answer.json()["effective_from"] == day.isoformat()
    assert stored(db, answer.json()["version"]) == day
    # The same date both ways is no conflict; a member alone works as well.
    answer = post(client, auth, {**STREET, "effective_from": day.isoformat()})
    assert answer.json()["effective_from"] == day.isoformat()
    # Without one, grids count from the import, as before.
    answer = post(client, auth, STREET)
    assert answer.json()["effective_from"] is None
    assert stored(db, answer.json()["version"]) is None
    versions = client.get("/api/v1/grids/versions", headers=auth).json()["items"]
    assert [v["effective_from"] for v in versions[:3]] == [None, day.isoformat(), day.isoformat()]


@pytest.mark.parametrize(
    ("param", "member", "reason"),
    [
        ("tomorrow", None, "in_the_future"),
        ("2026-13-01", None, "invalid_date"),
        ("20261201", None, "invalid_date"),
        (None, 20261201, "invalid_date"),
        ("2026-11-01", "2026-11-02", "conflicting_dates"),
    ],
)
def test_the_api_refuses_a_bad_date_in_the_error_envelope(
    client: TestClient,
    auth: dict[str, str],
    db: str,
    param: str | None,
    member: Any,
    reason: str,
) -> None:
    if param == "tomorrow":
        param = (china_day() + timedelta(days=1)).isoformat()
    with psycopg.connect(db) as conn:
        before = conn.execute("SELECT count(*) FROM grid_versions").fetchone()
    body = STREET if member is None else {**STREET, "effective_from": member}
    answer = post(client, auth, body, **({} if param is None else {"effective_from": param}))
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_grids"
    assert [(d["where"], d["reason"]) for d in error["details"]] == [("effective_from", reason)]
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM grid_versions").fetchone() == before


def test_the_cli_takes_a_flag_and_refuses_a_future_date_with_exit_2(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "street.geojson"
    path.write_text(json.dumps(STREET), encoding="utf-8")
    day = china_day() - timedelta(days=1)
    args = ["--db-url", db, "grids", "import", str(path), "--effective-from"]
    assert main([*args, day.isoformat()]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["effective_from"] == day.isoformat()
    assert stored(db, out["version"]) == day
    tomorrow = (china_day() + timedelta(days=1)).isoformat()
    assert main([*args, tomorrow]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"effective_from: in_the_future: {tomorrow} is after today" in err
