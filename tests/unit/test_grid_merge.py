"""The next grid version: a file merged by code, a replacement, retirements, the hierarchy."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grids.codes import GridLevel
from grids.exceptions import GridImportError, GridProblem
from grids.merge import next_version
from grids.models import GridSet, parse_grids
from simulators.grid_layout import generate_street

LAT, LON = 31.2575, 121.5870


def _street(code: str = "310115005", *, lat: float = LAT, **options: Any) -> dict[str, Any]:
    return generate_street(
        lat=lat, lon=LON, street_code=code, communities=2, grids_per_community=3, **options
    )


def _codes(grid_set: GridSet) -> set[str]:
    return {*grid_set.streets, *grid_set.communities, *grid_set.grids}


def _problems(*args: Any, **kwargs: Any) -> list[GridProblem]:
    with pytest.raises(GridImportError) as caught:
        next_version(*args, **kwargs)
    return caught.value.problems


A = parse_grids(_street("310115005"))
B = parse_grids(_street("310115006", lat=LAT + 0.05), known={})


def test_a_first_import_adds_everything() -> None:
    result, changes = next_version(None, A)
    assert _codes(result) == _codes(A)
    assert changes.added == sorted(_codes(A))
    assert changes.changed == changes.kept == changes.retired == []


def test_merging_a_second_street_keeps_the_first() -> None:
    result, changes = next_version(A, B)
    assert _codes(result) == _codes(A) | _codes(B)
    assert changes.added == sorted(_codes(B))
    assert changes.kept == sorted(_codes(A))
    assert changes.changed == changes.retired == []


def test_replacing_retires_what_the_file_lacks() -> None:
    result, changes = next_version(A, parse_grids(_street("310115006")), replace=True)
    assert _codes(result) == _codes(B)
    assert changes.retired == sorted(_codes(A))
    assert changes.kept == []


def test_the_same_file_again_keeps_all_and_a_moved_grid_is_changed() -> None:
    assert next_version(A, A)[1].kept == sorted(_codes(A))
    doc = _street("310115005")
    moved = copy.deepcopy(doc)
    grid = next(f for f in moved["features"] if f["properties"]["code"] == "310115005001002")
    grid["geometry"]["coordinates"][0][0][0] += 1e-6
    grid["geometry"]["coordinates"][0][-1][0] += 1e-6  # the ring stays closed
    renamed = next(f for f in moved["features"] if f["properties"]["code"] == "310115005002")
    renamed["properties"]["name"] = "新名字社区"
    _, changes = next_version(A, parse_grids(moved))
    assert changes.changed == ["310115005001002", "310115005002"]
    assert len(changes.kept) == len(_codes(A)) - 2


def test_a_file_of_one_grid_under_a_known_community_merges() -> None:
    doc = _street("310115005")
    one = [f for f in doc["features"] if f["properties"]["code"] == "310115005001003"]
    partial = parse_grids({"type": "FeatureCollection", "features": one}, known=_known(A))
    result, changes = next_version(A, partial)
    assert changes.kept == sorted(_codes(A))  # the same grid, named again unchanged
    assert _codes(result) == _codes(A)


def _known(grid_set: GridSet) -> dict[str, GridLevel]:
    areas = {**grid_set.streets, **grid_set.communities, **grid_set.grids}
    return {code: area.level for code, area in areas.items()}


def test_a_parent_in_neither_file_nor_version_is_refused() -> None:
    doc = _street("310115007", lat=LAT - 0.05)
    grids = [f for f in doc["features"] if f["properties"]["level"] == "grid"]
    orphans = {"type": "FeatureCollection", "features": grids[:2]}
    with pytest.raises(GridImportError) as caught:
        parse_grids(orphans, known=_known(A))
    problems = caught.value.problems
    assert [(p.where, p.reason) for p in problems] == [
        ("features[0].properties.parent", "parent_missing"),
        ("features[1].properties.parent", "parent_missing"),
    ]
    assert "310115007001 in the file or the current version" in problems[0].detail
    # A community of the current version is a parent; a grid there is not.
    one = [f for f in _street("310115005")["features"] if f["properties"]["level"] == "grid"]
    assert len(parse_grids({"type": "FeatureCollection", "features": one}, known=_known(A)).grids)
    one[0]["properties"]["parent"] = "310115005001001"
    one[0]["properties"]["code"] = "310115005001001"
    with pytest.raises(GridImportError) as caught:
        parse_grids({"type": "FeatureCollection", "features": one[:1]}, known=_known(A))
    assert caught.value.problems[0].reason == "parent_wrong_level"


def test_retiring_a_community_retires_its_grids_and_nothing_else() -> None:
    both, _ = next_version(A, B)
    result, changes = next_version(both, None, retire=["310115005001"])
    gone = {"310115005001", *(f"310115005001{i:03d}" for i in (1, 2, 3))}
    assert changes.retired == sorted(gone)
    assert _codes(result) == (_codes(A) | _codes(B)) - gone


def test_retiring_a_street_retires_its_communities_and_grids() -> None:
    both, _ = next_version(A, B)
    result, changes = next_version(both, None, retire=["310115006"])
    assert changes.retired == sorted(_codes(B))
    assert _codes(result) == _codes(A)


def test_retiring_an_unknown_or_named_code_or_every_grid_is_refused() -> None:
    assert [p.reason for p in _problems(A, None, retire=["310115009"])] == ["retire_unknown"]
    assert [p.reason for p in _problems(A, A, retire=["310115005001"])] == ["retire_conflict"]
    assert [p.reason for p in _problems(A, None, retire=["310115005"])] == ["no_grids"]


COMMUNITIES = sorted(A.communities)


@given(st.sets(st.sampled_from(COMMUNITIES), max_size=len(COMMUNITIES) - 1))
def test_retiring_communities_leaves_no_orphan_and_retires_exactly_their_grids(
    chosen: set[str],
) -> None:
    both, _ = next_version(A, B)
    result, changes = next_version(both, None, retire=chosen)
    expected = {c for c in _codes(both) if any(c.startswith(x) for x in chosen)}
    # 15-digit codes under a 12-digit community: here prefix and parent link agree.
    assert set(changes.retired) == expected
    assert set(changes.kept) == _codes(both) - expected
    for grid in result.grids.values():
        assert grid.parent in result.communities
    for community in result.communities.values():
        assert community.parent in result.streets
