"""Grid storage and lookup through the database: import, cold start, in-process vs PostGIS.

Builds the source documents' city (12,000 grids), imports it into a scratch database on the
given server, then measures what a FireGrid process pays: ``import_grids`` (one COPY), a
``GridLocator`` cold start (load the version's WKB and build the STRtree), its vectorised
``locate_many``, and, where the server has PostGIS, ``locate_in_db`` (one ST_Covers query per
batch), checking both paths agree on every point. Run:
``python benchmarks/grid_store.py --db-url postgresql://postgres@127.0.0.1:5432/test``.
"""

from __future__ import annotations

import argparse
import time
import uuid
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import psycopg
import shapely

from firegrid.db import migrate
from grids.locator import GridLocator, locate_in_db
from grids.models import parse_grids
from grids.service import import_grids, postgis_enabled
from ingest.config import StorageSettings
from simulators.grid_layout import generate_city
from tests.fix_db import create_database, drop_database


def main() -> None:
    """Run the benchmark and print timings and rates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", required=True, help="admin URL of a PostgreSQL server")
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--db-points", type=int, default=20_000)
    args = parser.parse_args()

    name = f"fg_bench_{uuid.uuid4().hex[:8]}"
    url = create_database(args.db_url, name)
    try:
        _run(url, points=args.points, db_points=args.db_points)
    finally:
        drop_database(args.db_url, name)


def _run(url: str, *, points: int, db_points: int) -> None:
    migrate(url, storage=StorageSettings())
    grid_set = parse_grids(generate_city(seed=1))
    with psycopg.connect(url) as conn:
        start = time.perf_counter()
        result = import_grids(conn, grid_set=grid_set, source="bench")
        conn.commit()
        imported = time.perf_counter() - start
        postgis = postgis_enabled(conn)
    print(f"import {result.counts}: {imported:.2f} s (PostGIS column: {postgis})")

    def connect() -> AbstractContextManager[psycopg.Connection[Any]]:
        return psycopg.connect(url)

    locator = GridLocator(connect=connect)
    start = time.perf_counter()
    locator.index()
    print(f"locator cold start (load + index): {time.perf_counter() - start:.2f} s")

    geoms = np.array([a.geometry for a in grid_set.grids.values()], dtype=object)
    min_lon, min_lat, max_lon, max_lat = shapely.total_bounds(geoms)
    rng = np.random.default_rng(7)
    lat = rng.uniform(min_lat, max_lat, points)
    lon = rng.uniform(min_lon, max_lon, points)
    start = time.perf_counter()
    located = locator.locate_many(lat, lon)
    in_process_s = time.perf_counter() - start
    print(f"in-process locate_many: {points / in_process_s:>12,.0f} points/s ({points:,})")
    if not postgis:
        print("PostGIS not available on this server: database path not measured")
        return
    n = db_points
    with psycopg.connect(url) as conn:
        start = time.perf_counter()
        in_db = locate_in_db(conn, lat=lat[:n], lon=lon[:n])
        db_s = time.perf_counter() - start
    assert in_db.grid.tolist() == located.grid[:n].tolist(), "PostGIS disagrees with in-process"
    print(f"PostGIS locate_in_db:   {n / db_s:>12,.0f} points/s ({n:,}, all agree)")
    print(f"ratio in-process / PostGIS: {(points / in_process_s) / (n / db_s):,.1f}x")


if __name__ == "__main__":
    main()
