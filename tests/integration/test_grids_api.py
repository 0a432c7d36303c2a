"""Grids over HTTP and the CLI: import, structured errors, listing with geometry, locate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from fastapi.testclient import TestClient

from api.tokens import create_token
from devices.geo import Crs
from firegrid.cli import main
from simulators.grid_layout import generate_street, grid_centres

LAT, LON = 30.2741, 120.1551  # Hangzhou: codes under 330106


def _street(**options: Any) -> dict[str, Any]:
    return generate_street(lat=LAT, lon=LON, street_code="330106009", **options)


def _post(client: TestClient, auth: dict[str, str], body: Any, *, replace: bool = False) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return client.post(
        "/api/v1/grids/import",
        content=content,
        params={"replace": "true"} if replace else None,
        headers={**auth, "Content-Type": "application/geo+json"},
    )


def test_import_answers_version_and_counts_and_lists_by_parent(
    client: TestClient, auth: dict[str, str]
) -> None:
    # Replacing: the version is this street alone, whatever other tests imported before.
    answer = _post(client, auth, _street(communities=2, grids_per_community=4), replace=True)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["counts"] == {"street": 1, "community": 2, "grid": 8}
    version = body["version"]
    listed = client.get(
        "/api/v1/grids", params={"level": "grid", "parent": "330106009002"}, headers=auth
    ).json()
    assert listed["version"] == version
    assert [i["code"] for i in listed["items"]] == [f"330106009002{k:03d}" for k in range(1, 5)]
    assert listed["items"][0]["parent"] == "330106009002"
    assert "geometry" not in listed["items"][0]
    # Keyset pages of 3 over the 11 areas.
    codes: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, "version": version}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/grids", params=params, headers=auth).json()
        codes += [i["code"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert codes == sorted(codes)
    assert len(codes) == 11
    versions = client.get("/api/v1/grids/versions", headers=auth).json()["items"]
    assert versions[0]["version"] == version
    assert versions[0]["counts"]["grid"] == 8


def test_geometry_is_geojson_and_converts_to_gcj02(
    client: TestClient, auth: dict[str, str]
) -> None:
    # Imported in GCJ-02, stored in WGS-84, given back in GCJ-02 to a map that speaks it.
    collection = _street(communities=1, grids_per_community=2, crs=Crs.GCJ02)
    version = _post(client, auth, collection).json()["version"]
    code = "330106009001001"
    params: dict[str, Any] = {"version": version, "level": "grid", "geometry": 1}
    wgs = client.get("/api/v1/grids", params=params, headers=auth).json()["items"][0]
    gcj = client.get("/api/v1/grids", params={**params, "crs": "gcj02"}, headers=auth).json()
    item = gcj["items"][0]
    assert (wgs["code"], item["code"]) == (code, code)
    assert item["geometry"]["type"] == "Polygon"
    source = next(f for f in collection["features"] if f["properties"]["code"] == code)
    got = np.array(item["geometry"]["coordinates"][0])
    want = np.array(source["geometry"]["coordinates"][0])
    # Round trip GCJ → WGS (iterative inverse) → GCJ is good to well under a metre.
    assert np.abs(got - want).max() < 5e-6
    assert np.abs(np.array(wgs["geometry"]["coordinates"][0]) - want).max() > 1e-3


def test_locate_inside_on_a_shared_corner_and_outside(
    client: TestClient, auth: dict[str, str]
) -> None:
    collection = _street(communities=1, grids_per_community=4, jitter=0.0)
    version = _post(client, auth, collection).json()["version"]
    lat, lon = grid_centres(collection)["330106009001004"]
    url = "/api/v1/grids/locate"
    inside = client.get(url, params={"lat": lat, "lon": lon}, headers=auth).json()
    assert inside == {
        "version": version,
        "outside": False,
        "street_code": "330106009",
        "community_code": "330106009001",
        "grid_code": "330106009001004",
    }
    # The corner all four grids of the 2 × 2 block share belongs to the lowest code.
    grids = [f for f in collection["features"] if f["properties"]["level"] == "grid"]
    rings = [{tuple(p) for p in f["geometry"]["coordinates"][0]} for f in grids]
    [(c_lon, c_lat)] = set.intersection(*rings)
    corner = client.get(url, params={"lat": c_lat, "lon": c_lon}, headers=auth).json()
    assert corner["grid_code"] == "330106009001001"
    far = client.get(url, params={"lat": LAT + 1, "lon": LON}, headers=auth).json()
    assert far == {
        "version": version,
        "outside": True,
        "street_code": None,
        "community_code": None,
        "grid_code": None,
    }
    bad = client.get(url, params={"lat": 95, "lon": LON}, headers=auth)
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_request"
    missing = client.get(url, params={"lat": lat, "lon": lon, "version": 10**6}, headers=auth)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_postgis_locate_matches_when_present(client: TestClient, auth: dict[str, str]) -> None:
    collection = _street(communities=1, grids_per_community=4)
    _post(client, auth, collection)
    lat, lon = grid_centres(collection)["330106009001003"]
    params: dict[str, Any] = {"lat": lat, "lon": lon, "method": "postgis"}
    answer = client.get("/api/v1/grids/locate", params=params, headers=auth)
    if answer.status_code == 409:
        assert answer.json()["error"]["code"] == "postgis_unavailable"
        pytest.skip("PostGIS is not installed on this server: only the in-process path runs")
    assert answer.status_code == 200, answer.text
    assert answer.json()["grid_code"] == "330106009001003"


def test_invalid_grid_file_is_a_structured_400_listing_every_problem(
    client: TestClient, auth: dict[str, str], db_url: str
) -> None:
    collection = _street(communities=1, grids_per_community=2)
    grids = [f for f in collection["features"] if f["properties"]["level"] == "grid"]
    grids[0]["properties"]["code"] = "33010600900101"  # 14 digits, but not under its parent
    grids[0]["properties"]["parent"] = "330106009009"
    grids[1]["geometry"] = None
    with psycopg.connect(db_url) as conn:
        before = conn.execute("SELECT count(*) FROM grid_versions").fetchone()
    answer = _post(client, auth, collection)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_grids"
    reasons = {(p["where"], p["reason"]) for p in error["details"]}
    assert ("features[2].properties.code", "code_parent_mismatch") in reasons
    assert ("features[2].properties.parent", "parent_missing") in reasons
    assert ("features[3].geometry", "geometry_missing") in reasons
    assert all(set(p) == {"where", "reason", "detail"} for p in error["details"])
    not_json = _post(client, auth, b"{not json")
    assert not_json.status_code == 400
    assert not_json.json()["error"]["details"][0]["reason"] == "invalid_json"
    with psycopg.connect(db_url) as conn:
        after = conn.execute("SELECT count(*) FROM grid_versions").fetchone()
    assert after == before  # nothing was imported


def test_import_needs_a_writing_role(client: TestClient, db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        viewer = create_token(conn, role="viewer", areas=[])
    answer = _post(client, {"Authorization": f"Bearer {viewer}"}, _street(communities=1))
    assert answer.status_code == 403


def test_a_token_limited_to_areas_cannot_replace_the_city_grids(
    client: TestClient, db_url: str
) -> None:
    with psycopg.connect(db_url) as conn:
        local = create_token(conn, role="operator", areas=["310115005"])
    answer = _post(client, {"Authorization": f"Bearer {local}"}, _street(communities=1))
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"


def test_cli_imports_a_file_and_refuses_a_bad_one_with_exit_2(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "grids.geojson"
    good.write_text(json.dumps(_street(communities=1, sequence_digits=2)), encoding="utf-8")
    # --replace: the version holds this file alone, whatever earlier tests imported.
    assert main(["--db-url", db_url, "grids", "import", "--replace", str(good)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["counts"] == out["totals"] == {"street": 1, "community": 1, "grid": 12}
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT source, grids FROM grid_versions WHERE version = %s", (out["version"],)
        ).fetchone()
    assert row == ("grids.geojson", 12)

    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature"}]}')
    assert main(["--db-url", db_url, "grids", "import", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "bad.geojson" in err
    assert "properties_missing" in err
    assert main(["--db-url", db_url, "grids", "import", str(tmp_path / "nope.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
