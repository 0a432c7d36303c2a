"""Hydrant scenarios: threshold with hysteresis, sudden drop, and late or repeated data.

Pressures move gently (never 30 % within 5 minutes) except where a sudden drop is the point,
so each scenario raises only the rule kind it is about. Samples are 30 s apart, in the past of
the base time, as a pressure terminal reporting a backlog would send them.
"""

from __future__ import annotations

from simulators.scenarios.base import (
    Context,
    again,
    device_row,
    layout,
    minutes,
    publish_event,
    publish_sample,
    seconds,
    series,
    unit_row,
)
from simulators.scenarios.models import ExpectedHazard, Publish, Scenario, Step, Sync

STEP = seconds(30)


def _hydrant(ctx: Context, name: str, unit_id: str, at: tuple[float, float]) -> dict[str, object]:
    return device_row(
        ctx.id(name), "hydrant", unit_id=unit_id, at=at, hydrant_class="municipal", heartbeat_s=60
    )


def hydrant_threshold(ctx: Context) -> Scenario:
    """A hydrant crossing 0.14 MPa back and forth: exactly two episodes, the second critical."""
    grid = layout(ctx)
    unit = ctx.id("U-THR")
    h1, h2 = ctx.id("HYD-LOW"), ctx.id("HYD-OK")
    values = (
        [0.18] * 4  # healthy (at or above 0.16, the clearing level)
        + [0.13] * 8  # below 0.14 for 3.5 min: opens once 120 s have passed
        + [0.145, 0.15, 0.135, 0.155, 0.15]  # dead band and one more low: stays open
        + [0.17]  # at or above 0.16: clears episode 1
        + [0.13, 0.15] * 4  # 30 s dips, each broken by a sample at the limit: no episode
        + [0.17, 0.17]
        + [0.125] * 12  # low for 6 min: episode 2 opens after 120 s
        + [0.09] * 4  # below the 0.10 critical limit: episode 2 becomes critical
    )
    start = -minutes(60)
    timeline: list[Step] = [
        *series(ctx, h1, start=start, step=STEP, values=values),
        *series(ctx, h2, start=start, step=STEP, values=[0.31] * len(values)),
    ]
    g = grid.codes[0]
    return Scenario(
        name="hydrant_threshold",
        description=hydrant_threshold.__doc__ or "",
        tag=ctx.tag,
        base=ctx.base,
        units=[unit_row(unit, grid.point(0), "枫桥消防泵房")],
        devices=[
            _hydrant(ctx, "HYD-LOW", unit, grid.point(0, east_m=20)),
            _hydrant(ctx, "HYD-OK", unit, grid.point(0, east_m=-20)),
        ],
        grids=grid.grids,
        timeline=sorted(timeline, key=_when),
        expected_hazards=[
            ExpectedHazard("hydrant_municipal_low", h1, "warning", "cleared", grid_code=g),
            # The escalation to critical is an update: a second occurrence of the episode.
            ExpectedHazard(
                "hydrant_municipal_low", h1, "critical", "open", occurrences=2, grid_code=g
            ),
        ],
    )


def hydrant_drop(ctx: Context) -> Scenario:
    """A hydrant losing a third of its pressure in a minute, twice: two sudden-drop episodes."""
    grid = layout(ctx)
    unit = ctx.id("U-DROP")
    h1 = ctx.id("HYD-DROP")
    values = (
        [0.32] * 6
        + [0.20] * 5  # 37.5 % below the window's 0.32: opens (0.20 is not low: no threshold)
        + [0.30]  # back above 90 % of 0.32: clears
        + [0.31] * 12  # 6 min, so the 5-min window forgets the old reference
        + [0.18] * 6  # 42 % below 0.31: opens again and stays open
    )
    return Scenario(
        name="hydrant_drop",
        description=hydrant_drop.__doc__ or "",
        tag=ctx.tag,
        base=ctx.base,
        units=[unit_row(unit, grid.point(1), "枫桥小区物业")],
        devices=[_hydrant(ctx, "HYD-DROP", unit, grid.point(1))],
        grids=grid.grids,
        timeline=list[Step](series(ctx, h1, start=-minutes(40), step=STEP, values=values)),
        expected_hazards=[
            ExpectedHazard("hydrant_sudden_drop", h1, "major", "cleared", grid_code=grid.codes[1]),
            ExpectedHazard("hydrant_sudden_drop", h1, "major", "open", grid_code=grid.codes[1]),
        ],
    )


