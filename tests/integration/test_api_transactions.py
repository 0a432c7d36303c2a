"""The API's use of the database, over real HTTP: a write is committed before its answer, a
failed commit is an error, one connection per request, and the database away is a 503."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from api.app import create_app
from api.settings import ApiLimits, ApiSettings
from firegrid.db import migrate
from firegrid.embedded import start_postgres
from ingest.config import StorageSettings
from tests.fix_api import bearer, open_hazard, serve
from tests.fix_ingest import wait_until


@contextmanager
def commit_trigger(db_url: str, hazard_id: int, body: str) -> Iterator[None]:
    """Run plpgsql ``body`` when a transaction that updated ``hazard_id`` commits.

    A deferred constraint trigger fires at COMMIT: it makes a commit slow or fail, as a busy
    or failing server would, with nothing of the API replaced.
    """
    name = f"commit_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body};"
                " RETURN NULL; END $$"
            ).format(fn=sql.Identifier(name), body=sql.SQL(body))  # type: ignore[arg-type]
        )
        conn.execute(
            sql.SQL(
                "CREATE CONSTRAINT TRIGGER {name} AFTER UPDATE ON hazards"
                " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.id = {id})"
                " EXECUTE FUNCTION {fn}()"
            ).format(name=sql.Identifier(name), id=sql.Literal(hazard_id), fn=sql.Identifier(name))
        )
    try:
        yield
    finally:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP TRIGGER {} ON hazards").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP FUNCTION {}()").format(sql.Identifier(name)))


def _status(conn: psycopg.Connection[tuple[str]], hazard_id: int) -> str:
    row = conn.execute("SELECT status FROM hazards WHERE id = %s", (hazard_id,)).fetchone()
    assert row is not None
    return str(row[0])


def test_an_acknowledgement_is_committed_when_its_answer_arrives(db_url: str) -> None:
    hazard_id = open_hazard(db_url)
    headers = bearer(db_url)
    app = create_app(ApiSettings(db_url=db_url), broker_probe=lambda: True)
    # A commit taking half a second: an answer sent before its commit arrives while the hazard
    # still reads open to everyone else.
    with (
        commit_trigger(db_url, hazard_id, "PERFORM pg_sleep(0.5)"),
        serve(app) as base,
        psycopg.connect(db_url, autocommit=True) as watcher,
    ):
        answer = httpx.post(f"{base}/api/v1/hazards/{hazard_id}/ack", headers=headers)
        seen = _status(watcher, hazard_id)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "acknowledged"
    assert seen == "acknowledged"


def test_a_commit_that_fails_is_an_error_answer(db_url: str) -> None:
    hazard_id = open_hazard(db_url)
    headers = bearer(db_url)
    app = create_app(ApiSettings(db_url=db_url), broker_probe=lambda: True)
    with (
        commit_trigger(db_url, hazard_id, "RAISE EXCEPTION 'refused at commit'"),
        serve(app) as base,
        psycopg.connect(db_url, autocommit=True) as watcher,
    ):
        answer = httpx.post(f"{base}/api/v1/hazards/{hazard_id}/ack", headers=headers)
        seen = _status(watcher, hazard_id)
    assert answer.status_code == 500, answer.text
    error = answer.json()["error"]
    assert error["code"] == "internal_error"
    assert error["request_id"] == answer.headers["X-Request-ID"]
    assert seen == "open"


def test_fifty_concurrent_first_requests_with_fresh_tokens_get_no_5xx(db_url: str) -> None:
    tokens = [bearer(db_url) for _ in range(50)]
    # A small pool and a short wait: a request taking a second connection for its token would
    # deadlock it within seconds.
    limits = ApiLimits(pool_size=4, pool_timeout_s=5.0)
    app = create_app(ApiSettings(db_url=db_url, limits=limits), broker_probe=lambda: True)
    with serve(app) as base:

        def first_request(headers: dict[str, str]) -> int:
            with httpx.Client(timeout=30.0) as client:
                return client.get(f"{base}/api/v1/hazards?limit=1", headers=headers).status_code

        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(pool.map(first_request, tokens))
    assert statuses == [200] * 50


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """A directory outside pytest's, whose 0700 root other test sessions on the machine reset
    while the embedded server (another user when we are root) needs to pass through it."""
    path = Path(tempfile.mkdtemp(prefix="fg-api-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_database_stopped_is_a_503_in_the_envelope(private_dir: Path) -> None:
    server = start_postgres(private_dir / "pg")
    try:
        migrate(server.url, storage=StorageSettings())
        headers = bearer(server.url)
        limits = ApiLimits(pool_timeout_s=1.0, retry_after_s=7)
        app = create_app(ApiSettings(db_url=server.url, limits=limits), broker_probe=lambda: True)
        with TestClient(app) as client:
            assert client.get("/api/v1/hazards", headers=headers).status_code == 200
            server.stop()
            # The first finds its pooled connection dead, the next waits for the pool in vain.
            for _ in range(2):
                answer = client.get("/api/v1/hazards", headers=headers)
                assert answer.status_code == 503, answer.text
                assert answer.headers["Retry-After"] == "7"
                error = answer.json()["error"]
                assert error["code"] == "database_unavailable"
                assert error["request_id"] == answer.headers["X-Request-ID"]
            # "Try again shortly" holds: once the server is back, so is the API.
            server.start()
            wait_until(
                lambda: client.get("/api/v1/hazards", headers=headers).status_code == 200,
                timeout_s=30,
                what="the API answering again once the database is back",
            )
    finally:
        server.stop()
