"""A device import says what the stored rows still lack for the rules, and imports them anyway."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def client(client: TestClient, auth: dict[str, str]) -> TestClient:
    """The shared client, sending an admin's token with every request."""
    client.headers.update(auth)
    return client


def _import(client: TestClient, kind: str, csv: str) -> dict[str, object]:
    answer = client.post(
        f"/api/v1/{kind}/import", content=csv, headers={"Content-Type": "text/csv"}
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_gaps_are_warned_and_an_update_that_fills_them_clears_them(client: TestClient) -> None:
    tag = uuid.uuid4().hex[:6]
    hyd, ext, smoke, term = (f"{k}-{tag}" for k in ("HYD", "EXT", "SMK", "TRM"))
    unit = f"U-{tag}"
    _import(client, "units", f"unit_id,name,lat,lon\n{unit},泵房,31.2457,121.5867\n")
    first = _import(
        client,
        "devices",
        "device_id,kind,unit_id,lat,lon,agent,manufactured_on\n"
        f"{hyd},hydrant,{unit},,,,\n"  # placed through its unit; no class
        f"{ext},extinguisher,,,,,\n"  # nothing: no position, agent or date
        f"{smoke},smoke,,31.25,121.59,,\n"  # placed, but in no unit
        f"{term},terminal,,,,,\n",  # a terminal is placed by its fixes: no warning
    )
    assert (first["created"], first["errors"]) == (4, [])
    warnings = first["warnings"]
    assert isinstance(warnings, list)
    assert sorted((w["device_id"], w["field"]) for w in warnings) == sorted(
        [
            (hyd, "hydrant_class"),
            (ext, "lat"),
            (ext, "agent"),
            (ext, "manufactured_on"),
            (smoke, "unit_id"),
        ]
    )
    # An update names only what it changes; the warnings are about the stored row.
    second = _import(
        client,
        "devices",
        "device_id,kind,unit_id,agent,manufactured_on\n"
        f"{ext},extinguisher,{unit},dry_powder,2020-05-01\n",
    )
    assert (second["updated"], second["warnings"]) == (1, [])
