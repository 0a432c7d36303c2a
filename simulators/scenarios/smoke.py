"""Smoke-detector and device-event scenarios: events, correlation, false alarms, silence."""

from __future__ import annotations

from datetime import timedelta

from simulators.scenarios.base import (
    Context,
    device_row,
    layout,
    minutes,
    publish_event,
    publish_sample,
    seconds,
    series,
    unit_row,
)
from simulators.scenarios.models import ExpectedHazard, Scenario, Step, Tick

# Every clock-driven check runs at base + TICK_AT: ticks of scenarios run one after another
# in one database then never go back in time.
TICK_AT = minutes(5)


def device_events(ctx: Context) -> Scenario:
    """Each device-event family once: smoke alarm then cleared, fault, tamper, cap, tilt, moved."""
    grid = layout(ctx)
    unit = ctx.id("U-EVT")
    at = grid.point
    ids = {n: ctx.id(n) for n in ("SMK-A", "SMK-F", "SMK-T", "SMK-B", "HYD-C", "HYD-T", "HYD-K")}
    ids |= {n: ctx.id(n) for n in ("EXT-M", "EXT-R")}
    devices = [
        device_row(ids[n], "smoke", unit_id=unit, at=at(0, east_m=10 * i))
        for i, n in enumerate(("SMK-A", "SMK-F", "SMK-T", "SMK-B"))
    ]
    devices += [
        device_row(ids[n], "hydrant", unit_id=unit, at=at(1, east_m=10 * i), hydrant_class="indoor")
        for i, n in enumerate(("HYD-C", "HYD-T", "HYD-K"))
    ]
    devices += [
        device_row(ids[n], "extinguisher", unit_id=unit, at=at(0, north_m=10 * i), agent="co2")
        for i, n in enumerate(("EXT-M", "EXT-R"))
    ]
    t0 = -minutes(30)
    s = seconds
    events = [
        ("SMK-A", s(0), "smoke_alarm"),
        ("SMK-A", s(30), "silenced"),
        ("SMK-A", s(180), "alarm_cleared"),
        ("SMK-F", s(10), "fault"),
        ("SMK-T", s(20), "tamper"),
        ("SMK-T", s(400), "installed"),
        ("SMK-B", s(40), "low_battery"),
        ("HYD-C", s(50), "cap_open"),
        ("HYD-T", s(60), "tilt"),
        ("HYD-K", s(70), "cap_open"),
        ("HYD-K", s(300), "cap_closed"),
        ("EXT-M", s(80), "moved"),
        ("EXT-R", s(90), "moved"),
        ("EXT-R", s(600), "returned"),
    ]
    timeline: list[Step] = [
        publish_event(ctx, ids[name], t0 + when, kind)
        for name, when, kind in sorted(events, key=lambda e: e[1])
    ]
    g0, g1 = grid.codes[0], grid.codes[1]
    expect = ExpectedHazard
    return Scenario(
        name="device_events",
        description=device_events.__doc__ or "",
        tag=ctx.tag,
        base=ctx.base,
        units=[unit_row(unit, at(0), "枫桥养老院")],
        devices=devices,
        grids=grid.grids,
        timeline=timeline,
        expected_hazards=[
            # "silenced" updates the alarm: two occurrences, one episode.
            expect("smoke_alarm", ids["SMK-A"], "major", "cleared", occurrences=2, grid_code=g0),
            expect("smoke_fault", ids["SMK-F"], "warning", "open", grid_code=g0),
            expect("smoke_tamper", ids["SMK-T"], "major", "cleared", grid_code=g0),
            expect("smoke_low_battery", ids["SMK-B"], "warning", "open", grid_code=g0),
            expect("hydrant_cap_open", ids["HYD-C"], "major", "open", grid_code=g1),
            expect("hydrant_tilt", ids["HYD-T"], "critical", "open", grid_code=g1),
            expect("hydrant_cap_open", ids["HYD-K"], "major", "cleared", grid_code=g1),
            expect("extinguisher_moved", ids["EXT-M"], "warning", "open", grid_code=g0),
            expect("extinguisher_moved", ids["EXT-R"], "warning", "cleared", grid_code=g0),
        ],
    )


