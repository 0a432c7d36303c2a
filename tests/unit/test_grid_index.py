"""Grid lookup: the right grid, the boundary rule, the explicit outside, and brute-force parity."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.geo import from_wgs84_array
from grids.index import OUTSIDE, GridHit, GridIndex
from grids.models import GridSet, parse_grids
from simulators.grid_layout import generate_layout, generate_street, grid_centres

LAT, LON = 31.2575, 121.5870
STREET, COMMUNITY = "310115005", "310115005001"
# A 3 × 2 block of exact 0.001° squares west→east, north→south, numbered like DB11:
#   001 002 003
#   004 005 006
X = [121.500, 121.501, 121.502, 121.503]
Y = [31.252, 31.251, 31.250]


def _square(x0: float, x1: float, y0: float, y1: float) -> dict[str, Any]:
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def _feature(code: str, level: str, parent: str | None, geometry: Any) -> dict[str, Any]:
    props = {"code": code, "level": level, "name": code}
    if parent:
        props["parent"] = parent
    return {"type": "Feature", "geometry": geometry, "properties": props}


def _block(extra: list[dict[str, Any]] | None = None, *, reverse: bool = False) -> GridSet:
    grids = [
        _feature(f"{COMMUNITY}{r * 3 + c + 1:03d}", "grid", COMMUNITY,
                 _square(X[c], X[c + 1], Y[r + 1], Y[r]))
        for r in range(2) for c in range(3)
    ]  # fmt: skip
    features = [
        _feature(STREET, "street", None, _square(X[0] - 0.01, X[3] + 0.01, 31.24, 31.26)),
        # The community is larger than its grids: the margin is inside it but in no grid.
        _feature(COMMUNITY, "community", STREET, _square(X[0] - 0.001, X[3], Y[2], Y[0])),
        *grids,
        *(extra or []),
    ]
    if reverse:
        features.reverse()
    return parse_grids({"type": "FeatureCollection", "features": features})


def _code(n: int) -> str:
    return f"{COMMUNITY}{n:03d}"


@pytest.fixture(scope="module")
def block() -> GridIndex:
    return GridIndex.from_gridset(_block())


# --- the right grid ----------------------------------------------------------------------


def test_interior_points_find_their_grid_and_its_parents(block: GridIndex) -> None:
    hit = block.locate_one(31.2515, 121.5025)
    assert hit == GridHit(grid=_code(3), community=COMMUNITY, street=STREET)
    found = block.locate([31.2515, 31.2505, 31.2505], [121.5005, 121.5015, 121.5025])
    grid, community, street = block.codes(found)
    assert grid.tolist() == [_code(1), _code(5), _code(6)]
    assert community.tolist() == [COMMUNITY] * 3
    assert street.tolist() == [STREET] * 3


def test_generated_street_centres_all_land_in_their_grid() -> None:
    doc = generate_street(lat=LAT, lon=LON, communities=6, grids_per_community=12, seed=9)
    index = GridIndex.from_gridset(parse_grids(doc))
    centres = grid_centres(doc)
    lat = np.array([c[0] for c in centres.values()])
    lon = np.array([c[1] for c in centres.values()])
    grid, _, _ = index.codes(index.locate(lat, lon))
    assert grid.tolist() == list(centres)


def test_a_batch_split_across_cores_answers_as_small_batches_do() -> None:
    doc = generate_street(lat=LAT, lon=LON, communities=6, grids_per_community=12, seed=3)
    index = GridIndex.from_gridset(parse_grids(doc))
    rng = np.random.default_rng(5)
    # 60,000 points around the street, a few on the grid edges' lattice and some outside
    lat = LAT + rng.uniform(-0.02, 0.02, 60_000)
    lon = LON + rng.uniform(-0.02, 0.02, 60_000)
    whole = index.locate(lat, lon)  # large enough to be cut into pieces on a multi-core box
    pieces = np.concatenate(
        [index.locate(lat[i : i + 1000], lon[i : i + 1000]) for i in range(0, 60_000, 1000)]
    )
    assert np.array_equal(whole, pieces)
    assert 0 < int((whole == OUTSIDE).sum()) < 60_000


def test_points_given_in_gcj02_are_converted_first(block: GridIndex) -> None:
    lat = np.array([31.2515, 31.2505])
    lon = np.array([121.5005, 121.5025])
    glat, glon = from_wgs84_array(lat, lon, "gcj02")
    assert block.locate(glat, glon, crs="gcj02").tolist() == block.locate(lat, lon).tolist()
    # Read as WGS-84, the GCJ-02 position (≈ 500 m off) is outside this 300 m block.
    assert block.locate(glat, glon).tolist() == [OUTSIDE, OUTSIDE]


# --- the boundary rule -------------------------------------------------------------------


@pytest.mark.parametrize("reverse", [False, True])
def test_shared_edge_goes_to_the_lowest_code(reverse: bool) -> None:
    index = GridIndex.from_gridset(_block(reverse=reverse))
    # On the edge between 001 and 002, between 002 and 005, and between 005 and 006.
    found = index.locate([31.2515, 31.251, 31.2505], [121.501, 121.5015, 121.502])
    assert index.codes(found)[0].tolist() == [_code(1), _code(2), _code(5)]


def test_corner_shared_by_four_goes_to_the_lowest_code(block: GridIndex) -> None:
    hit = block.locate_one(31.251, 121.502)  # corner of 002, 003, 005, 006
    assert hit is not None
    assert hit.grid == _code(2)


def test_outer_edge_and_vertex_are_covered(block: GridIndex) -> None:
    found = block.locate([31.252, 31.250, 31.2515], [121.500, 121.503, 121.503])
    assert block.codes(found)[0].tolist() == [_code(1), _code(6), _code(3)]


def test_overlapping_grids_resolve_to_the_lowest_code() -> None:
    # A sloppy survey: 007 overlaps 005 and 006 entirely; 005 < 007 wins, and so does 006.
    overlap = _feature(_code(7), "grid", COMMUNITY, _square(X[1], X[3], Y[2], Y[1]))
    index = GridIndex.from_gridset(_block([overlap]))
    found = index.locate([31.2505, 31.2505], [121.5015, 121.5025])
    assert index.codes(found)[0].tolist() == [_code(5), _code(6)]


# --- outside -----------------------------------------------------------------------------


def test_outside_every_grid_is_explicit(block: GridIndex) -> None:
    lat = [31.2505, 31.30, 31.2505, math.nan, 31.2505, 31.2505]
    lon = [121.4995, 121.50, 121.5035, 121.5015, math.inf, 121.5015]
    found = block.locate(lat, lon)
    # In the community's margin but no grid; far away; just east; NaN; infinite; inside.
    assert found.tolist()[:5] == [OUTSIDE] * 5
    assert found[5] != OUTSIDE
    grid, community, street = block.codes(found)
    assert grid.tolist()[:5] == [None] * 5
    assert community[0] is None
    assert street[0] is None
    assert block.locate_one(31.2505, 121.4995) is None


def test_empty_input_and_empty_index() -> None:
    empty = GridIndex([])
    assert len(empty) == 0
    assert empty.locate([31.25], [121.5]).tolist() == [OUTSIDE]
    assert empty.codes(empty.locate([31.25], [121.5]))[0].tolist() == [None]
    full = GridIndex.from_gridset(_block())
    assert full.locate([], []).shape == (0,)


def test_bad_input_shapes_are_refused(block: GridIndex) -> None:
    with pytest.raises(ValueError, match="equal in length"):
        block.locate([31.25, 31.26], [121.5])
    with pytest.raises(ValueError, match="1-D"):
        block.locate(np.zeros((2, 2)), np.zeros((2, 2)))


def test_duplicate_codes_are_refused() -> None:
    area = next(iter(_block().grids.values()))
    with pytest.raises(ValueError, match="unique"):
        GridIndex([area, area])


def test_grid_codes_are_sorted(block: GridIndex) -> None:
    assert block.grid_codes.tolist() == [_code(n) for n in range(1, 7)]
    assert len(block) == 6


# --- agreement with brute force ----------------------------------------------------------


@functools.cache
def _layout(jitter: float) -> tuple[GridIndex, list[Any]]:
    doc = generate_layout(
        lat=LAT, lon=LON, streets=2, communities_per_street=4, grids_per_community=6,
        jitter=jitter, seed=11,
    )  # fmt: skip
    index = GridIndex.from_gridset(parse_grids(doc))
    return index, [index.geometry(i) for i in range(len(index))]


def _brute(polygons: list[Any], lat: float, lon: float) -> int:
    covers = shapely.covers(np.array(polygons), shapely.Point(lon, lat))
    hits = np.flatnonzero(covers)
    return int(hits[0]) if hits.size else OUTSIDE  # polygons in code order: lowest code


@st.composite
def _points(draw: st.DrawFn, polygons: list[Any]) -> tuple[float, float]:
    kind = draw(st.sampled_from(["anywhere", "vertex", "edge"]))
    if kind == "anywhere":
        x0, y0, x1, y1 = shapely.total_bounds(np.array(polygons))
        lon = draw(st.floats(x0 - 0.001, x1 + 0.001))
        lat = draw(st.floats(y0 - 0.001, y1 + 0.001))
        return lat, lon
    ring = np.asarray(draw(st.sampled_from(polygons)).exterior.coords)
    j = draw(st.integers(0, len(ring) - 2))
    if kind == "vertex":
        return float(ring[j, 1]), float(ring[j, 0])
    t = draw(st.sampled_from([0.0, 0.5, 1.0]) | st.floats(0.0, 1.0))
    (ax, ay), (bx, by) = ring[j], ring[j + 1]
    return float(ay + t * (by - ay)), float(ax + t * (bx - ax))


@pytest.mark.parametrize("jitter", [0.0, 0.12])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_index_agrees_with_brute_force_covers(jitter: float, data: st.DataObject) -> None:
    index, polygons = _layout(jitter)
    points = data.draw(st.lists(_points(polygons), min_size=1, max_size=40))
    lat = np.array([p[0] for p in points])
    lon = np.array([p[1] for p in points])
    expected = [_brute(polygons, la, lo) for la, lo in points]
    assert index.locate(lat, lon).tolist() == expected


def test_straight_lattice_really_has_shared_boundary_points() -> None:
    # Guards the property test: with no jitter, vertices are covered by several grids.
    _, polygons = _layout(0.0)
    ring = np.asarray(polygons[0].exterior.coords)
    counts = [
        int(shapely.covers(np.array(polygons), shapely.Point(x, y)).sum()) for x, y in ring[:-1]
    ]
    assert max(counts) >= 2
