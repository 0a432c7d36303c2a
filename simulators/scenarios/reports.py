"""Grid workers' hazard reports: one hazard per report, located, graded by category."""

from __future__ import annotations

import zlib
from datetime import timedelta

from devices.geo import Crs
from simulators.scenarios.base import Context, again, device_row, layout, minutes, seconds
from simulators.scenarios.models import ExpectedHazard, Publish, Scenario, Step
from simulators.terminal import TerminalSim, offset_m, walk_route


def worker_reports(ctx: Context) -> Scenario:
    """A worker's reports: a fire (GCJ-02, sent twice), clutter, a blocked exit, one outside.

    The blocked exit carries no position: it is located at the walk's fix nearest its time.
    The report from 5 km away lies outside every grid and is still a hazard, at the rule's own
    severity for ``other`` (info). Nothing ever clears them: they stay open.
    """
    grid = layout(ctx)
    terminal = ctx.id("T-RPT")
    sim = TerminalSim(terminal, prefix=ctx.prefix, seed=zlib.crc32(ctx.tag.encode()))
    walk = walk_route(
        [grid.point(1), grid.point(1, east_m=60.0)], start=ctx.at(-minutes(20)), seed=7
    )
    timeline: list[Step] = [
        Publish(m.expected_fixes[0].ts - ctx.base, m) for m in sim.nmea(walk, per_message_s=15)
    ]

    def report(
        at: timedelta, point: tuple[float, float] | None, category: str, crs: Crs
    ) -> Publish:
        msg, _ = sim.report(ts=ctx.at(at), position=point, crs=crs, category=category, photos=0)
        step = Publish(at, msg)
        timeline.append(step)
        return step

    fire = report(-minutes(15), grid.point(0), "fire", Crs.GCJ02)
    timeline.append(again(fire))  # redelivered: still one hazard
    report(-minutes(14), grid.point(2), "combustibles_in_corridor", Crs.WGS84)
    nofix_at = walk[len(walk) // 2].ts - ctx.base + seconds(2)
    report(nofix_at, None, "blocked_exit", Crs.WGS84)
    report(-minutes(10), offset_m(*grid.point(3), 5000.0, 5000.0), "other", Crs.WGS84)
    timeline.sort(key=lambda s: s.at if isinstance(s, Publish) else timedelta(0))
    codes = grid.codes
    return Scenario(
        name="worker_reports",
        description=(worker_reports.__doc__ or "").split("\n")[0],
        tag=ctx.tag,
        base=ctx.base,
        devices=[device_row(terminal, "terminal", unit_id=None, at=grid.point(1))],
        grids=grid.grids,
        timeline=timeline,
        expected_hazards=[
            ExpectedHazard(
                "worker_report", terminal, "critical", occurrences=1, grid_code=codes[0]
            ),
            ExpectedHazard("worker_report", terminal, "warning", grid_code=codes[2]),
            ExpectedHazard("worker_report", terminal, "major", grid_code=codes[1]),
            ExpectedHazard("worker_report", terminal, "info"),  # outside: no grid
        ],
    )
