"""Grid lookup rate: vectorised STRtree bulk query against per-point Python baselines.

Builds the source documents' city (12,000 grids) with the layout simulator, imports it through
``parse_grids`` and indexes it, then locates random points over the city's bounding box (a few
per cent fall outside every grid). Baselines run in the same process on subsets:

- per-point STRtree: one ``STRtree.query(Point, predicate)`` per point from a Python loop;
- naive: a Python loop over all polygons with ``covers`` per point.

Every baseline's answers are checked against the vectorised ones. Run:
``python benchmarks/grid_lookup.py [--points N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np
import shapely

from grids.index import OUTSIDE, GridIndex
from grids.models import parse_grids
from simulators.grid_layout import generate_city


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _per_point_tree(index: GridIndex, tree: shapely.STRtree, lat: Any, lon: Any) -> list[int]:
    out = []
    for la, lo in zip(lat.tolist(), lon.tolist(), strict=True):
        hits = tree.query(shapely.Point(lo, la), predicate="intersects")
        out.append(int(hits.min()) if hits.size else OUTSIDE)
    return out


def _naive(polygons: list[Any], lat: Any, lon: Any) -> list[int]:
    out = []
    for la, lo in zip(lat.tolist(), lon.tolist(), strict=True):
        point = shapely.Point(lo, la)
        # Polygons are in code order, so the first cover is the lowest code: the same tie rule.
        out.append(next((i for i, poly in enumerate(polygons) if poly.covers(point)), OUTSIDE))
    return out


def main() -> None:
    """Run the benchmark and print rates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--tree-points", type=int, default=20_000)
    parser.add_argument("--naive-points", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    start = time.perf_counter()
    city = msgspec.json.encode(generate_city(seed=1))
    generated = time.perf_counter()
    grid_set = parse_grids(city)
    parsed = time.perf_counter()
    index = GridIndex.from_gridset(grid_set)
    built = time.perf_counter()
    print(
        f"city: {grid_set.counts()}, {len(city) / 1e6:.1f} MB GeoJSON; generate "
        f"{generated - start:.2f} s, parse+validate {parsed - generated:.2f} s, "
        f"index {built - parsed:.3f} s"
    )

    polygons = [index.geometry(i) for i in range(len(index))]
    min_lon, min_lat, max_lon, max_lat = shapely.total_bounds(np.array(polygons))
    rng = np.random.default_rng(7)
    lat = rng.uniform(min_lat, max_lat, args.points)
    lon = rng.uniform(min_lon, max_lon, args.points)

    vec_s, found = _timed(lambda: index.locate(lat, lon), args.repeat)
    vec_rate = args.points / vec_s
    outside = float(np.mean(found == OUTSIDE))
    print(f"vectorised locate:   {vec_rate:>12,.0f} points/s  ({args.points:,} points, "
          f"{outside:.1%} outside, median of {args.repeat})")  # fmt: skip

    gcj_lat, gcj_lon = lat + 0.002, lon + 0.004  # any GCJ-02 input: measures conversion cost
    gcj_s, _ = _timed(lambda: index.locate(gcj_lat, gcj_lon, crs="gcj02"), args.repeat)
    print(f"  with GCJ-02 input:  {args.points / gcj_s:>12,.0f} points/s")

    codes_s, _ = _timed(lambda: index.codes(found), args.repeat)
    print(f"  codes for result:   {args.points / codes_s:>12,.0f} points/s")

    tree = shapely.STRtree(np.array(polygons))
    n = args.tree_points
    tree_s, tree_found = _timed(lambda: _per_point_tree(index, tree, lat[:n], lon[:n]), 1)
    assert tree_found == found[:n].tolist(), "per-point STRtree disagrees with locate"
    tree_rate = n / tree_s
    print(f"per-point STRtree:   {tree_rate:>12,.0f} points/s  ({n:,} points)")

    n = args.naive_points
    naive_s, naive_found = _timed(lambda: _naive(polygons, lat[:n], lon[:n]), 1)
    assert naive_found == found[:n].tolist(), "naive loop disagrees with locate"
    naive_rate = n / naive_s
    print(f"naive polygon loop:  {naive_rate:>12,.0f} points/s  ({n:,} points)")

    print(f"ratio vectorised / per-point STRtree: {vec_rate / tree_rate:,.1f}x")
    print(f"ratio vectorised / naive loop:        {vec_rate / naive_rate:,.0f}x")


if __name__ == "__main__":
    main()
