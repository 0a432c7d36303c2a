"""Scenarios judged by the clock: extinguisher dates and grid patrol compliance (一日双巡)."""

from __future__ import annotations

import random
from datetime import date, timedelta

from simulators.nmea_out import SimFix
from simulators.scenarios.base import (
    Context,
    Layout,
    device_row,
    layout,
    minutes,
    publish_sample,
    unit_row,
    years_before,
)
from simulators.scenarios.models import ExpectedHazard, Publish, Scenario, Step, Tick
from simulators.scenarios.smoke import TICK_AT
from simulators.terminal import TerminalSim, offset_m, walk_route

# A terminal logging a fix every 5 s: still a walk to the patrol checks, a fifth of the data.
FIX_EVERY = 5
PATROL = timedelta(minutes=65)


def extinguisher_dates(ctx: Context) -> Scenario:
    """Extinguishers past scrap age, due for service, overdue for their monthly check, and fine.

    Dates are relative to the CST day of the tick, so the scenario means the same on any day.
    ``EXT-SCRAP-DAY`` reaches its scrap age on that very day (the hazard opens ON the due day);
    ``EXT-EVE`` reaches it tomorrow.
    """
    grid = layout(ctx)
    unit = ctx.id("U-EXT")
    today = (ctx.at(TICK_AT) + timedelta(hours=8)).date()
    recent = (today - timedelta(days=10)).isoformat()
    months_ago = (today - timedelta(days=92)).isoformat()

    def ext(name: str, agent: str, made: date, installed: str, i: int) -> dict[str, object]:
        return device_row(
            ctx.id(name),
            "extinguisher",
            unit_id=unit,
            at=grid.point(2, east_m=8 * i),
            agent=agent,
            manufactured_on=made.isoformat(),
            installed_on=installed,
        )

    devices = [
        ext("EXT-SCRAP", "water", years_before(today, 7), recent, 0),  # water: scrap at 6 y
        ext("EXT-SERVICE", "dry_powder", years_before(today, 6), recent, 1),  # service at 5 y
        ext("EXT-CHECK", "co2", years_before(today, 1), months_ago, 2),  # checked: never
        ext("EXT-FINE", "dry_powder", years_before(today, 1), recent, 3),
        ext("EXT-SCRAP-DAY", "clean_agent", years_before(today, 10), recent, 4),
        ext("EXT-EVE", "clean_agent", years_before(today, 10, days=-1), recent, 5),
    ]
    timeline: list[Step] = [
        publish_sample(ctx, str(d["device_id"]), -minutes(10), {"battery_pct": 97.0})
        for d in devices
    ]
    timeline.append(Tick(TICK_AT, ("dates",)))
    g = grid.codes[2]

    def exp(rule: str, name: str, severity: str) -> ExpectedHazard:
        return ExpectedHazard(rule, ctx.id(name), severity, "open", grid_code=g)

    return Scenario(
        name="extinguisher_dates",
        description=(extinguisher_dates.__doc__ or "").split("\n")[0],
        tag=ctx.tag,
        base=ctx.base,
        units=[unit_row(unit, grid.point(2), "枫桥写字楼")],
        devices=devices,
        grids=grid.grids,
        timeline=timeline,
        expected_hazards=[
            exp("extinguisher_scrap", "EXT-SCRAP", "major"),
            exp("extinguisher_service_due", "EXT-SCRAP", "warning"),
            exp("extinguisher_service_due", "EXT-SERVICE", "warning"),
            exp("extinguisher_monthly_check", "EXT-CHECK", "info"),
            exp("extinguisher_scrap", "EXT-SCRAP-DAY", "major"),
            exp("extinguisher_service_due", "EXT-SCRAP-DAY", "warning"),
            exp("extinguisher_service_due", "EXT-EVE", "warning"),
        ],
    )


def _loop(grid: Layout, index: int, half_m: float = 60.0) -> list[tuple[float, float]]:
    """Return waypoints (lat, lon) of a square round of 2 × ``half_m`` inside grid ``index``."""
    lat, lon = grid.point(index)
    corners = [(-half_m, -half_m), (-half_m, half_m), (half_m, half_m), (half_m, -half_m)]
    return [offset_m(lat, lon, n, e) for n, e in [*corners, corners[0]]]