def late_data(ctx: Context) -> Scenario:
    """A late sample inside the window changes the outcome; one beyond it changes nothing.

    ``HYD-LATE``: the sample that makes a low run last 180 s arrives after the rules have
    moved past it: re-evaluated in order, it opens an episode, which the next sample clears.
    ``HYD-TOOLATE``: an episode opens and clears; more than the late window later, a sample of
    0.05 MPa stamped inside the old episode arrives: too late, it must not reopen anything.
    ``HYD-TWICE`` and ``SMK-TWICE``: every message delivered twice, then all again after the
    rules ran: one episode each, one occurrence.
    """
    grid = layout(ctx)
    unit = ctx.id("U-LATE")
    late, too_late, twice = ctx.id("HYD-LATE"), ctx.id("HYD-TOOLATE"), ctx.id("HYD-TWICE")
    smoke = ctx.id("SMK-TWICE")
    start = -minutes(180)
    timeline: list[Step] = []

    # Inside the window: 0.13 at 120 s, [0.13 at 300 s held back], 0.17 at 420 s.
    on_time = [
        *series(ctx, late, start=start, step=STEP, values=[0.17] * 4),
        publish_sample(ctx, late, start + seconds(120), {"pressure_mpa": 0.13}),
    ]
    held_back = publish_sample(ctx, late, start + seconds(300), {"pressure_mpa": 0.13})
    on_time.append(publish_sample(ctx, late, start + seconds(420), {"pressure_mpa": 0.17}))

    # Beyond the window: open at 180 s, clear at 240 s, then healthy for window + 15 min.
    episode = series(ctx, too_late, start=start, step=STEP, values=[0.17] * 2 + [0.13] * 6)
    episode.append(publish_sample(ctx, too_late, start + seconds(240), {"pressure_mpa": 0.17}))
    healthy_for = ctx.late_window + minutes(15)
    healthy = series(
        ctx,
        too_late,
        start=start + minutes(5),
        step=minutes(5),
        values=[0.17] * (int(healthy_for / minutes(5)) + 1),
    )
    stale = publish_sample(ctx, too_late, start + seconds(200), {"pressure_mpa": 0.05})

    # Twice: each message, then the whole lot again once the rules have run.
    dup = series(ctx, twice, start=start, step=STEP, values=[0.17] + [0.13] * 5)
    alarm = publish_event(ctx, smoke, start + seconds(100), "smoke_alarm", {"smoke_pct": 9.5})
    first_round = [*dup, alarm]

    timeline += sorted([*on_time, *episode, *healthy], key=_when)
    timeline += [s for step in first_round for s in (step, again(step))]
    timeline += [Sync(), held_back, stale, Sync()]
    timeline += [again(s) for s in first_round]

    g = grid.codes[2]
    return Scenario(
        name="late_data",
        description=(late_data.__doc__ or "").split("\n")[0],
        tag=ctx.tag,
        base=ctx.base,
        units=[unit_row(unit, grid.point(2), "枫桥商场")],
        devices=[
            _hydrant(ctx, "HYD-LATE", unit, grid.point(2, east_m=30)),
            _hydrant(ctx, "HYD-TOOLATE", unit, grid.point(2, east_m=-30)),
            _hydrant(ctx, "HYD-TWICE", unit, grid.point(2, north_m=30)),
            device_row(smoke, "smoke", unit_id=unit, at=grid.point(2, north_m=-30)),
        ],
        grids=grid.grids,
        timeline=timeline,
        expected_hazards=[
            ExpectedHazard("hydrant_municipal_low", late, "warning", "cleared", grid_code=g),
            ExpectedHazard("hydrant_municipal_low", too_late, "warning", "cleared", grid_code=g),
            ExpectedHazard("hydrant_municipal_low", twice, "warning", "open", occurrences=1),
            ExpectedHazard("smoke_alarm", smoke, "major", "open", occurrences=1, grid_code=g),
        ],
    )


def _when(step: Step) -> float:
    """Sort key of a published step: its device time offset."""
    return step.at.total_seconds() if isinstance(step, Publish) else 0.0
