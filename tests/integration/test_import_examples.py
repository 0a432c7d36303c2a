"""Every import example the OpenAPI document shows imports as it says, with no error."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from grids.models import parse_grids

IMPORTS = ("/api/v1/units/import", "/api/v1/devices/import", "/api/v1/staff/import")


def _body(doc: dict[str, Any], path: str) -> dict[str, Any]:
    body: dict[str, Any] = doc["paths"][path]["post"]["requestBody"]
    return body


def test_each_registry_example_imports_without_an_error(
    client: TestClient, auth: dict[str, str]
) -> None:
    doc = client.get("/openapi.json").json()
    # Units first, for real: the devices example names the unit it registers.
    for path in IMPORTS:
        body = _body(doc, path)
        assert "(required)" in body["description"]
        for media, content in body["content"].items():
            example = content["example"]
            data = example.encode() if isinstance(example, str) else json.dumps(example).encode()
            answer = client.post(
                path,
                content=data,
                params={} if path == IMPORTS[0] else {"dry_run": "true"},
                headers={**auth, "Content-Type": media},
            )
            assert answer.status_code == 200, answer.text
            result = answer.json()
            assert result["errors"] == [], (path, media, result["errors"])
            assert result["created"] + result["updated"] >= 1


def test_the_grid_example_is_a_valid_file_on_its_own(client: TestClient) -> None:
    # Parsed, not imported: merging its street into the session's shared database would move
    # other tests' grids.
    doc = client.get("/openapi.json").json()
    content = _body(doc, "/api/v1/grids/import")["content"]
    assert set(content) == {"application/geo+json", "application/json"}
    grid_set = parse_grids(content["application/geo+json"]["example"])
    assert grid_set.counts() == {"street": 1, "community": 1, "grid": 1}
    retire = doc["paths"]["/api/v1/grids/retire"]["post"]["requestBody"]
    assert "application/json" in retire["content"]
