"""Grid versions in PostgreSQL: import, load back, locate in process and through PostGIS."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import psycopg
import pytest
import shapely

from devices.geo import Crs, to_wgs84_array
from grids.index import GridIndex
from grids.locator import GridLocator, PostgisUnavailable, locate_in_db
from grids.models import GridSet, parse_grids
from grids.service import (
    GridVersionNotFound,
    current_version,
    import_grids,
    list_areas,
    load_grid_set,
    postgis_enabled,
)
from ingest.config import StorageSettings
from simulators.grid_layout import generate_street, grid_centres
from tests.fix_db import create_database, drop_database

LAT, LON = 31.2575, 121.5870


def _connect(db_url: str) -> Any:
    def connect() -> AbstractContextManager[psycopg.Connection[Any]]:
        return psycopg.connect(db_url)

    return connect


def _import(db_url: str, collection: dict[str, Any], source: str = "test") -> tuple[int, GridSet]:
    grid_set = parse_grids(collection)
    with psycopg.connect(db_url) as conn:
        result = import_grids(conn, grid_set=grid_set, source=source)
    assert result.counts == grid_set.counts()
    return result.version, grid_set


def _same_areas(loaded: GridSet, original: GridSet) -> None:
    for level in ("streets", "communities", "grids"):
        mine, theirs = getattr(loaded, level), getattr(original, level)
        assert set(mine) == set(theirs)
        for code, area in theirs.items():
            got = mine[code]
            assert (got.level, got.name, got.parent, got.source_crs) == (
                area.level,
                area.name,
                area.parent,
                area.source_crs,
            )
            assert got.parts == area.parts
            # WKB round-trips doubles exactly.
            assert shapely.equals_exact(got.geometry, area.geometry, tolerance=0.0)


def test_import_15_digit_codes_and_load_the_version_back(db_url: str) -> None:
    collection = generate_street(
        lat=LAT, lon=LON, street_code="310115005", communities=2, grids_per_community=6
    )
    version, grid_set = _import(db_url, collection)
    assert grid_set.counts() == {"street": 1, "community": 2, "grid": 12}
    with psycopg.connect(db_url) as conn:
        assert current_version(conn) == version
        _same_areas(load_grid_set(conn, version=version), grid_set)
        _same_areas(load_grid_set(conn), grid_set)
        rows = list_areas(conn, version=version, parent="310115005001")
        assert [r.code for r in rows] == [f"310115005001{i:03d}" for i in range(1, 7)]
        assert rows[0].wkb is None  # geometry only when asked for
        parts = conn.execute(
            "SELECT county, street, community, sequence FROM grid_areas "
            "WHERE version = %s AND code = '310115005002006'",
            (version,),
        ).fetchone()
        assert parts == ("310115", "005", "002", "006")


def test_import_14_digit_codes_in_gcj02_stores_wgs84(db_url: str) -> None:
    collection = generate_street(
        lat=LAT,
        lon=LON,
        street_code="310115007",
        communities=2,
        grids_per_community=4,
        crs=Crs.GCJ02,
        sequence_digits=2,
    )
    version, grid_set = _import(db_url, collection)
    with psycopg.connect(db_url) as conn:
        loaded = load_grid_set(conn, version=version)
        _same_areas(loaded, grid_set)
        assert {len(code) for code in loaded.grids} == {14}
        assert {a.source_crs for a in loaded.grids.values()} == {Crs.GCJ02}
        row = conn.execute(
            "SELECT min_lon, min_lat FROM grid_areas WHERE version = %s AND code = %s",
            (version, "31011500701"[:9]),
        ).fetchone()
    # The stored bbox is WGS-84: GCJ-02 in Shanghai is ~500 m east and ~200 m north of it.
    street_ring = np.array(collection["features"][0]["geometry"]["coordinates"][0])
    assert row is not None
    assert row[0] < street_ring[:, 0].min() - 0.003
    locator = GridLocator(connect=_connect(db_url))
    for code, (lat, lon) in grid_centres(collection).items():
        hit = locator.locate(lat, lon, crs=Crs.GCJ02, version=version)
        assert hit is not None
        assert (hit.grid_code, hit.version) == (code, version)
        wlat, wlon = to_wgs84_array(np.array([lat]), np.array([lon]), Crs.GCJ02)
        assert locator.locate(float(wlat[0]), float(wlon[0]), version=version) == hit


def test_a_second_import_is_a_new_version_and_the_old_one_still_loads(db_url: str) -> None:
    first = generate_street(lat=LAT, lon=LON, street_code="320506004", communities=1, seed=1)
    v1, set1 = _import(db_url, first, source="v1.geojson")
    second = generate_street(lat=LAT, lon=LON, street_code="320506004", communities=2, seed=2)
    v2, set2 = _import(db_url, second, source="v2.geojson")
    assert v2 > v1
    with psycopg.connect(db_url) as conn:
        assert current_version(conn) == v2
        _same_areas(load_grid_set(conn, version=v1), set1)
        _same_areas(load_grid_set(conn, version=v2), set2)
        with pytest.raises(GridVersionNotFound):
            load_grid_set(conn, version=v2 + 1000)
        source = conn.execute(
            "SELECT source, grids FROM grid_versions WHERE version = %s", (v1,)
        ).fetchone()
        assert source == ("v1.geojson", 12)


def test_locator_follows_the_newest_version_after_its_refresh_interval(db_url: str) -> None:
    now = [0.0]
    locator = GridLocator(connect=_connect(db_url), refresh_s=5.0, clock=lambda: now[0])
    a = generate_street(lat=LAT, lon=LON, street_code="330106001", communities=1)
    va, _ = _import(db_url, a)
    lat, lon = grid_centres(a)["330106001001001"]
    hit = locator.locate(lat, lon)
    assert hit is not None
    assert (hit.version, hit.grid_code) == (va, "330106001001001")
    # Same place, new codes: the next version renumbers the street.
    b = generate_street(lat=LAT, lon=LON, street_code="330106002", communities=1)
    vb, _ = _import(db_url, b)
    now[0] = 4.9
    assert locator.locate(lat, lon) == hit  # still cached: checked at most every 5 s
    now[0] = 5.0
    moved = locator.locate(lat, lon)
    assert moved is not None
    assert (moved.version, moved.grid_code) == (vb, "330106002001001")
    # The old version is still there for events located under it.
    assert locator.locate(lat, lon, version=va) == hit


def test_boundary_points_go_to_the_lowest_code_and_outside_is_explicit(db_url: str) -> None:
    collection = generate_street(
        lat=LAT, lon=LON, street_code="440305008", communities=1, grids_per_community=4
    )
    version, grid_set = _import(db_url, collection)
    locator = GridLocator(connect=_connect(db_url))
    # Every vertex of every grid: shared corners and edge points belong to the lowest code.
    index = GridIndex.from_gridset(grid_set)
    for code, area in grid_set.grids.items():
        for x, y in shapely.get_coordinates(area.geometry):
            hit = locator.locate(float(y), float(x), version=version)
            assert hit is not None
            assert hit.grid_code <= code
            assert hit.grid_code == index.locate_one(float(y), float(x)).grid  # type: ignore[union-attr]
    assert locator.locate(LAT + 0.5, LON, version=version) is None
    many = locator.locate_many([LAT + 0.5, float("nan")], [LON, LON], version=version)
    assert many.outside.tolist() == [True, True]
    assert many.version == version
    assert many.at(0) is None


def _random_points(grid_set: GridSet, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    geoms = np.array([a.geometry for a in grid_set.grids.values()], dtype=object)
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    rng = np.random.default_rng(seed)
    pad = 0.002  # a margin of points outside every grid
    lat = rng.uniform(y0 - pad, y1 + pad, n)
    lon = rng.uniform(x0 - pad, x1 + pad, n)
    # Plus every vertex, where the tie rule decides.
    xy = shapely.get_coordinates(geoms)
    return np.r_[lat, xy[:, 1]], np.r_[lon, xy[:, 0]]


def test_in_process_and_postgis_agree_on_random_points_and_vertices(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        if not postgis_enabled(conn):
            pytest.skip("PostGIS is not installed on this server: only the in-process path runs")
    collection = generate_street(
        lat=LAT, lon=LON, street_code="110105003", communities=4, grids_per_community=9, seed=5
    )
    version, grid_set = _import(db_url, collection)
    lat, lon = _random_points(grid_set, 3000, seed=11)
    in_process = GridLocator(connect=_connect(db_url)).locate_many(lat, lon, version=version)
    with psycopg.connect(db_url) as conn:
        in_db = locate_in_db(conn, lat=lat, lon=lon, version=version)
    assert in_db.version == version
    assert in_db.grid.tolist() == in_process.grid.tolist()
    assert in_db.community.tolist() == in_process.community.tolist()
    assert in_db.street.tolist() == in_process.street.tolist()
    assert 0 < int(in_process.outside.sum()) < lat.size  # both kinds of answer were exercised


@pytest.fixture(scope="module")
def plain_db_url(pg_admin_url: str) -> Iterator[str]:
    """A database whose schema has no PostGIS column, as on a server without PostGIS."""
    from firegrid.db import migrate

    name = f"fg_test_plain_{uuid.uuid4().hex[:8]}"
    url = create_database(pg_admin_url, name)
    migrate(url, storage=StorageSettings())
    with psycopg.connect(url, autocommit=True) as conn:
        # Where the server has PostGIS, dropping it leaves exactly the schema a server without
        # it gets: the generated column and its index go with the extension.
        conn.execute("DROP EXTENSION IF EXISTS postgis CASCADE")
    yield url
    drop_database(pg_admin_url, name)


def test_a_database_without_postgis_imports_and_locates_in_process(plain_db_url: str) -> None:
    locator = GridLocator(connect=_connect(plain_db_url))
    assert locator.locate(LAT, LON) is None  # nothing imported yet
    assert locator.locate_many([LAT], [LON]).version is None
    with psycopg.connect(plain_db_url) as conn:
        assert not postgis_enabled(conn)
        with pytest.raises(GridVersionNotFound):
            load_grid_set(conn)
    collection = generate_street(lat=LAT, lon=LON, communities=1, grids_per_community=4)
    version, grid_set = _import(plain_db_url, collection)
    locator.refresh()
    code, (lat, lon) = next(iter(grid_centres(collection).items()))
    hit = locator.locate(lat, lon)
    assert hit is not None
    assert (hit.version, hit.grid_code) == (version, code)
    with psycopg.connect(plain_db_url) as conn:
        _same_areas(load_grid_set(conn), grid_set)
        with pytest.raises(PostgisUnavailable):
            locate_in_db(conn, lat=[lat], lon=[lon])