def confirmed_fire(ctx: Context) -> Scenario:
    """Two detectors of one unit within 120 s: a confirmed fire; 300 s apart elsewhere: none."""
    grid = layout(ctx)
    u1, u2 = ctx.id("U-FIRE"), ctx.id("U-APART")
    s1, s2, s3 = ctx.id("SMK-1"), ctx.id("SMK-2"), ctx.id("SMK-3")
    s4, s5 = ctx.id("SMK-4"), ctx.id("SMK-5")
    t0 = -minutes(20)
    detail = {"smoke_pct": 14.0}
    timeline: list[Step] = [
        publish_event(ctx, s1, t0, "smoke_alarm", detail),
        publish_event(ctx, s4, t0 + seconds(5), "smoke_alarm", detail),
        publish_event(ctx, s2, t0 + seconds(60), "smoke_alarm", detail),
        publish_event(ctx, s5, t0 + seconds(305), "smoke_alarm", detail),
    ]
    g0, g1 = grid.codes[0], grid.codes[1]
    return Scenario(
        name="confirmed_fire",
        description=confirmed_fire.__doc__ or "",
        tag=ctx.tag,
        base=ctx.base,
        units=[
            unit_row(u1, grid.point(0), "枫桥商住楼"),
            unit_row(u2, grid.point(1), "枫桥幼儿园"),
        ],
        devices=[
            device_row(s1, "smoke", unit_id=u1, at=grid.point(0, east_m=10)),
            device_row(s2, "smoke", unit_id=u1, at=grid.point(0, east_m=20)),
            device_row(s3, "smoke", unit_id=u1, at=grid.point(0, east_m=30)),
            device_row(s4, "smoke", unit_id=u2, at=grid.point(1, east_m=10)),
            device_row(s5, "smoke", unit_id=u2, at=grid.point(1, east_m=20)),
        ],
        grids=grid.grids,
        timeline=timeline,
        expected_hazards=[
            ExpectedHazard(
                "smoke_confirmed_fire", u1, "critical", "open", about="unit", grid_code=g0
            ),
            ExpectedHazard("smoke_alarm", s1, "major", "open", grid_code=g0),
            ExpectedHazard("smoke_alarm", s2, "major", "open", grid_code=g0),
            ExpectedHazard("smoke_alarm", s4, "major", "open", grid_code=g1),
            ExpectedHazard("smoke_alarm", s5, "major", "open", grid_code=g1),
        ],
    )


def smoke_with_drop(ctx: Context) -> Scenario:
    """A smoke alarm and a hydrant pressure drop in one unit within 10 minutes."""
    grid = layout(ctx)
    unit = ctx.id("U-SD")
    hyd, smk = ctx.id("HYD-SD"), ctx.id("SMK-SD")
    t0 = -minutes(30)
    timeline: list[Step] = [
        *series(ctx, hyd, start=t0, step=seconds(30), values=[0.32] * 6 + [0.18] * 4),
        publish_event(ctx, smk, t0 + seconds(240), "smoke_alarm", {"smoke_pct": 11.0}),
    ]
    timeline.sort(key=lambda s: s.at if hasattr(s, "at") else timedelta(0))
    g = grid.codes[3]
    return Scenario(
        name="smoke_with_drop",
        description=smoke_with_drop.__doc__ or "",
        tag=ctx.tag,
        base=ctx.base,
        units=[unit_row(unit, grid.point(3), "枫桥仓库")],
        devices=[
            device_row(
                hyd,
                "hydrant",
                unit_id=unit,
                at=grid.point(3, east_m=15),
                hydrant_class="municipal",
                heartbeat_s=60,
            ),
            device_row(smk, "smoke", unit_id=unit, at=grid.point(3, east_m=-15)),
        ],
        grids=grid.grids,
        timeline=timeline,
        expected_hazards=[
            ExpectedHazard(
                "smoke_with_pressure_drop", unit, "critical", "open", about="unit", grid_code=g
            ),
            ExpectedHazard("hydrant_sudden_drop", hyd, "major", "open", grid_code=g),
            ExpectedHazard("smoke_alarm", smk, "major", "open", grid_code=g),
        ],
    )


