"""The demo fleet: hydrants, smoke alarms, extinguishers and a grid worker walking a grid.

Pure simulation (no I/O): ``DemoFleetSim.messages(now)`` returns what every device says since
the last call, in real time. Now and then one hydrant loses 40 % of its pressure for two minutes
(someone opening it), so once the rules run a sudden-drop hazard opens and clears on the map;
one extinguisher is past its scrap age, so the daily dates check has something to say. The
registry rows place everything in the small street ``demo_grids`` lays out around ``CENTER``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

from devices.geo import haversine_m
from simulators.grid_layout import generate_street, grid_centres
from simulators.models import SimMessage
from simulators.nmea_out import SimFix
from simulators.sensors import PREFIX, HydrantSim, SmokeSim, sample
from simulators.terminal import WALKING_MPS, TerminalSim, offset_m

# 金桥 (Jinqiao), Pudong, Shanghai: where CONTRACT's sample report is.
CENTER: Final = (31.2481, 121.5875)
STREET_CODE: Final = "310115005"
UNIT: Final = "U-DEMO-01"
TERMINAL: Final = "DEMO-TERM-01"
# The unit's fire-alarm panel behind a user-information transmission device (GB/T 26875.3 over
# TCP to the gateway, when FIREGRID_GB26875 is set); 889 is the address of the golden frames.
TRANSMISSION: Final = "DEMO-UITD-01"
TRANSMISSION_ADDRESS: Final = 889


def demo_grids() -> dict[str, Any]:
    """Return the demo street: one community of four 250 m grids around CENTER."""
    return generate_street(
        lat=CENTER[0],
        lon=CENTER[1],
        street_code=STREET_CODE,
        communities=1,
        grids_per_community=4,
        cell_m=250.0,
    )


def _patrol_grid() -> tuple[str, tuple[float, float]]:
    """Return the code and centre of the grid the demo worker patrols."""
    code, centre = sorted(grid_centres(demo_grids()).items())[0]
    return code, centre


def _in_grid(index: int, *, north_m: float = 0.0, east_m: float = 0.0) -> tuple[float, float]:
    """Return a point (lat, lon) ``north_m``/``east_m`` from the centre of demo grid ``index``.

    Every demo device is placed this way, within 80 m of a centre of a 250 m grid whose
    jittered border stays at least ~90 m away, so each locates inside a demo grid (CENTER
    itself is where four grids meet).
    """
    _, centre = sorted(grid_centres(demo_grids()).items())[index % 4]
    return offset_m(centre[0], centre[1], north_m, east_m)


def demo_units() -> list[dict[str, Any]]:
    """Return the key units of the demo."""
    lat, lon = _in_grid(0)
    return [
        {
            "unit_id": UNIT,
            "name": "金桥三村物业",
            "level": 2,
            "address": "金桥路1号",
            "lat": lat,
            "lon": lon,
            "responsible": "王经理",
        }
    ]


def demo_devices(today: date) -> list[dict[str, Any]]:
    """Return the registry rows of the demo fleet (extinguisher dates relative to ``today``)."""
    rows: list[dict[str, Any]] = [
        {
            "device_id": f"DEMO-HYD-{i:02d}",
            "kind": "hydrant",
            "model": "SIM-P1",
            "unit_id": UNIT,
            # Municipal hydrants along the demo street's grids, two in each of grids 0 and 1.
            **_at(_in_grid(i, north_m=40.0 * (i // 4), east_m=30.0)),
            "hydrant_class": "municipal",
            "heartbeat_s": 60,
        }
        for i in range(6)
    ]
    rows += [
        {
            "device_id": f"DEMO-SMK-{i:02d}",
            "kind": "smoke",
            "model": "SIM-S1",
            "unit_id": UNIT,
            # In the unit's building, a few metres apart.
            **_at(_in_grid(0, north_m=-8.0 * i, east_m=8.0 * i)),
            "heartbeat_s": 60,
        }
        for i in range(4)
    ]
    # One of three extinguishers is 11 years old: past the 10-year scrap age of dry powder.
    for i, years in enumerate((1, 3, 11)):
        rows.append(
            {
                "device_id": f"DEMO-EXT-{i:02d}",
                "kind": "extinguisher",
                "model": "MFZ/ABC4",
                "unit_id": UNIT,
                **_at(_in_grid(0, north_m=6.0 * i, east_m=-6.0 * i)),
                "agent": "dry_powder",
                "manufactured_on": date(today.year - years, 1, 15).isoformat(),
                "installed_on": (today - timedelta(days=10)).isoformat(),
                "heartbeat_s": 3600,
            }
        )
    _, centre = _patrol_grid()
    rows.append({"device_id": TERMINAL, "kind": "terminal", "lat": centre[0], "lon": centre[1]})
    rows.append(
        {
            "device_id": TRANSMISSION,
            "kind": "transmission",
            "model": "SIM-UITD",
            "unit_id": UNIT,
            # In the unit's fire-control room, so its parts' alarms land in the unit's grid.
            **_at(_in_grid(0, north_m=4.0, east_m=-4.0)),
            "gb26875_address": TRANSMISSION_ADDRESS,
        }
    )
    return rows


def _at(point: tuple[float, float]) -> dict[str, float]:
    """Return a registry row's position fields."""
    return {"lat": point[0], "lon": point[1]}


