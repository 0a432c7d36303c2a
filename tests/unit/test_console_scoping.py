"""The console's area scoping and keyset paging, as pure logic."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from api.console_queries import area_codes, in_any_area, keyset_page

street = st.text(alphabet="0123456789", min_size=9, max_size=9)
community = st.builds(lambda s, c: s + c, street, st.text("0123456789", min_size=3, max_size=3))
grid = st.builds(lambda c, g: c + g, community, st.text("0123456789", min_size=2, max_size=3))


@given(grid)
def test_a_grid_workers_area_is_seen_by_its_grid_community_street_and_county(code: str) -> None:
    g, c, s = area_codes(code)
    for area in (code, code[:12], code[:9], code[:6]):
        assert in_any_area([area], grid=g, community=c, street=s)


@given(community, grid)
def test_a_community_workers_area_is_not_seen_by_one_grid(code: str, other: str) -> None:
    g, c, s = area_codes(code)
    assert not in_any_area([other], grid=g, community=c, street=s)
    assert in_any_area([code], grid=g, community=c, street=s)
    assert in_any_area([], grid=g, community=c, street=s)


def test_no_area_is_seen_only_without_areas() -> None:
    assert area_codes(None) == (None, None, None)
    assert in_any_area([], grid=None, community=None, street=None)
    assert not in_any_area(["330106"], grid=None, community=None, street=None)


class _Row(BaseModel):
    n: int


@given(
    st.lists(st.lists(st.integers(0, 50), max_size=6), max_size=6),
    st.integers(1, 10),
)
def test_keyset_page_takes_the_first_kept_rows_and_says_whether_more_follow(
    batches: list[list[int]], limit: int
) -> None:
    rows = [[_Row(n=n) for n in batch] for batch in batches]

    def keep(batch: list[_Row]) -> list[bool]:
        return [r.n % 2 == 0 for r in batch]

    kept, more = keyset_page(iter(rows), keep, limit)
    wanted = [n for batch in batches for n in batch if n % 2 == 0]
    assert [r.n for r in kept] == wanted[:limit]
    assert more == (len(wanted) > limit)