def false_alarms(ctx: Context) -> Scenario:
    """Six false alarms in one CST day at one unit raise a unit hazard; five at another do not."""
    grid = layout(ctx)
    u1, u2 = ctx.id("U-FA6"), ctx.id("U-FA5")
    s1, s2 = ctx.id("SMK-FA6"), ctx.id("SMK-FA5")
    # Yesterday (CST) from 10:00, every 35 min, each cleared after a minute: unconfirmed. At
    # most two alarms fall within any hour, so the detectors do not count as flapping.
    day = ctx.today_cst - timedelta(days=1)
    ten = ctx.cst_midnight(day) + timedelta(hours=10) - ctx.base
    timeline: list[Step] = []
    for k in range(6):
        for dev, count in ((s1, 6), (s2, 5)):
            if k < count:
                t = ten + minutes(35 * k) + (seconds(5) if dev == s2 else seconds(0))
                timeline.append(publish_event(ctx, dev, t, "smoke_alarm", {"smoke_pct": 6.0}))
                timeline.append(publish_event(ctx, dev, t + seconds(60), "alarm_cleared"))
    timeline.sort(key=lambda s: s.at if hasattr(s, "at") else timedelta(0))
    g0, g1 = grid.codes[0], grid.codes[1]
    alarms = [ExpectedHazard("smoke_alarm", s1, "major", "cleared", grid_code=g0)] * 6
    alarms += [ExpectedHazard("smoke_alarm", s2, "major", "cleared", grid_code=g1)] * 5
    return Scenario(
        name="false_alarms",
        description=false_alarms.__doc__ or "",
        tag=ctx.tag,
        base=ctx.base,
        units=[unit_row(u1, grid.point(0), "枫桥宾馆"), unit_row(u2, grid.point(1), "枫桥网吧")],
        devices=[
            device_row(s1, "smoke", unit_id=u1, at=grid.point(0, east_m=5)),
            device_row(s2, "smoke", unit_id=u2, at=grid.point(1, east_m=5)),
        ],
        grids=grid.grids,
        timeline=timeline,
        expected_hazards=[
            ExpectedHazard("unit_false_alarms", u1, "warning", "open", about="unit", grid_code=g0),
            *alarms,
        ],
    )


def silence(ctx: Context) -> Scenario:
    """One detector of a unit goes quiet: its own hazard; a whole unit does: ONE unit hazard.

    Heartbeats are 60 s (missed 3: silent after 180 s). The talking detectors' last samples
    are stamped TICK_AT - 60 s (a few minutes ahead of the wall clock, which ingest allows);
    the quiet ones were last heard when the scenario was published, more than 180 s before
    the tick.
    """
    grid = layout(ctx)
    u1, u2 = ctx.id("U-Q1"), ctx.id("U-QALL")
    talking = [ctx.id(f"SMK-T{i}") for i in range(3)]
    quiet_one = ctx.id("SMK-Q")
    quiet_all = [ctx.id(f"SMK-A{i}") for i in range(4)]
    devices = [
        device_row(d, "smoke", unit_id=u1, at=grid.point(0, east_m=10 * i), heartbeat_s=60)
        for i, d in enumerate([*talking, quiet_one])
    ]
    devices += [
        device_row(d, "smoke", unit_id=u2, at=grid.point(1, east_m=10 * i), heartbeat_s=60)
        for i, d in enumerate(quiet_all)
    ]
    values = {"battery_pct": 88.0, "temp_c": 21.5, "smoke_pct": 0.0}
    timeline: list[Step] = [
        publish_sample(ctx, d, -minutes(60), values) for d in [quiet_one, *quiet_all]
    ]
    timeline += [publish_sample(ctx, d, TICK_AT - seconds(60), values) for d in talking]
    timeline.append(Tick(TICK_AT, ("silence",)))
    return Scenario(
        name="silence",
        description=(silence.__doc__ or "").split("\n")[0],
        tag=ctx.tag,
        base=ctx.base,
        units=[unit_row(u1, grid.point(0), "枫桥中学"), unit_row(u2, grid.point(1), "枫桥菜场")],
        devices=devices,
        grids=grid.grids,
        timeline=timeline,
        expected_hazards=[
            ExpectedHazard("smoke_silence", quiet_one, "warning", "open", grid_code=grid.codes[0]),
            ExpectedHazard(
                "smoke_silence", u2, "warning", "open", about="unit", grid_code=grid.codes[1]
            ),
        ],
    )
