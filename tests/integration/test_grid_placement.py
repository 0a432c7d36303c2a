"""Hazards are placed with the grids in force when they are raised, whoever imported them.

A grid import made outside the API (the CLI here) must be used by the rules role from its very
next transaction, and an open hazard raised outside every grid must find its grid once one
covering it is imported. The rules' locator is given a long refresh interval so that nothing
but the per-transaction version check can pick the new version up.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from grids.locator import GridLocator
from grids.models import parse_grids
from grids.service import import_grids
from rules.config import RulesSettings
from rules.flows import RulesService
from simulators.grid_layout import generate_street, grid_centres
from simulators.sensors import event
from tests.fix_api import api_client, bearer
from tests.fix_ingest import IngestHarness, wait_until
from tests.integration.cli_support import run_cli

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


@pytest.fixture
def rules(db_url: str) -> Iterator[RulesService]:
    """A rules service whose locator would not look for a new version for an hour by itself."""
    svc = RulesService(db_url=db_url, settings=RulesSettings())
    svc.locator = GridLocator(
        connect=lambda: psycopg.connect(db_url, autocommit=True), refresh_s=3600.0
    )
    try:
        yield svc
    finally:
        svc.close()


def _street(lat: float, lon: float) -> dict[str, Any]:
    county = f"33{uuid.uuid4().int % 10_000:04d}"
    return generate_street(
        lat=lat,
        lon=lon,
        street_code=f"{county}004",
        communities=1,
        grids_per_community=2,
        cell_m=250.0,
    )


def _import_directly(db_url: str, collection: dict[str, Any]) -> None:
    with psycopg.connect(db_url) as conn:
        import_grids(conn, grid_set=parse_grids(collection), source="test_grid_placement")


def _import_with_cli(db_url: str, collection: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / f"grids-{uuid.uuid4().hex[:6]}.geojson"
    path.write_text(json.dumps(collection), encoding="utf-8")
    # --replace: the new map is the whole version, as the direct import's is.
    done = run_cli("grids", "import", "--replace", str(path), db_url=db_url, timeout=120)
    assert done.returncode == 0, done.stderr


def _alarm(h: IngestHarness, rules: RulesService, dev: str, seconds: int) -> None:
    """Publish a smoke alarm of ``dev``, wait until its batch committed, run the rules."""
    h.publisher.publish_all(
        [event(dev, T0 + timedelta(seconds=seconds), 1, "smoke_alarm", {}, prefix=h.prefix)]
    )
    wait_until(
        lambda: (
            h.scalar(
                "SELECT count(*) FROM device_events e JOIN ingest_batches b USING (batch_id) "
                "WHERE e.device_id = %s",
                dev,
            )
            == 1
        ),
        what=f"the alarm of {dev} committed",
    )
    rules.process_pending()


def _hazard(h: IngestHarness, dev: str) -> tuple[Any, ...]:
    [row] = h.rows(
        "SELECT id, grid_code, community_code, street_code, grid_version, placement "
        "FROM hazards WHERE device_id = %s AND rule_id = 'smoke_alarm'",
        dev,
    )
    return tuple(row)


def _version(h: IngestHarness) -> int:
    return int(h.scalar("SELECT max(version) FROM grid_versions"))


def test_hazard_raised_right_after_a_cli_import_is_placed_in_the_new_grid(
    ingest: IngestHarness, rules: RulesService, tmp_path: Path
) -> None:
    old, new = _street(31.05, 121.20), _street(31.45, 121.70)
    _import_directly(ingest.db_url, old)
    old_code, old_point = sorted(grid_centres(old).items())[0]
    new_code, new_point = sorted(grid_centres(new).items())[1]
    first, second = ingest.device("SMK-OLD"), ingest.device("SMK-NEW")
    ingest.register(first, kind="smoke", lat=old_point[0], lon=old_point[1])
    ingest.register(second, kind="smoke", lat=new_point[0], lon=new_point[1])
    # The rules role has just placed a hazard under the old map: its locator holds that version.
    _alarm(ingest, rules, first, 0)
    assert _hazard(ingest, first)[1] == old_code

    _import_with_cli(ingest.db_url, new, tmp_path)
    _alarm(ingest, rules, second, 1)

    _, grid, community, street, version, placement = _hazard(ingest, second)
    assert (grid, community, street) == (new_code, new_code[:12], new_code[:9])
    assert (version, placement) == (_version(ingest), "placed")


def test_open_hazard_outside_every_grid_is_placed_when_a_covering_grid_arrives(
    ingest: IngestHarness, rules: RulesService, tmp_path: Path
) -> None:
    elsewhere, covering = _street(30.60, 120.90), _street(30.90, 121.10)
    _import_directly(ingest.db_url, elsewhere)
    code, point = sorted(grid_centres(covering).items())[0]
    outside, nowhere = ingest.device("SMK-OUT"), ingest.device("SMK-NOPOS")
    ingest.register(outside, kind="smoke", lat=point[0], lon=point[1])
    ingest.register(nowhere, kind="smoke")
    _alarm(ingest, rules, outside, 0)
    _alarm(ingest, rules, nowhere, 0)
    hazard_id, grid, _, _, version, placement = _hazard(ingest, outside)
    assert (grid, version, placement) == (None, _version(ingest), "outside")
    assert _hazard(ingest, nowhere)[1:] == (None, None, None, None, "no_position")

    _import_with_cli(ingest.db_url, covering, tmp_path)
    rules.tick(T0 + timedelta(minutes=1), which=("silence",))  # no new batch needed

    assert _hazard(ingest, outside)[1:] == (code, code[:12], code[:9], _version(ingest), "placed")
    assert _hazard(ingest, nowhere)[1:] == (None, None, None, None, "no_position")
    updates = ingest.rows(
        "SELECT data FROM hazard_events WHERE hazard_id = %s AND type = 'hazard.updated'",
        hazard_id,
    )
    assert [u[0]["grid_code"] for u in updates] == [code]
    shown = _api_hazard(ingest.db_url, hazard_id)
    assert (shown["placement"], shown["grid_code"]) == ("placed", code)


def _api_hazard(db_url: str, hazard_id: int) -> dict[str, Any]:
    with api_client(db_url, bearer(db_url)) as client:
        got = client.get(f"/api/v1/hazards/{hazard_id}")
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


def test_api_locates_with_a_version_imported_by_the_cli_at_once(
    db_url: str, tmp_path: Path
) -> None:
    first, second = _street(30.30, 120.10), _street(30.40, 120.30)
    _import_directly(db_url, first)
    code, (lat, lon) = sorted(grid_centres(second).items())[0]
    with api_client(db_url, bearer(db_url)) as client:
        before = client.get("/api/v1/grids/locate", params={"lat": lat, "lon": lon})
        assert before.json()["outside"] is True  # the API's locator now holds the first version
        _import_with_cli(db_url, second, tmp_path)
        after = client.get("/api/v1/grids/locate", params={"lat": lat, "lon": lon})
    assert after.status_code == 200, after.text
    assert (after.json()["grid_code"], after.json()["version"]) == (code, _current(db_url))


def _current(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT max(version) FROM grid_versions").fetchone()
    assert row is not None
    return int(row[0])
