"""GET /api/v1/cases/{case_id}/photos/{sha256}: the photos a case's steps name, scoped by the
case, so an area-limited handler sees the evidence of the cases they see (``/photos`` places a
photo by the hazard reports only, and refuses them a step's photo)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from api.tokens import create_token
from dispatch.service import add_step
from tests.integration.case_support import open_case


def _jpeg() -> bytes:
    """A JPEG-looking photo of its own: the test database is shared, photos are by hash."""
    return b"\xff\xd8\xff\xe0" + uuid.uuid4().bytes + b"\xff\xd9"


def _street() -> str:
    return f"36{uuid.uuid4().int % 10**7:07d}"


def _store_photo(conn: psycopg.Connection[Any], data_dir: Path, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    (data_dir / f"{sha}.jpg").write_bytes(data)
    conn.execute(
        "INSERT INTO photos (sha256, terminal_id, content_type, size, path, received_at)"
        " VALUES (%s, 'T1', 'image/jpeg', %s, %s, now())",
        (sha, len(data), f"{sha}.jpg"),
    )
    return sha


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A case in street A whose feedback step names a stored photo and one not arrived yet;
    another stored photo; an API keeping photos in ``tmp_path``; tokens for streets A and B."""
    mine, other = _street(), _street()
    with psycopg.connect(db_url) as conn:
        case_id = open_case(conn, mine)
        jpeg = _jpeg()
        step_photo = _store_photo(conn, tmp_path, jpeg)
        stray = _store_photo(conn, tmp_path, _jpeg())
        pending = hashlib.sha256(_jpeg()).hexdigest()  # named, its bytes still on their way
        add_step(
            conn,
            case_id=case_id,
            action="feedback",
            from_status="signed",
            to_status="handled",
            actor="S1",
            at=datetime.now(UTC),
            photos=[step_photo, pending],
        )
        tokens = {
            "mine": create_token(conn, role="operator", areas=[mine]),
            "other": create_token(conn, role="operator", areas=[other]),
        }
    app = create_app(ApiSettings(db_url=db_url, data_dir=tmp_path), broker_probe=lambda: True)
    with TestClient(app) as client:
        yield {
            "client": client,
            "case": case_id,
            "photo": step_photo,
            "jpeg": jpeg,
            "stray": stray,
            "pending": pending,
            "auth": {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()},
        }


def test_a_handler_in_the_cases_area_gets_its_steps_photo(world: dict[str, Any]) -> None:
    client, auth = world["client"], world["auth"]
    path = f"/api/v1/cases/{world['case']}/photos/{world['photo']}"
    answer = client.get(path, headers=auth["mine"])
    assert answer.status_code == 200, answer.text
    assert answer.content == world["jpeg"]
    assert answer.headers["content-type"] == "image/jpeg"
    # Upper-case hex names the same photo.
    upper = f"/api/v1/cases/{world['case']}/photos/{world['photo'].upper()}"
    assert client.get(upper, headers=auth["mine"]).content == world["jpeg"]
    # The generic route cannot place a photo no report names: refused to the same handler.
    generic = client.get(f"/api/v1/photos/{world['photo']}", headers=auth["mine"])
    assert generic.status_code == 403


def test_another_areas_handler_gets_404_as_if_the_case_were_missing(
    world: dict[str, Any],
) -> None:
    path = f"/api/v1/cases/{world['case']}/photos/{world['photo']}"
    answer = world["client"].get(path, headers=world["auth"]["other"])
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("which", ["stray", "not-a-sha", "missing"])
def test_a_photo_the_case_does_not_name_is_not_found(world: dict[str, Any], which: str) -> None:
    sha = {"stray": world["stray"], "not-a-sha": "zz", "missing": "0" * 64}[which]
    answer = world["client"].get(
        f"/api/v1/cases/{world['case']}/photos/{sha}", headers=world["auth"]["mine"]
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_a_photo_named_but_not_arrived_says_so(world: dict[str, Any]) -> None:
    answer = world["client"].get(
        f"/api/v1/cases/{world['case']}/photos/{world['pending']}", headers=world["auth"]["mine"]
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
    assert "not arrived" in answer.json()["error"]["message"]
