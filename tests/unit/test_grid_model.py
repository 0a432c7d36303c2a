"""Grid import: a generated city parses, every malformed feature is reported where it is."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import numpy as np
import pytest
import shapely

from devices.geo import Crs, haversine_m
from grids.codes import GridLevel
from grids.exceptions import GridError, GridImportError, GridProblem
from grids.index import GridIndex
from grids.models import parse_grids
from simulators.grid_layout import chinese_number, generate_layout, generate_street, grid_centres

LAT, LON = 31.2575, 121.5870  # 金桥, Pudong


def _street(**options: Any) -> dict[str, Any]:
    return generate_street(lat=LAT, lon=LON, communities=3, grids_per_community=4, **options)


def _problems(doc: Any) -> list[GridProblem]:
    with pytest.raises(GridImportError) as caught:
        parse_grids(doc)
    assert isinstance(caught.value, GridError)
    return caught.value.problems


def _only(doc: Any) -> GridProblem:
    problems = _problems(doc)
    assert len(problems) == 1, problems
    return problems[0]


def _index_of(doc: dict[str, Any], code: str) -> int:
    return next(i for i, f in enumerate(doc["features"]) if f["properties"]["code"] == code)


# --- a good file -------------------------------------------------------------------------


def test_generated_street_parses_with_counts_names_and_parents() -> None:
    grid_set = parse_grids(_street())
    assert grid_set.counts() == {"street": 1, "community": 3, "grid": 12}
    grid = grid_set.grids["310115005003004"]
    assert grid.name == "金桥三村第4网格"
    assert grid.parent == "310115005003"
    assert grid.level is GridLevel.GRID
    assert grid.parts.sequence == "004"
    assert grid.geometry.is_valid
    assert grid_set.get("310115005") is grid_set.streets["310115005"]
    assert grid_set.get("310115005003") is grid_set.communities["310115005003"]
    assert grid_set.get("310115005009") is None


def test_bytes_with_bom_str_and_dict_are_all_accepted() -> None:
    doc = _street()
    raw = msgspec.json.encode(doc)
    for data in (doc, raw, b"\xef\xbb\xbf" + raw, raw.decode()):
        assert parse_grids(data).counts()["grid"] == 12


def test_fourteen_digit_grid_codes_are_accepted() -> None:
    grid_set = parse_grids(_street(sequence_digits=2))
    assert sorted(grid_set.grids)[0] == "31011500500101"
    assert {area.parts.length for area in grid_set.grids.values()} == {14}


def test_street_and_community_may_come_without_geometry() -> None:
    doc = _street()
    for feature in doc["features"]:
        if feature["properties"]["level"] != "grid":
            feature["geometry"] = None
    grid_set = parse_grids(doc)
    assert grid_set.streets["310115005"].geometry is None


def test_generated_grids_tile_their_community_and_street_without_gap_or_overlap() -> None:
    grid_set = parse_grids(generate_layout(lat=LAT, lon=LON, streets=2, seed=3))
    grids = np.array([a.geometry for a in grid_set.grids.values()])
    union = shapely.union_all(grids)
    # No overlap: the union's area is the sum of the parts (to rounding).
    assert union.area == pytest.approx(shapely.area(grids).sum(), rel=1e-9)
    streets = shapely.union_all([a.geometry for a in grid_set.streets.values()])
    assert shapely.symmetric_difference(union, streets).area < 1e-12 * union.area
    for community in grid_set.communities.values():
        mine = [a.geometry for a in grid_set.grids.values() if a.parent == community.code]
        assert len(mine) == 12
        # No gap: the grids' union is the community polygon.
        assert shapely.symmetric_difference(shapely.union_all(mine), community.geometry).area < (
            1e-9 * community.geometry.area
        )


def test_grids_are_numbered_west_to_east_then_north_to_south() -> None:
    centres = grid_centres(_street())  # 4 grids per community: 2 × 2
    (lat1, lon1), (_, lon2), (lat3, lon3) = (centres[f"310115005001{n:03d}"] for n in (1, 2, 3))
    assert lon2 > lon1  # 2 is east of 1
    assert lat3 < lat1  # 3 is south of 1
    assert abs(lon3 - lon1) < abs(lon2 - lon1) / 2  # and below it, not beside


def test_chinese_numbers() -> None:
    assert [chinese_number(n) for n in (1, 3, 10, 12, 20, 27, 99)] == [
        "一", "三", "十", "十二", "二十", "二十七", "九十九",
    ]  # fmt: skip


# --- coordinate systems ------------------------------------------------------------------


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_shifted_polygons_are_converted_to_wgs84(crs: str) -> None:
    wgs = parse_grids(_street(seed=5))
    shifted_doc = _street(seed=5, crs=crs)
    assert all(f["properties"]["crs"] == crs for f in shifted_doc["features"])
    shifted = parse_grids(shifted_doc)
    for code, area in wgs.grids.items():
        a = np.asarray(area.geometry.exterior.coords)
        b = np.asarray(shifted.grids[code].geometry.exterior.coords)
        worst = max(haversine_m(y1, x1, y2, x2) for (x1, y1), (x2, y2) in zip(a, b, strict=True))
        assert worst < 0.5, (code, worst)  # DOMAIN §5: the iterative inverse is < 0.5 m


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_a_point_lands_in_its_grid_only_after_conversion(crs: str) -> None:
    centres = grid_centres(_street(seed=5))  # WGS-84 truth
    doc = _street(seed=5, crs=crs)
    converted = GridIndex.from_gridset(parse_grids(doc))
    for feature in doc["features"]:
        del feature["properties"]["crs"]  # the same file read as if it were WGS-84
    unconverted = GridIndex.from_gridset(parse_grids(doc))
    right = wrong = 0
    for code, (lat, lon) in centres.items():
        hit = converted.locate_one(lat, lon)
        assert hit is not None
        assert hit.grid == code
        right += 1
        miss = unconverted.locate_one(lat, lon)
        wrong += miss is None or miss.grid != code
    # The offset (≈ 500 m, ≈ 1 km for BD-09) exceeds a 250 m grid: every point misses.
    assert wrong == right == 12


# --- what gets refused -------------------------------------------------------------------


def test_not_json_and_not_a_feature_collection() -> None:
    assert _only(b"{not json").reason == "invalid_json"
    assert _only({"type": "Feature"}).where == "type"
    assert _only({"type": "FeatureCollection"}).reason == "features_missing"


@pytest.mark.parametrize("crs", [None, ""])
def test_a_null_or_empty_crs_is_wgs84(crs: str | None) -> None:
    doc = _street()
    for feature in doc["features"]:
        feature["properties"]["crs"] = crs
    grids = parse_grids(doc).grids
    assert grids
    assert all(g.source_crs is Crs.WGS84 for g in grids.values())
    assert _only(_with_crs(0)).reason == "crs_unknown"


def _with_crs(crs: object) -> dict[str, Any]:
    doc = _street()
    doc["features"][0]["properties"]["crs"] = crs
    return doc


def test_a_file_without_grids_is_refused() -> None:
    empty = _only({"type": "FeatureCollection", "features": []})
    assert (empty.where, empty.reason) == ("features", "no_grids")
    doc = _street()
    doc["features"] = [f for f in doc["features"] if f["properties"]["level"] != "grid"]
    assert _only(doc).reason == "no_grids"  # streets and communities alone place nothing


def _broken(mutate: Any, code: str = "310115005002003") -> tuple[GridProblem, int]:
    doc = copy.deepcopy(_street())
    i = _index_of(doc, code)
    mutate(doc["features"][i])
    return _only(doc), i


def _set(path: str, value: Any) -> Any:
    def mutate(feature: dict[str, Any]) -> None:
        *head, last = path.split(".")
        target = feature
        for key in head:
            target = target[key]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value

    return mutate


_DELETE = object()
_BOWTIE = {"type": "Polygon", "coordinates": [[[121.58, 31.25], [121.59, 31.26], [121.59, 31.25],
                                              [121.58, 31.26], [121.58, 31.25]]]}  # fmt: skip
_FLAT = {"type": "Polygon", "coordinates": [[[121.58, 31.25], [121.59, 31.25], [121.60, 31.25],
                                            [121.58, 31.25]]]}  # fmt: skip


@pytest.mark.parametrize(
    ("path", "value", "where", "reason"),
    [
        ("properties.level", "village", "properties.level", "level_unknown"),
        ("properties.level", None, "properties.level", "level_unknown"),
        ("properties.code", "3101150050020031", "properties.code", "code_length"),
        ("properties.code", "310115005002", "properties.code", "code_length"),
        ("properties.code", "31011500500200x", "properties.code", "code_not_digits"),
        ("properties.code", "310115005001009", "properties.code", "code_parent_mismatch"),
        ("properties.parent", _DELETE, "properties.parent", "parent_required"),
        ("properties.parent", 310115005002, "properties.parent", "parent_invalid"),
        ("properties.name", 7, "properties.name", "name_invalid"),
        ("properties.crs", "epsg:3857", "properties.crs", "crs_unknown"),
        ("geometry", None, "geometry", "geometry_missing"),
        (
            "geometry",
            {"type": "Point", "coordinates": [121.58, 31.25]},
            "geometry",
            "geometry_type",
        ),
        ("geometry.coordinates", [], "geometry.coordinates", "geometry_empty"),
        ("geometry", _BOWTIE, "geometry", "geometry_invalid"),
        ("geometry", _FLAT, "geometry", "geometry_invalid"),
        (
            "geometry.coordinates",
            [[[31.25, 121.58], [31.26, 121.59], [31.25, 121.59]]],
            "geometry.coordinates[0][0]",
            "coordinate_out_of_range",
        ),
        (
            "geometry.coordinates",
            [[[121.58, "31.25"], [121.59, 31.26], [121.59, 31.25]]],
            "geometry.coordinates[0][0]",
            "geometry_invalid",
        ),
        (
            "geometry.coordinates",
            [[[121.58, 31.25], [121.59, 31.26], [121.58, 31.25]]],
            "geometry.coordinates[0]",
            "geometry_invalid",
        ),
    ],
)
def test_each_problem_is_located_precisely(path: str, value: Any, where: str, reason: str) -> None:
    problem, i = _broken(_set(path, value))
    assert (problem.where, problem.reason) == (f"features[{i}].{where}", reason)
    assert problem.detail


def test_self_intersection_detail_says_where() -> None:
    problem, _ = _broken(_set("geometry", _BOWTIE))
    assert "Self-intersection" in problem.detail


def test_multipolygon_positions_are_located_in_their_part() -> None:
    square = [[[121.58, 31.25], [121.59, 31.25], [121.59, 31.26], [121.58, 31.26]]]
    bad = [[[121.60, 31.25], [121.61, 31.25], [121.61, float("inf")], [121.60, 31.25]]]
    geometry = {"type": "MultiPolygon", "coordinates": [square, bad]}
    problem, i = _broken(_set("geometry", geometry))
    assert problem.where == f"features[{i}].geometry.coordinates[1][0][2]"


def test_parent_missing_and_parent_of_wrong_level() -> None:
    doc = _street()
    grid = _index_of(doc, "310115005002003")
    community = _index_of(doc, "310115005003")
    doc["features"][grid]["properties"]["parent"] = "310115005002"  # exists: fine
    doc["features"][community]["properties"]["parent"] = "310115009"  # no such street
    doc["features"][community]["properties"]["code"] = "310115009003"
    problems = _problems(doc)
    # The community's own parent is missing; its grids then do not start with its code.
    assert problems[0] == GridProblem(
        f"features[{community}].properties.parent",
        "parent_missing",
        "no valid street has code 310115009",
    )
    assert {p.reason for p in problems[1:]} == {"parent_missing"}
    assert len(problems) == 1 + 4


def test_parent_of_the_wrong_level() -> None:
    problem, i = _broken(_set("properties.parent", "310115005"))  # a street, for a grid
    assert (problem.where, problem.reason) == (
        f"features[{i}].properties.parent",
        "parent_wrong_level",
    )
    assert "310115005 is a street" in problem.detail


def test_street_parent_must_be_its_county() -> None:
    problem, i = _broken(_set("properties.parent", "310116"), code="310115005")
    assert (problem.where, problem.reason) == (
        f"features[{i}].properties.code",
        "code_parent_mismatch",
    )
    _ = parse_grids(_street())  # and an omitted street parent is fine


def test_duplicate_code_names_the_first_occurrence() -> None:
    doc = _street()
    first = _index_of(doc, "310115005001002")
    doc["features"].append(copy.deepcopy(doc["features"][first]))
    problem = _only(doc)
    assert problem.where == f"features[{len(doc['features']) - 1}].properties.code"
    assert problem.reason == "duplicate_code"
    assert f"features[{first}]" in problem.detail


def test_features_that_are_not_features() -> None:
    doc = _street()
    doc["features"][2:2] = [{"type": "Point"}, {"type": "Feature", "properties": None}]
    problems = _problems(doc)
    assert [(p.where, p.reason) for p in problems] == [
        ("features[2]", "feature_invalid"),
        ("features[3].properties", "properties_missing"),
    ]


def test_every_problem_is_collected_in_file_order() -> None:
    doc = _street()
    doc["features"][9]["properties"]["level"] = "block"
    doc["features"][2]["geometry"] = _BOWTIE
    doc["features"][2]["properties"]["code"] = "x"
    problems = _problems(doc)
    assert [(p.where, p.reason) for p in problems] == [
        ("features[2].properties.code", "code_not_digits"),
        ("features[2].geometry", "geometry_invalid"),
        ("features[9].properties.level", "level_unknown"),
    ]
    with pytest.raises(GridImportError, match=r"^3 problem\(s\) in grid file: features\[2\]"):
        parse_grids(doc)