def _walk(grid: Layout, index: int, start_at: timedelta, ctx: Context, seed: int) -> list[SimFix]:
    """Return a patrol: rounds of grid ``index`` for PATROL, one fix every FIX_EVERY s."""
    rounds = _loop(grid, index)
    fixes: list[SimFix] = []
    while not fixes or fixes[-1].ts - fixes[0].ts < PATROL:
        begin = ctx.at(start_at) + timedelta(seconds=len(fixes))
        fixes += walk_route(rounds, start=begin, seed=seed + len(fixes))
    return fixes[::FIX_EVERY]


def _desk(grid: Layout, index: int, start_at: timedelta, ctx: Context, seed: int) -> list[SimFix]:
    """Return a phone left on a desk for PATROL: a few metres of GNSS noise around one spot."""
    rng = random.Random(seed)
    lat, lon = grid.point(index, east_m=20)
    n = int(PATROL.total_seconds()) // FIX_EVERY + 1
    fixes = []
    for i in range(n):
        noisy = offset_m(lat, lon, rng.gauss(0, 3), rng.gauss(0, 3))
        fixes.append(
            SimFix(
                ts=ctx.at(start_at + timedelta(seconds=i * FIX_EVERY)),
                lat=noisy[0],
                lon=noisy[1],
                satellites=rng.randint(7, 14),
                hdop=round(rng.uniform(0.8, 1.8), 2),
            )
        )
    return fixes


def patrol(ctx: Context) -> Scenario:
    """Yesterday's patrols: two valid 65-min patrols make a grid compliant; one, or a desk, not.

    The street is imported today as in force since yesterday (``effective_from``), and its
    tracks arrive a day late, as a phone's store-and-forward upload: a running FireGrid, which
    judged yesterday before the street existed for it, judges yesterday again. Not since an
    earlier day: a FireGrid that judged that day too would find every grid short then, and
    the one patrolled twice yesterday would leave a cleared hazard behind.
    """
    grid = layout(ctx)
    day = ctx.today_cst - timedelta(days=1)
    nine = ctx.cst_midnight(day) + timedelta(hours=9) - ctx.base
    two = nine + timedelta(hours=5)
    workers = [("W-TWICE", 0), ("W-ONCE", 1), ("W-DESK", 2)]
    terminals = {name: ctx.id(f"T-{name[2:]}") for name, _ in workers}
    staff = [
        {
            "staff_id": ctx.id(name),
            "name": f"网格员{i + 1}",
            "role": "grid_worker",
            "area": grid.codes[index],
            "terminal_id": terminals[name],
        }
        for i, (name, index) in enumerate(workers)
    ]
    devices = [
        device_row(terminals[name], "terminal", unit_id=None, at=grid.point(index))
        for name, index in workers
    ]
    tracks = {
        "W-TWICE": _walk(grid, 0, nine, ctx, 1) + _walk(grid, 0, two, ctx, 2),
        "W-ONCE": _walk(grid, 1, nine, ctx, 3),
        "W-DESK": _desk(grid, 2, nine, ctx, 4) + _desk(grid, 2, two, ctx, 5),
    }
    timeline: list[Step] = []
    for name, fixes in tracks.items():
        sim = TerminalSim(terminals[name], prefix=ctx.prefix, seed=len(name))
        timeline.extend(
            Publish(m.expected_fixes[0].ts - ctx.base, m) for m in sim.nmea(fixes, per_message_s=12)
        )
    timeline.sort(key=lambda s: s.at if isinstance(s, Publish) else timedelta(0))
    timeline.append(Tick(TICK_AT, ("patrols",)))
    codes = grid.codes
    return Scenario(
        name="patrol",
        description=patrol.__doc__ or "",
        tag=ctx.tag,
        base=ctx.base,
        units=[unit_row(ctx.id("U-PAT"), grid.point(3), "枫桥社区中心")],
        devices=devices,
        staff=staff,
        # A GeoJSON foreign member (RFC 7946 §6.1) the grid import reads.
        grids={**grid.grids, "effective_from": day.isoformat()},
        timeline=timeline,
        expected_hazards=[
            ExpectedHazard("grid_patrol", codes[1], "warning", about="grid", grid_code=codes[1]),
            ExpectedHazard("grid_patrol", codes[2], "warning", about="grid", grid_code=codes[2]),
            # Nobody's area, nobody walked it: short of patrols like any other grid.
            ExpectedHazard("grid_patrol", codes[3], "warning", about="grid", grid_code=codes[3]),
        ],
    )
