"""Patrol segmenter: gaps split, a desk phone never counts, time per grid adds up."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.models import Fix
from grids.index import GridIndex
from grids.models import parse_grids
from patrols.segments import (
    REASON_STATIONARY,
    REASON_TOO_FEW_FIXES,
    PatrolParams,
    segment_fixes,
)
from simulators.grid_layout import generate_street, grid_centres

T0 = datetime(2026, 11, 26, 0, 30, tzinfo=UTC)
LAT, LON = 31.2575, 121.5870
M_PER_DEG = 6_371_008.8 * math.pi / 180.0


def _at(x_m: float, y_m: float) -> tuple[float, float]:
    """Return (lat, lon) x metres east and y north of (LAT, LON)."""
    return LAT + y_m / M_PER_DEG, LON + x_m / (M_PER_DEG * math.cos(math.radians(LAT)))


def _fixes(
    points: list[tuple[float, float]], *, every_s: float = 5.0, start: datetime = T0
) -> list[Fix]:
    return [
        Fix("T1", start + timedelta(seconds=i * every_s), lat, lon, 1, 12, 0.9)
        for i, (lat, lon) in enumerate(points)
    ]


def _line(
    length_m: float, *, speed: float = 1.3, every_s: float = 5.0
) -> list[tuple[float, float]]:
    n = int(length_m / (speed * every_s)) + 1
    return [_at(i * speed * every_s, 0.0) for i in range(n)]


def test_a_straight_walk_is_one_valid_segment_with_its_distance() -> None:
    fixes = _fixes(_line(1.3 * 3600))
    [seg] = segment_fixes(fixes)
    assert seg.valid
    assert seg.reason is None
    assert seg.duration_s == pytest.approx(3600, abs=5)
    assert seg.distance_m == pytest.approx(1.3 * 3600, rel=0.01)
    assert seg.fixes == len(fixes)
    assert seg.started_at == T0
    assert seg.extent_m > 3000


def test_a_gap_longer_than_max_gap_splits_and_a_shorter_one_does_not() -> None:
    first = _fixes(_line(500))
    later = first[-1].ts
    split = _fixes(_line(500), start=later + timedelta(seconds=301))
    joined = _fixes(_line(500), start=later + timedelta(seconds=299))
    assert len(segment_fixes(first + split)) == 2
    assert len(segment_fixes(first + joined)) == 1
    shorter = segment_fixes(first + joined, params=PatrolParams(max_gap_s=120))
    assert [s.fixes for s in shorter] == [len(first), len(joined)]
    assert shorter[0].ended_at == first[-1].ts


def test_a_phone_on_a_desk_is_stationary_despite_noise_and_outliers() -> None:
    rng = np.random.default_rng(7)
    n = 2 * 3600  # two hours at 1 Hz
    x, y = rng.normal(0, 5, n), rng.normal(0, 5, n)
    # Multipath: a few bursts of fixes thrown 80-150 m off, as indoor receivers do.
    for start in rng.choice(n - 20, 8, replace=False):
        dx, dy = rng.uniform(80, 150), rng.uniform(-150, 150)
        x[start : start + 10] += dx
        y[start : start + 10] += dy
    fixes = _fixes([_at(a, b) for a, b in zip(x, y, strict=True)], every_s=1.0)
    [seg] = segment_fixes(fixes)
    assert not seg.valid
    assert seg.reason == REASON_STATIONARY
    assert seg.extent_m < 50
    assert seg.cells < PatrolParams().min_cells
    assert seg.duration_s == pytest.approx(n - 1)


def test_walking_a_small_courtyard_counts_by_cells_not_extent() -> None:
    # Lawnmower rows 8 m apart over a 65 m square: extent under 100 m, many 20 m cells.
    xs = np.arange(0, 66, 6.5)
    points = [
        _at(float(x), row * 8.0) for row in range(9) for x in (xs if row % 2 == 0 else xs[::-1])
    ]
    [seg] = segment_fixes(_fixes(points))
    assert seg.extent_m < PatrolParams().min_extent_m
    assert seg.cells >= PatrolParams().min_cells
    assert seg.valid


def test_too_few_fixes_is_invalid_whatever_the_distance() -> None:
    [seg] = segment_fixes(_fixes(_line(1000), every_s=60.0)[:5])
    assert (seg.valid, seg.reason) == (False, REASON_TOO_FEW_FIXES)


def test_a_resent_buffer_and_unsorted_input_count_once() -> None:
    fixes = _fixes(_line(800))
    mixed = list(reversed(fixes)) + fixes[10:40]
    [once] = segment_fixes(fixes)
    [again] = segment_fixes(mixed)
    assert again == once


def test_grids_visited_from_a_simulated_street() -> None:
    collection = generate_street(lat=LAT, lon=LON, communities=2, grids_per_community=4, seed=3)
    index = GridIndex.from_gridset(parse_grids(collection))
    centres = grid_centres(collection)
    codes = sorted(centres)
    a, b = centres[codes[0]], centres[codes[1]]  # west→east neighbours in one community
    steps = 240  # 20 minutes at 5 s from one centre to the next, then 20 minutes back
    path = [
        (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
        for t in np.r_[np.linspace(0, 1, steps), np.linspace(1, 0, steps)[1:]]
    ]
    lat = np.array([p[0] for p in path])
    lon = np.array([p[1] for p in path])
    grid, _, _ = index.codes(index.locate(lat, lon))
    [seg] = segment_fixes(_fixes(path), grids=list(grid))
    visits = {v.grid: v for v in seg.grids}
    assert set(visits) == {codes[0], codes[1]}
    assert [v.grid for v in seg.grids] == [codes[0], codes[1]]  # order of first visit
    assert sum(v.seconds for v in seg.grids) == pytest.approx(seg.duration_s)
    # The walk is symmetric about the shared border: about half the time on each side.
    assert visits[codes[0]].seconds == pytest.approx(seg.duration_s / 2, rel=0.1)
    assert sum(v.fixes for v in seg.grids) == seg.fixes
    assert visits[codes[0]].community == codes[0][:12]
    assert visits[codes[0]].street == codes[0][:9]


def test_time_outside_every_grid_is_not_listed() -> None:
    fixes = _fixes(_line(300))
    grids: list[str | None] = ["310115005001001"] * 10 + [None] * (len(fixes) - 10)
    [seg] = segment_fixes(fixes, grids=grids)
    [visit] = seg.grids
    assert visit.seconds == pytest.approx(9 * 5 + 2.5)  # nine intervals and half the crossing
    assert visit.fixes == 10


def test_grid_codes_must_match_the_fixes() -> None:
    with pytest.raises(ValueError, match="grid codes"):
        segment_fixes(_fixes(_line(100)), grids=["310115005001001"])
    assert segment_fixes([]) == []


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.floats(0.5, 900.0), min_size=1, max_size=80),
    cells=st.lists(st.sampled_from(["310115005001001", "310115005001002", None]), min_size=81),
)
def test_segments_partition_the_fixes_and_grid_time_never_exceeds_duration(
    gaps: list[float], cells: list[str | None]
) -> None:
    times = np.cumsum([0.0, *gaps])
    fixes = [
        Fix("T1", T0 + timedelta(seconds=float(t)), *_at(float(t), 0.0), 1, 10, 1.0) for t in times
    ]
    p = PatrolParams()
    segments = segment_fixes(fixes, grids=cells[: len(fixes)], params=p)
    assert sum(s.fixes for s in segments) == len(fixes)
    for s in segments:
        assert s.duration_s == pytest.approx((s.ended_at - s.started_at).total_seconds())
        assert sum(v.seconds for v in s.grids) <= s.duration_s + 1e-6
        assert s.valid == (s.reason is None)
    for before, after in itertools.pairwise(segments):
        assert (after.started_at - before.ended_at).total_seconds() > p.max_gap_s
