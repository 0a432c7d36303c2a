"""Every error the API answers is CONTRACT §4's envelope with a request id: crafted cursors,
an exception nobody foresaw, a body over its limit; and the OpenAPI document is complete."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes import devices as device_routes
from api.routes import grids as grid_routes
from api.routes import hazards as hazard_routes
from api.settings import ApiLimits, ApiSettings
from simulators.grid_layout import generate_street
from tests.fix_api import api_client, bearer, serve

LIMITS = ApiLimits(max_body_bytes=200, max_import_bytes=2000)


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    app = create_app(ApiSettings(db_url=db_url, limits=LIMITS), broker_probe=lambda: True)
    with TestClient(app, headers=bearer(db_url)) as test_client:
        yield test_client


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _assert_envelope(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == code
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["request_id"] == answer.headers["X-Request-ID"]
    return error


LISTS = [
    "/api/v1/hazards",
    "/api/v1/devices/D-1/readings?metric=pressure_mpa",
    "/api/v1/devices/D-1/readings?metric=pressure_mpa&bucket=5m",
    "/api/v1/terminals/T-1/track",
    "/api/v1/terminals/T-1/patrols",
    "/api/v1/rejected",
]
CRAFTED = [
    "not base64 at all!",
    _cursor([1, 2]),  # JSON, not an object
    _cursor({}),  # no position
    _cursor({"id": "x", "ts": 5, "seq": "x", "started_at": None, "code": 7}),  # wrong types
    _cursor({"id": 10**30, "ts": "yesterday", "seq": 1, "started_at": "2026-13-01"}),
    _cursor({"ts": "2026-11-26T06:00:00", "seq": 1.5, "started_at": "2026-11-26T06:00:00"}),
    base64.urlsafe_b64encode(b'{"id": 1e400, "ts": 1e400}').decode(),  # int(inf)
]


@pytest.mark.parametrize("path", LISTS)
def test_a_crafted_cursor_is_a_400_in_the_envelope(client: TestClient, path: str) -> None:
    sep = "&" if "?" in path else "?"
    for cursor in CRAFTED:
        answer = client.get(f"{path}{sep}cursor={cursor}")
        _assert_envelope(answer, 400, "invalid_cursor")


def test_a_crafted_grid_cursor_is_a_400(db_url: str) -> None:
    street = generate_street(lat=31.05, lon=121.45, street_code="310115098", communities=1)
    with api_client(db_url, bearer(db_url)) as client:
        imported = client.post(
            "/api/v1/grids/import",
            content=json.dumps(street, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json"},
        )
        assert imported.status_code == 200, imported.text
        for cursor in [*CRAFTED, _cursor({"code": "a" + chr(0)})]:
            _assert_envelope(client.get(f"/api/v1/grids?cursor={cursor}"), 400, "invalid_cursor")


def test_an_unexpected_exception_is_a_500_envelope_with_a_logged_request_id(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug nobody foresaw")

    monkeypatch.setattr(hazard_routes, "list_hazards", broken)
    with caplog.at_level(logging.ERROR, logger="api.middleware"):
        answer = client.get("/api/v1/hazards")
    error = _assert_envelope(answer, 500, "internal_error")
    assert "nobody foresaw" not in answer.text  # the message stays in the log
    logged = [r for r in caplog.records if error["request_id"] in r.getMessage()]
    assert logged
    assert logged[0].exc_info is not None


def test_a_callers_request_id_is_echoed_and_a_bad_one_replaced(client: TestClient) -> None:
    answer = client.get("/api/v1/hazards/0", headers={"X-Request-ID": "console-42.a"})
    error = _assert_envelope(answer, 404, "not_found")
    assert error["request_id"] == "console-42.a"
    answer = client.get("/api/v1/hazards/0", headers={"X-Request-ID": "x" * 500})
    error = _assert_envelope(answer, 404, "not_found")
    assert len(error["request_id"]) == 32
    assert client.get("/api/v1/hazards").headers["X-Request-ID"]  # successes carry one too


def test_every_framework_error_is_in_the_envelope(client: TestClient) -> None:
    _assert_envelope(client.get("/api/v1/nowhere"), 404, "not_found")
    answer = client.delete("/api/v1/hazards")
    _assert_envelope(answer, 405, "method_not_allowed")
    answer = client.get("/api/v1/hazards?limit=0")
    _assert_envelope(answer, 422, "invalid_request")
    answer = client.get("/api/v1/hazards", headers={"Authorization": "Bearer nope"})
    _assert_envelope(answer, 401, "unauthorized")
    # A value PostgreSQL cannot take (a NUL in a text) came with the request: a 400, not a 500.
    for path in ("/api/v1/hazards?rule=a%00b", "/api/v1/rejected?topic=%00"):
        _assert_envelope(client.get(path), 400, "invalid_value")


def test_a_body_over_its_limit_is_a_413_in_the_envelope(client: TestClient) -> None:
    small = client.post(
        "/api/v1/devices/import",
        content="device_id,kind\nLIM-1,hydrant\n",
        headers={"Content-Type": "text/csv"},
    )
    assert small.status_code == 200, small.text
    rows = "".join(f"LIM-{i},hydrant\n" for i in range(200))
    answer = client.post(
        "/api/v1/devices/import",
        content="device_id,kind\n" + rows,
        headers={"Content-Type": "text/csv"},
    )
    _assert_envelope(answer, 413, "payload_too_large")
    # Elsewhere the limit is smaller: an acknowledgement's body is a few bytes.
    answer = client.post("/api/v1/hazards/1/ack", json={"by": "x" * 300})
    _assert_envelope(answer, 413, "payload_too_large")


def _read_answer(sock: socket.socket) -> bytes:
    """Read one HTTP answer with a Content-Length, however the server splits it."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_streamed_body_is_cut_off_at_its_limit(db_url: str) -> None:
    app = create_app(ApiSettings(db_url=db_url, limits=LIMITS), broker_probe=lambda: True)

    def body() -> Iterator[bytes]:
        yield b"device_id,kind\n"
        for i in range(100):
            yield f"STREAM-{i:04d},hydrant\n".encode()

    with serve(app) as base:
        # No Content-Length: chunked, so only counting what arrives can refuse it.
        answer = httpx.post(
            f"{base}/api/v1/devices/import",
            content=body(),
            headers={**bearer(db_url), "Content-Type": "text/csv"},
        )
        _assert_envelope(answer, 413, "payload_too_large")
        # A declared length over the limit is refused before any of the body is sent.
        host = urlsplit(base)
        with socket.create_connection((host.hostname, host.port), timeout=5) as sock:
            sock.sendall(
                b"POST /api/v1/devices/import HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: text/csv\r\nContent-Length: 50000000\r\n\r\n"
            )
            answer_bytes = _read_answer(sock)
        assert answer_bytes.startswith(b"HTTP/1.1 413"), answer_bytes
        assert b'"payload_too_large"' in answer_bytes


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_imports_parse_and_store_off_the_event_loop(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A city's file takes seconds to parse and store: on the event loop, every other request
    # (the live feed's heartbeats too) would wait that long.
    on_loop: list[tuple[str, bool]] = []

    def watched(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            on_loop.append((name, _on_event_loop()))
            return real(*args, **kwargs)

        return call

    for name in ("parse_registry", "store_registry"):
        monkeypatch.setattr(device_routes, name, watched(name, getattr(device_routes, name)))
    for name in ("import_grid_file",):  # parses the file, then stores the version
        monkeypatch.setattr(grid_routes, name, watched(name, getattr(grid_routes, name)))
    answer = client.post(
        "/api/v1/units/import",
        content="unit_id,name\nLOOP-1,某某大厦\n",
        headers={"Content-Type": "text/csv"},
    )
    assert answer.status_code == 200, answer.text
    answer = client.post("/api/v1/grids/import", json={"type": "FeatureCollection", "features": []})
    assert answer.status_code == 400, answer.text  # no grid in it; parsed all the same
    assert on_loop == [
        ("parse_registry", False),
        ("store_registry", False),
        ("import_grid_file", False),
    ]


def test_the_openapi_document_describes_every_route(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    for path, methods in doc["paths"].items():
        if not path.startswith("/api/v1/") or path == "/api/v1/stream":
            continue
        for method, operation in methods.items():
            where = f"{method.upper()} {path}"
            content = operation["responses"]["200"]["content"]
            if "/photos/" in path:  # /photos/{sha256}, /cases/{case_id}/photos/{sha256}
                assert "image/jpeg" in content, where
                continue
            schema = content["application/json"]["schema"]
            # A model (or a choice of models), not "an object of anything".
            assert "$ref" in schema or "anyOf" in schema, (where, schema)
            if path.endswith("/import"):
                body = operation["requestBody"]["content"]
                assert body["application/json"]["schema"], where
                if path != "/api/v1/grids/import":
                    assert "text/csv" in body, where
            # Errors are documented as the envelope they are, not FastAPI's validation schema.
            for status in ("401", "422", "500", "503"):
                error = operation["responses"][status]["content"]["application/json"]
                assert error["schema"] == {"$ref": "#/components/schemas/ErrorEnvelope"}, where
    # No list of "objects of anything": every item of every answer is a described model.
    for name, component in doc["components"]["schemas"].items():
        for field, prop in component.get("properties", {}).items():
            items = prop.get("items", {})
            assert items.get("additionalProperties") is not True, f"{name}.{field}"
    stream = doc["paths"]["/api/v1/stream"]["get"]["responses"]
    assert "text/event-stream" in stream["200"]["content"]
    for status in ("400", "401", "422", "500", "503"):
        error = stream[status]["content"]["application/json"]
        assert error["schema"] == {"$ref": "#/components/schemas/ErrorEnvelope"}, status
    health = doc["paths"]["/healthz"]["get"]["responses"]
    for status in ("200", "503"):
        schema = health[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Health"}, status
    roles = doc["components"]["schemas"]["RoleReadiness"]["properties"]
    assert set(roles) == {"ok", "state", "lag_s", "detail"}
    hazard = doc["components"]["schemas"]["HazardView"]["properties"]
    contract = "id rule kind severity status device_id unit_id grid_code community_code"
    assert set((contract + " street_code lat lon opened_at cleared_at occurrences").split()) <= set(
        hazard
    )
