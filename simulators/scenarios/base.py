"""Building blocks of scenarios: unique IDs, a small grid layout, registry rows, series.

Every ID carries the run's tag, so scenarios run again and again in one database never meet;
the grid codes do too (the county part of the code comes from the tag), and each run's grids
sit at their own place near Suzhou, away from the fixtures other tests use.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from simulators.grid_layout import generate_street, grid_centres
from simulators.models import SimMessage
from simulators.scenarios.models import Publish
from simulators.sensors import PREFIX, event, sample

# China Standard Time: the day the dates and patrol rules count in.
CST = timedelta(hours=8)


@dataclass
class Context:
    """What a scenario is built for: the run's tag, its base time and topic prefix.

    ``late_window`` is the rules engine's late-data window, so the late-data scenario can put
    one sample inside it and one beyond it.
    """

    tag: str
    base: datetime
    prefix: str = PREFIX
    late_window: timedelta = timedelta(hours=1)
    _seq: dict[str, int] = field(default_factory=dict)

    def id(self, name: str) -> str:
        """Return a device, unit, staff or terminal ID unique to this run."""
        return f"{name}-{self.tag}"

    def next_seq(self, device_id: str) -> int:
        """Return the device's next sequence number (per device, from 1)."""
        self._seq[device_id] = self._seq.get(device_id, 0) + 1
        return self._seq[device_id]

    def at(self, offset: timedelta) -> datetime:
        """Return base + offset."""
        return self.base + offset

    @property
    def today_cst(self) -> date:
        """Return the China Standard Time date of the base time."""
        return (self.base.astimezone(UTC) + CST).date()

    def cst_midnight(self, day: date) -> datetime:
        """Return the UTC instant at which CST day ``day`` begins."""
        return datetime(day.year, day.month, day.day, tzinfo=UTC) - CST


@dataclass(frozen=True)
class Layout:
    """One street, one community, ``n`` grids: the GeoJSON and a point inside each grid."""

    grids: dict[str, Any]
    codes: list[str]
    centres: dict[str, tuple[float, float]]

    def point(
        self, index: int, *, east_m: float = 0.0, north_m: float = 0.0
    ) -> tuple[float, float]:
        """Return a point (lat, lon) in grid ``index``, moved a few metres from its centre."""
        lat, lon = self.centres[self.codes[index]]
        return lat + north_m / 111_320.0, lon + east_m / 95_000.0


def layout(ctx: Context, *, grids: int = 4) -> Layout:
    """Lay out a small street of ``grids`` grids of 250 m at a place of the run's own."""
    h = zlib.crc32(ctx.tag.encode())
    county = f"32{h % 10_000:04d}"  # 32xxxx: Jiangsu, unlike the other tests' 31/44 codes
    lat = 31.05 + (h // 10_000 % 100) * 0.004
    lon = 120.35 + (h // 1_000_000 % 100) * 0.005
    collection = generate_street(
        lat=lat,
        lon=lon,
        street_code=f"{county}005",
        street_name="枫桥街道",
        communities=1,
        grids_per_community=grids,
        cell_m=250.0,
        seed=h % 997,
    )
    centres = grid_centres(collection)
    return Layout(collection, sorted(centres), centres)


def unit_row(unit_id: str, at: tuple[float, float], name: str) -> dict[str, Any]:
    """Return a key-unit registry row."""
    return {
        "unit_id": unit_id,
        "name": name,
        "level": 2,
        "address": f"{name}1号",
        "lat": at[0],
        "lon": at[1],
        "responsible": "张三",
    }


def device_row(
    device_id: str, kind: str, *, unit_id: str | None, at: tuple[float, float], **extra: Any
) -> dict[str, Any]:
    """Return a device registry row."""
    row: dict[str, Any] = {
        "device_id": device_id,
        "kind": kind,
        "model": f"SIM-{kind.upper()}",
        "lat": at[0],
        "lon": at[1],
    }
    if unit_id is not None:
        row["unit_id"] = unit_id
    row.update(extra)
    return row


def series(
    ctx: Context,
    device_id: str,
    *,
    start: timedelta,
    step: timedelta,
    values: Sequence[float],
    metric: str = "pressure_mpa",
) -> list[Publish]:
    """Return one single-sample message per value, ``step`` apart from ``start``."""
    out = []
    for i, value in enumerate(values):
        offset = start + step * i
        out.append(publish_sample(ctx, device_id, offset, {metric: value}))
    return out


def publish_sample(
    ctx: Context, device_id: str, offset: timedelta, values: dict[str, float]
) -> Publish:
    """Return one telemetry sample at base + ``offset``."""
    seq = ctx.next_seq(device_id)
    return Publish(offset, sample(device_id, ctx.at(offset), seq, values, prefix=ctx.prefix))


def publish_event(
    ctx: Context, device_id: str, offset: timedelta, kind: str, detail: dict[str, Any] | None = None
) -> Publish:
    """Return one device event at base + ``offset``."""
    seq = ctx.next_seq(device_id)
    msg = event(device_id, ctx.at(offset), seq, kind, detail, prefix=ctx.prefix)
    return Publish(offset, msg)


def again(step: Publish) -> Publish:
    """Return the same message delivered a second time (an MQTT redelivery)."""
    m = step.message
    return Publish(step.at, SimMessage(m.topic, m.payload, [], label="duplicate"))


def minutes(n: float) -> timedelta:
    """Return ``n`` minutes."""
    return timedelta(minutes=n)


def seconds(n: float) -> timedelta:
    """Return ``n`` seconds."""
    return timedelta(seconds=n)


def years_before(day: date, years: int, *, days: int = 0) -> date:
    """Return the date ``years`` calendar years and ``days`` days before ``day`` (29 Feb safe)."""
    try:
        shifted = day.replace(year=day.year - years)
    except ValueError:  # 29 February in a common year
        shifted = day.replace(year=day.year - years, day=28)
    return shifted - timedelta(days=days)
