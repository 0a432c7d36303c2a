"""Token lifecycle (issue 9): revocation and expiry refused at once, the list shows no secret,
an embedded start reuses its one `console` token."""

from __future__ import annotations

import hashlib
import uuid
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.tokens import create_token, lookup_token, revoke_token, token_id
from firegrid.runtime import _print_demo_token
from tests.integration.cli_support import run_cli

if TYPE_CHECKING:
    from firegrid.services import Services


def _get(client: TestClient, token: str) -> int:
    return client.get("/api/v1/hazards", headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_revoked_token_is_refused_on_its_next_request(client: TestClient, db_url: str) -> None:
    name = f"t-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(db_url) as conn:
        token = create_token(conn, role="admin", areas=[], name=name)
    assert _get(client, token) == 200
    done = run_cli("token", "revoke", name, db_url=db_url)
    assert done.returncode == 0, done.stderr
    # Straight after: no cache keeps it alive.
    assert _get(client, token) == 401
    again = run_cli("token", "revoke", name, db_url=db_url)
    assert again.returncode == 2


def test_revoke_by_id(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        token = create_token(conn, role="viewer", areas=[])
        ident = token_id(hashlib.sha256(token.encode()).digest())
        assert revoke_token(conn, name_or_id=ident) == 1
        assert lookup_token(conn, token=token) is None


def test_an_expired_token_is_refused(client: TestClient, db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        token = create_token(conn, role="admin", areas=[])
    assert _get(client, token) == 200
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "UPDATE api_tokens SET expires_at = now() - interval '1 second'"
            " WHERE token_sha256 = sha256(%s::bytea)",
            (token.encode(),),
        )
    assert _get(client, token) == 401


def test_create_with_expiry_and_list_without_secrets(db_url: str) -> None:
    name = f"t-{uuid.uuid4().hex[:8]}"
    done = run_cli(
        "token", "create", "--role", "admin", "--name", name, "--expires", "7d", db_url=db_url
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    dup = run_cli("token", "create", "--role", "admin", "--name", name, db_url=db_url)
    assert dup.returncode == 2
    bad = run_cli("token", "create", "--role", "admin", "--expires", "soon", db_url=db_url)
    assert bad.returncode == 2
    listed = run_cli("token", "list", db_url=db_url)
    assert listed.returncode == 0, listed.stderr
    assert token not in listed.stdout
    assert hashlib.sha256(token.encode()).hexdigest() not in listed.stdout
    mine = [line for line in listed.stdout.splitlines() if f'"name": "{name}"' in line]
    assert len(mine) == 1
    for key in ("role", "areas", "staff_id", "created_at", "expires_at", "last_used_at"):
        assert f'"{key}"' in mine[0]
    assert '"revoked_at": null' in mine[0]
    assert '"expires_at": null' not in mine[0]


def test_use_is_noted(client: TestClient, db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        token = create_token(conn, role="admin", areas=[])
    assert _get(client, token) == 200
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT last_used_at FROM api_tokens WHERE token_sha256 = sha256(%s::bytea)",
            (token.encode(),),
        ).fetchone()
    assert row is not None
    assert row[0] is not None


def test_an_embedded_start_reuses_its_console_token(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE name = 'console'")
    services = cast("Services", SimpleNamespace(db_url=db_url))
    _print_demo_token(services)
    first = capsys.readouterr().out
    assert first.startswith("API token (admin, printed once): fg_")
    _print_demo_token(services)
    assert "fg_" not in capsys.readouterr().out
    with psycopg.connect(db_url) as conn:
        live = conn.execute(
            "SELECT count(*) FROM api_tokens WHERE name = 'console' AND revoked_at IS NULL"
        ).fetchone()
        assert live == (1,)
        # Once expired, the next start makes (and prints) a new one.
        conn.execute("UPDATE api_tokens SET expires_at = now() WHERE name = 'console'")
    _print_demo_token(services)
    assert capsys.readouterr().out.startswith("API token (admin, printed once): fg_")


def test_rejected_messages_are_for_city_wide_tokens_only(client: TestClient, db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        limited = create_token(conn, role="operator", areas=["310115005"])
        city = create_token(conn, role="operator", areas=[])
    for method, path in (("GET", "/api/v1/rejected"), ("POST", "/api/v1/rejected/replay")):
        answer = client.request(method, path, headers={"Authorization": f"Bearer {limited}"})
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "forbidden"
    answer = client.get("/api/v1/rejected", headers={"Authorization": f"Bearer {city}"})
    assert answer.status_code == 200


def test_noting_a_use_never_waits_for_another_request_of_the_token(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        token = create_token(conn, role="admin", areas=[])
    with psycopg.connect(db_url) as first, psycopg.connect(db_url) as second:
        # The first request notes the use and holds its transaction open (a slow import).
        assert lookup_token(first, token=token) is not None
        second.execute("SET lock_timeout = '2s'")
        # Without SKIP LOCKED this would wait for `first` and fail on the lock timeout.
        assert lookup_token(second, token=token) is not None
