"""The demo fleet, pure: valid rows, one hydrant dropping at a time, a continuous walk."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from devices import registry
from devices.geo import haversine_m
from devices.models import Reading
from grids.index import GridIndex
from grids.models import parse_grids
from simulators.fleet import DemoFleetSim, demo_devices, demo_grids, demo_staff, demo_units

T0 = datetime(2026, 11, 26, 6, 30, tzinfo=UTC)


def test_rows_are_valid() -> None:
    assert registry.parse_units(json.dumps(demo_units()), fmt="json").errors == []
    assert registry.parse_devices(json.dumps(demo_devices(T0.date())), fmt="json").errors == []
    assert registry.parse_staff(json.dumps(demo_staff()), fmt="json").errors == []
    codes = {f["properties"]["code"] for f in demo_grids()["features"]}
    assert demo_staff()[0]["area"] in codes


def test_one_hydrant_drops_for_two_minutes_every_ten_in_turn() -> None:
    fleet = DemoFleetSim(T0)
    seen = [fleet.dropping(T0 + timedelta(seconds=s)) for s in range(0, 3600, 5)]
    # Nothing in the first cycle; then 24 samples (2 min) of one hydrant per 10-min cycle.
    assert all(d is None for d in seen[:120])
    dropping = [d for d in seen if d is not None]
    assert len(dropping) == 5 * 24
    assert [dropping[i] for i in range(0, len(dropping), 24)] == [
        f"DEMO-HYD-{i:02d}" for i in range(1, 6)
    ]


def test_messages_use_the_prefix_and_carry_the_drop() -> None:
    fleet = DemoFleetSim(T0, prefix="fgdemo/v1")
    at = T0 + timedelta(minutes=10, seconds=30)
    messages = fleet.messages(at)
    assert {m.topic.split("/")[0] for m in messages} == {"fgdemo"}
    pressure = {
        r.device_id: r.value
        for m in messages
        for r in m.expected
        if isinstance(r, Reading) and r.metric == "pressure_mpa"
    }
    assert pressure["DEMO-HYD-01"] < 0.7 * pressure["DEMO-HYD-00"]


def test_the_walk_is_continuous_and_at_walking_pace() -> None:
    fleet = DemoFleetSim(T0, prefix="fgdemo/v1")
    fixes = []
    for k in range(1, 61):
        for m in fleet.messages(T0 + timedelta(seconds=5 * k)):
            fixes += m.expected_fixes
    assert len(fixes) == 150  # 300 s, one fix every 2 s
    steps = [haversine_m(a.lat, a.lon, b.lat, b.lon) for a, b in itertools.pairwise(fixes)]
    assert max(steps) < 3.0
    assert sum(steps) > 300


def test_every_demo_device_and_unit_lies_inside_a_demo_grid() -> None:
    index = GridIndex.from_gridset(parse_grids(demo_grids()))
    rows = [*demo_devices(T0.date()), *demo_units()]
    outside = [r.get("device_id", r.get("unit_id")) for r in rows if not _inside(index, r)]
    assert outside == []
    # The README's example hydrant too, and the hydrants spread over more than one grid.
    hydrants = [r for r in rows if r.get("kind") == "hydrant"]
    assert "DEMO-HYD-00" in {r["device_id"] for r in hydrants}
    grids = {_grid(index, r) for r in hydrants}
    assert len(grids) > 1


def _grid(index: GridIndex, row: dict[str, Any]) -> str | None:
    hit = index.locate_one(float(row["lat"]), float(row["lon"]))
    return None if hit is None else hit.grid


def _inside(index: GridIndex, row: dict[str, Any]) -> bool:
    return _grid(index, row) is not None
