"""Grid imports that add up: streets merged one at a time, --replace, retire, locator in step.

Every test starts from a replacing import, so what other tests of the session imported into
the shared database does not count.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from firegrid.cli import main
from grids.locator import GridLocator, locate_in_db
from grids.service import current_version, postgis_enabled
from simulators.grid_layout import generate_street, grid_centres

LAT, LON = 30.2741, 120.1551  # Hangzhou: codes under 330106
FIRST, SECOND = "330106011", "330106012"


def _street(code: str) -> dict[str, Any]:
    # The second street 0.1° (about 11 km) north of the first: no grid of one covers the other.
    lat = LAT if code == FIRST else LAT + 0.1
    return generate_street(lat=lat, lon=LON, street_code=code, communities=2, grids_per_community=3)


def _codes(collection: dict[str, Any]) -> list[str]:
    return sorted(f["properties"]["code"] for f in collection["features"])


def _post(
    client: TestClient, auth: dict[str, str], body: dict[str, Any], **params: str
) -> dict[str, Any]:
    answer = client.post(
        "/api/v1/grids/import",
        content=json.dumps(body, ensure_ascii=False).encode(),
        params=params,
        headers={**auth, "Content-Type": "application/geo+json"},
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _located(client: TestClient, auth: dict[str, str], lat: float, lon: float) -> Any:
    answer = client.get("/api/v1/grids/locate", params={"lat": lat, "lon": lon}, headers=auth)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _connect(db_url: str) -> Any:
    def connect() -> AbstractContextManager[psycopg.Connection[Any]]:
        return psycopg.connect(db_url)

    return connect


def test_two_streets_imported_one_after_the_other_both_locate(
    client: TestClient, auth: dict[str, str], db_url: str
) -> None:
    first, second = _street(FIRST), _street(SECOND)
    locator = GridLocator(connect=_connect(db_url))
    base = _post(client, auth, first, replace="true")
    assert base["mode"] == "replace"
    with psycopg.connect(db_url) as conn:
        assert locator.sync(conn) == base["version"]
    assert locator.index()[1] is not None  # the first version's index is now cached

    merged = _post(client, auth, second)
    assert merged["mode"] == "merge"
    assert merged["counts"] == {"street": 1, "community": 2, "grid": 6}
    assert merged["totals"] == {"street": 2, "community": 4, "grid": 12}
    assert merged["added"] == {"count": 9, "codes": _codes(second)}
    assert merged["kept"] == {"count": 9, "codes": _codes(first)}
    assert merged["changed"]["count"] == merged["retired"]["count"] == 0

    centres = {**grid_centres(first), **grid_centres(second)}
    for code, (lat, lon) in centres.items():
        hit = _located(client, auth, lat, lon)
        assert (hit["grid_code"], hit["version"]) == (code, merged["version"])
    # A locator that cached the old version learns of the new one at its next sync.
    with psycopg.connect(db_url) as conn:
        assert locator.sync(conn) == merged["version"]
        event = conn.execute(
            "SELECT payload FROM event_log WHERE kind = 'grids.imported' AND subject = %s",
            (str(merged["version"]),),
        ).fetchone()
        assert event == ({"version": merged["version"]},)
        lats = [lat for lat, _ in centres.values()]
        lons = [lon for _, lon in centres.values()]
        assert list(locator.locate_many(lats, lons).grid) == list(centres)
        if postgis_enabled(conn):  # the PostGIS path answers the same
            assert list(locate_in_db(conn, lat=lats, lon=lons).grid) == list(centres)


def test_replace_drops_the_first_street(
    client: TestClient, auth: dict[str, str], db_url: str
) -> None:
    first, second = _street(FIRST), _street(SECOND)
    _post(client, auth, first, replace="true")
    _post(client, auth, second)
    replaced = _post(client, auth, second, replace="true")
    assert replaced["retired"] == {"count": 9, "codes": _codes(first)}
    assert replaced["kept"]["count"] == 9
    assert replaced["totals"] == {"street": 1, "community": 2, "grid": 6}
    for lat, lon in grid_centres(first).values():
        assert _located(client, auth, lat, lon)["outside"] is True
    for code, (lat, lon) in grid_centres(second).items():
        assert _located(client, auth, lat, lon)["grid_code"] == code


def test_the_same_file_again_is_kept_and_an_edit_is_changed(
    client: TestClient, auth: dict[str, str]
) -> None:
    first = _street(FIRST)
    _post(client, auth, first, replace="true")
    again = _post(client, auth, first)
    assert again["kept"]["count"] == 9
    assert again["added"]["count"] == again["changed"]["count"] == again["retired"]["count"] == 0
    community = next(f for f in first["features"] if f["properties"]["code"] == f"{FIRST}002")
    community["properties"]["name"] = "改名社区"
    edited = _post(client, auth, {"type": "FeatureCollection", "features": [community]})
    assert edited["changed"] == {"count": 1, "codes": [f"{FIRST}002"]}
    assert edited["kept"]["count"] == 8
    assert edited["counts"] == {"street": 0, "community": 1, "grid": 0}


def test_retire_removes_a_community_with_its_grids_and_refuses_unknown_codes(
    client: TestClient, auth: dict[str, str], db_url: str
) -> None:
    first = _street(FIRST)
    _post(client, auth, first, replace="true")
    answer = client.post("/api/v1/grids/retire", json={"codes": [f"{FIRST}001"]}, headers=auth)
    assert answer.status_code == 200, answer.text
    retired = answer.json()
    gone = [f"{FIRST}001", *(f"{FIRST}001{i:03d}" for i in (1, 2, 3))]
    assert (retired["mode"], retired["retired"]) == ("retire", {"count": 4, "codes": gone})
    centres = grid_centres(first)
    assert _located(client, auth, *centres[f"{FIRST}001001"])["outside"] is True
    assert _located(client, auth, *centres[f"{FIRST}002001"])["grid_code"] == f"{FIRST}002001"

    with psycopg.connect(db_url) as conn:
        before = current_version(conn)
    refused = client.post("/api/v1/grids/retire", json={"codes": ["330106099"]}, headers=auth)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "invalid_grids"
    assert [p["reason"] for p in error["details"]] == ["retire_unknown"]
    # A grid whose community is in neither the file nor the version: refused, as before.
    orphan = next(f for f in first["features"] if f["properties"]["code"] == f"{FIRST}001002")
    refused = client.post(
        "/api/v1/grids/import",
        content=json.dumps({"type": "FeatureCollection", "features": [orphan]}).encode(),
        headers=auth,
    )
    assert refused.status_code == 400
    assert [p["reason"] for p in refused.json()["error"]["details"]] == ["parent_missing"]
    with psycopg.connect(db_url) as conn:
        assert current_version(conn) == before  # nothing stored


def test_cli_merges_replaces_and_retires(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "first.geojson", tmp_path / "second.geojson"
    first.write_text(json.dumps(_street(FIRST), ensure_ascii=False), encoding="utf-8")
    second.write_text(json.dumps(_street(SECOND), ensure_ascii=False), encoding="utf-8")

    def run(*args: str) -> dict[str, Any]:
        assert main(["--db-url", db_url, "grids", *args]) == 0
        out: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        return out

    assert run("import", "--replace", str(first))["totals"]["grid"] == 6
    merged = run("import", str(second))
    assert (merged["totals"]["grid"], merged["kept"]["count"]) == (12, 9)
    retired = run("retire", FIRST)
    assert retired["retired"] == {"count": 9, "codes": _codes(_street(FIRST))}
    assert retired["totals"]["grid"] == 6
    assert run("import", "--replace", str(first))["retired"]["count"] == 9

    assert main(["--db-url", db_url, "grids", "retire", "330106099"]) == 2
    assert "retire_unknown" in capsys.readouterr().err


def test_a_scenario_run_merges_its_street_and_keeps_the_operators(
    client: TestClient, auth: dict[str, str], db_url: str
) -> None:
    from simulators.scenarios.live import LiveHooks

    operators, scenarios = _street(FIRST), _street(SECOND)
    _post(client, auth, operators, replace="true")
    LiveHooks(db_url).import_grids(scenarios)  # what `firegrid simulate` does
    for code, (lat, lon) in {**grid_centres(operators), **grid_centres(scenarios)}.items():
        assert _located(client, auth, lat, lon)["grid_code"] == code
    with psycopg.connect(db_url) as conn:
        source = conn.execute(
            "SELECT source FROM grid_versions ORDER BY version DESC LIMIT 1"
        ).fetchone()
    assert source == ("firegrid simulate",)
