"""Scenarios of user-information transmission devices speaking GB/T 26875.3 over TCP.

Their steps are ``Transmit`` frames to FireGrid's gateway (``FIREGRID_GB26875``), not MQTT
messages: the runner opens a TCP session per device and waits for each confirm. The devices
have no position of their own; their key unit's places their hazards in its grid.
"""

from __future__ import annotations

import zlib
from datetime import timedelta
from typing import Final

from simulators.scenarios.base import Context, device_row, layout, minutes, unit_row
from simulators.scenarios.models import ExpectedCase, ExpectedHazard, Scenario, Tick, Transmit

# The centre polls each device at least every 2 h (GB 50440): the silence rule's default.
QUICK_POLLING: Final = timedelta(seconds=60)  # the silence scenario's device's interval


def address(ctx: Context, index: int) -> int:
    """Return a GB/T 26875 address unique to the run (the tag's CRC-32, then ``index``)."""
    return zlib.crc32(ctx.tag.encode()) * 100 + index  # < 2**39: fits the 6-byte address


def _transmission_row(ctx: Context, device_id: str, unit_id: str, index: int) -> dict[str, object]:
    row = device_row(device_id, "transmission", unit_id=unit_id, at=(0.0, 0.0))
    del row["lat"], row["lon"]  # placed by its unit
    row["gb26875_address"] = address(ctx, index)
    return row


def gb26875_fire(ctx: Context) -> Scenario:
    """A transmission device's fire alarm over TCP → a hazard in its unit's grid and a fire case.

    Nobody works in the scenario's grid, so the case is filed and waits for a dispatcher.
    """
    grid = layout(ctx)
    unit, dev = ctx.id("KU-GB"), ctx.id("UITD-FIRE")
    return Scenario(
        name="gb26875_fire",
        description=(gb26875_fire.__doc__ or "").split("\n")[0],
        tag=ctx.tag,
        base=ctx.base,
        units=[unit_row(unit, grid.point(1), "枫桥化工厂")],
        devices=[_transmission_row(ctx, dev, unit, 1)],
        grids=grid.grids,
        timeline=[Transmit(-minutes(2), address(ctx, 1), "fire_alarm", zone=3, position=7)],
        expected_hazards=[
            ExpectedHazard("transmission_fire_alarm", dev, "major", grid_code=grid.codes[1])
        ],
        expected_cases=[ExpectedCase(unit, "fire", "filed")],
    )


def gb26875_fault(ctx: Context) -> Scenario:
    """A part's fault and another device's main power failure over TCP → a fault hazard each.

    Both arrive as GB/T 26875.3 send-data frames (type 2 fault bit, type 21 power bit), which
    the decoder maps to ``fault`` events of the transmission device.
    """
    grid = layout(ctx)
    unit = ctx.id("KU-GB")
    part, power = ctx.id("UITD-FAULT"), ctx.id("UITD-POWER")
    return Scenario(
        name="gb26875_fault",
        description=(gb26875_fault.__doc__ or "").split("\n")[0],
        tag=ctx.tag,
        base=ctx.base,
        units=[unit_row(unit, grid.point(2), "枫桥商场")],
        devices=[
            _transmission_row(ctx, part, unit, 1),
            _transmission_row(ctx, power, unit, 2),
        ],
        grids=grid.grids,
        timeline=[
            Transmit(-minutes(3), address(ctx, 1), "fault", zone=2, position=11),
            Transmit(-minutes(2), address(ctx, 2), "power_failure"),
        ],
        expected_hazards=[
            ExpectedHazard("transmission_fault", part, "warning", grid_code=grid.codes[2]),
            ExpectedHazard("transmission_fault", power, "warning", grid_code=grid.codes[2]),
        ],
    )


def gb26875_silence(ctx: Context) -> Scenario:
    """A transmission device quiet past its polling interval → a silence hazard.

    Registered to be polled every 60 s (GB 50440's default of 2 h is the rule's when a device
    names none; tests/unit/test_rule_silence.py covers it), so a running FireGrid judges it in
    minutes: its last frame is two minutes before the base time; the rules look once 30 s after
    it (nothing yet) and once at five minutes, well past the interval.
    """
    grid = layout(ctx)
    unit, dev = ctx.id("KU-GB"), ctx.id("UITD-QUIET")
    row = _transmission_row(ctx, dev, unit, 1)
    row["heartbeat_s"] = int(QUICK_POLLING.total_seconds())
    last = -minutes(2)
    return Scenario(
        name="gb26875_silence",
        description=(gb26875_silence.__doc__ or "").split("\n")[0],
        tag=ctx.tag,
        base=ctx.base,
        units=[unit_row(unit, grid.point(3), "枫桥仓库")],
        devices=[row],
        grids=grid.grids,
        timeline=[
            Transmit(last, address(ctx, 1), "pressure", zone=1, position=2, kpa=350.0),
            Tick(last + QUICK_POLLING / 2, ("silence",)),
            Tick(minutes(5), ("silence",)),
        ],
        expected_hazards=[
            ExpectedHazard("transmission_silence", dev, "major", grid_code=grid.codes[3])
        ],
    )