def demo_staff() -> list[dict[str, Any]]:
    """Return the grid worker who carries the demo terminal."""
    code, _ = _patrol_grid()
    return [
        {
            "staff_id": "DEMO-W-01",
            "name": "李网格员",
            "role": "grid_worker",
            "area": code,
            "terminal_id": TERMINAL,
            "phone": "13800000000",
        }
    ]


def _loop_at(route: Sequence[tuple[float, float]], metres: float) -> tuple[float, float]:
    """Return the point ``metres`` along a closed route (wrapping round)."""
    legs = [haversine_m(a[0], a[1], b[0], b[1]) for a, b in itertools.pairwise(route)]
    left = metres % sum(legs)
    for (a, b), length in zip(itertools.pairwise(route), legs, strict=True):
        if left <= length:
            k = left / length
            return a[0] + (b[0] - a[0]) * k, a[1] + (b[1] - a[1]) * k
        left -= length
    return route[-1]


@dataclass
class DemoFleetSim:
    """Every demo device, publishing in real time under ``prefix``."""

    start: datetime
    prefix: str = PREFIX
    drop_every: timedelta = timedelta(minutes=10)
    drop_for: timedelta = timedelta(minutes=2)
    fix_every_s: int = 2
    hydrants: list[HydrantSim] = field(init=False)
    smoke: list[SmokeSim] = field(init=False)
    terminal: TerminalSim = field(init=False)
    _route: list[tuple[float, float]] = field(init=False)
    _last: datetime = field(init=False)

    def __post_init__(self) -> None:
        rows = demo_devices(self.start.date())
        self.hydrants = [
            HydrantSim(r["device_id"], seed=i) for i, r in enumerate(rows) if r["kind"] == "hydrant"
        ]
        self.smoke = [
            SmokeSim(r["device_id"], seed=i) for i, r in enumerate(rows) if r["kind"] == "smoke"
        ]
        self.terminal = TerminalSim(TERMINAL, prefix=self.prefix)
        _, (lat, lon) = _patrol_grid()
        corners = [(-60, -60), (-60, 60), (60, 60), (60, -60), (-60, -60)]
        self._route = [offset_m(lat, lon, n, e) for n, e in corners]
        self._last = self.start

    def dropping(self, now: datetime) -> str | None:
        """Return the hydrant losing pressure at ``now`` (one at a time, in turn), if any."""
        cycle, into = divmod((now - self.start) / self.drop_every, 1)
        if cycle < 1 or into * self.drop_every >= self.drop_for:
            return None  # never in the first cycle: let the rules learn normal pressure first
        return self.hydrants[int(cycle) % len(self.hydrants)].device_id

    def messages(self, now: datetime) -> list[SimMessage]:
        """Return what the fleet says at ``now``: samples, and the walk since the last call."""
        out: list[SimMessage] = []
        low = self.dropping(now)
        for sim in self.hydrants:
            message = sim.tick(now)
            if sim.device_id == low:
                message = self._dropped(sim, now)
            out.append(message)
        out += [s.tick(now) for s in self.smoke]
        fixes = self._walk(self._last, now)
        if fixes:
            out += self.terminal.nmea(fixes, per_message_s=len(fixes))
        self._last = now
        # Topics of the sensor simulators use the default prefix: re-home them.
        return [self._prefixed(m) for m in out]

    def _dropped(self, sim: HydrantSim, now: datetime) -> SimMessage:
        pressure = round(sim.base * 0.6, 4)
        return sample(sim.device_id, now, sim.seq, {"pressure_mpa": pressure}, prefix=self.prefix)

    def _walk(self, since: datetime, until: datetime) -> list[SimFix]:
        first = math.floor((since - self.start).total_seconds() / self.fix_every_s) + 1
        last = math.floor((until - self.start).total_seconds() / self.fix_every_s)
        fixes = []
        for k in range(first, last + 1):
            t = k * self.fix_every_s
            lat, lon = _loop_at(self._route, t * WALKING_MPS)
            fixes.append(
                SimFix(
                    ts=self.start + timedelta(seconds=t),
                    lat=lat,
                    lon=lon,
                    speed_mps=WALKING_MPS,
                    satellites=12,
                    hdop=0.9,
                )
            )
        return fixes

    def _prefixed(self, message: SimMessage) -> SimMessage:
        if message.topic.startswith(self.prefix + "/"):
            return message
        tail = message.topic.split("/", 2)[2]
        return SimMessage(f"{self.prefix}/{tail}", message.payload, message.expected)
