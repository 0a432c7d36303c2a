"""A grid worker's handheld terminal: walks a route, emits NMEA, reports hazards with photos.

The terminal walks a list of WGS-84 waypoints at walking speed, one receiver epoch a second
(``simulators.nmea_out``: GN talker GGA, GSA x 2, RMC), now and then spoils a second the way real
receivers do, and publishes every ``per_message_s`` seconds. While it is "in a basement" (no
network) it buffers and flushes everything in one message when it comes out. Each SimMessage
says what FireGrid must store: the accepted fixes, the reports, the photo hashes, and the
reasons its rejected lines are stored under.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import math
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from PIL import Image

from devices.geo import Crs, from_wgs84, haversine_m, to_wgs84
from devices.models import Fix, HazardReport
from simulators.models import SimMessage
from simulators.nmea_out import BadKind, SimFix, epoch, expected_fix, spoil

WALKING_MPS = 1.3
_M_PER_DEG_LAT = 111_320.0
# The reasons each kind of spoiled second is stored under (GGA and RMC lines).
SPOILED_REASONS = {
    BadKind.NO_FIX: {"no_fix", "rmc_void"},
    BadKind.RMC_VOID: {"rmc_void"},
    BadKind.HIGH_HDOP: {"high_hdop"},
    BadKind.FEW_SATELLITES: {"few_satellites"},
}


def walk_route(
    waypoints: Sequence[tuple[float, float]],
    *,
    start: datetime,
    speed_mps: float = WALKING_MPS,
    seed: int = 1,
) -> list[SimFix]:
    """Return one fix a second walking ``waypoints`` (lat, lon, WGS-84) at ``speed_mps``."""
    rng = random.Random(seed)
    fixes: list[SimFix] = []
    t = 0
    for (lat1, lon1), (lat2, lon2) in itertools.pairwise(waypoints):
        length = haversine_m(lat1, lon1, lat2, lon2)
        steps = max(int(length / speed_mps), 1)
        dlat, dlon = lat2 - lat1, lon2 - lon1
        course = math.degrees(math.atan2(dlon * math.cos(math.radians(lat1)), dlat)) % 360.0
        for i in range(steps):
            k = i / steps
            fixes.append(
                SimFix(
                    ts=start + timedelta(seconds=t),
                    lat=lat1 + dlat * k,
                    lon=lon1 + dlon * k,
                    satellites=rng.randint(8, 18),
                    hdop=round(rng.uniform(0.6, 1.6), 2),
                    speed_mps=speed_mps,
                    course_deg=course,
                    altitude_m=round(rng.uniform(8.0, 16.0), 1),
                )
            )
            t += 1
    return fixes


def make_photo(
    *,
    seed: int,
    taken_at: datetime | None = None,
    gps: tuple[float, float] | None = None,
    fmt: str = "JPEG",
    size: tuple[int, int] = (96, 72),
) -> bytes:
    """Return a small real JPEG or PNG, with EXIF time (+08:00) and GPS (WGS-84) if given."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(12):  # a few blocks so photos of different seeds differ in their bytes
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        image.paste(tuple(rng.randrange(256) for _ in range(3)), (x, y, x + 12, y + 9))
    exif = Image.Exif()
    if taken_at is not None:
        local = taken_at.astimezone(UTC) + timedelta(hours=8)
        stamp = f"{local:%Y:%m:%d %H:%M:%S}"
        ifd = exif.get_ifd(0x8769)
        ifd[0x9003] = stamp  # DateTimeOriginal
        ifd[0x9011] = "+08:00"  # OffsetTimeOriginal
    if gps is not None:
        gps_ifd = exif.get_ifd(0x8825)
        gps_ifd[1] = "N" if gps[0] >= 0 else "S"
        gps_ifd[2] = _dms(gps[0])
        gps_ifd[3] = "E" if gps[1] >= 0 else "W"
        gps_ifd[4] = _dms(gps[1])
    buf = io.BytesIO()
    image.save(buf, fmt, exif=exif)
    return buf.getvalue()


def _dms(degrees: float) -> tuple[float, float, float]:
    value = abs(degrees)
    d = int(value)
    m = int((value - d) * 60)
    s = round(((value - d) * 60 - m) * 60, 4)
    return float(d), float(m), s


def offset_m(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """Return the point ``north_m`` north and ``east_m`` east of (lat, lon)."""
    return (
        lat + north_m / _M_PER_DEG_LAT,
        lon + east_m / (_M_PER_DEG_LAT * math.cos(math.radians(lat))),
    )


@dataclass
class TerminalSim:
    """One grid worker's terminal publishing under ``prefix``."""

    terminal_id: str
    prefix: str = "fg/v1"
    seed: int = 1
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        # Seeded by terminal too: two terminals with one seed must not share report IDs.
        self.rng = random.Random(f"{self.terminal_id}:{self.seed}")

    def topic(self, tail: str) -> str:
        """Return this terminal's topic ending in ``tail``."""
        return f"{self.prefix}/t/{self.terminal_id}/{tail}"

    def nmea(
        self,
        fixes: Sequence[SimFix],
        *,
        per_message_s: int = 10,
        bad_rate: float = 0.0,
        offline: tuple[int, int] | None = None,
    ) -> list[SimMessage]:
        """Publish ``fixes`` as NMEA messages of ``per_message_s`` seconds each.

        ``bad_rate`` spoils that share of seconds (never two in a row, so the walk stays
        continuous); ``offline`` = (first second, seconds) buffers that stretch, and everything
        due meanwhile, into one message sent when the network is back.
        """
        messages: list[SimMessage] = []
        pending: list[tuple[SimFix, BadKind | None]] = []
        last_bad = False
        for i, fix in enumerate(fixes):
            kind = None
            if (
                bad_rate
                and not last_bad
                and 0 < i < len(fixes) - 1
                and self.rng.random() < bad_rate
            ):
                kind = self.rng.choice(list(BadKind))
            last_bad = kind is not None
            pending.append((fix, kind))
            in_basement = offline is not None and offline[0] <= i < offline[0] + offline[1]
            if in_basement:
                continue
            if len(pending) >= per_message_s or i == len(fixes) - 1:
                messages.append(self._nmea_message(pending))
                pending = []
        if pending:
            messages.append(self._nmea_message(pending))
        return messages

    def _nmea_message(self, seconds: list[tuple[SimFix, BadKind | None]]) -> SimMessage:
        payload = "".join(epoch(fix if kind is None else spoil(fix, kind)) for fix, kind in seconds)
        reasons: set[str] = set()
        for _, kind in seconds:
            if kind is not None:
                reasons |= SPOILED_REASONS[kind]
        return SimMessage(
            topic=self.topic("nmea"),
            payload=payload.encode("ascii"),
            expected_rejections=sorted(reasons),
            label=f"nmea {len(seconds)} s",
            expected_fixes=[
                expected_fix(fix, terminal_id=self.terminal_id)
                for fix, kind in seconds
                if kind is None
            ],
        )

    def report(
        self,
        *,
        ts: datetime,
        position: tuple[float, float] | None,
        crs: Crs = Crs.GCJ02,
        category: str = "combustibles_in_corridor",
        description: str = "3号楼2单元楼道堆放纸箱",
        photos: int = 1,
        photo_gps: tuple[float, float] | None = None,
        unit_id: str | None = "U-0012",
    ) -> tuple[SimMessage, list[SimMessage]]:
        """Return a hazard report (position given in WGS-84, sent in ``crs``) and its photos.

        ``photo_gps`` puts that WGS-84 point in the photos' EXIF.
        """
        photo_msgs = []
        for _ in range(photos):
            raw = make_photo(seed=self.rng.randrange(2**31), taken_at=ts, gps=photo_gps)
            sha = hashlib.sha256(raw).hexdigest()
            photo_msgs.append(
                SimMessage(self.topic(f"photo/{sha}"), raw, label="photo", expected_photos=[sha])
            )
        report_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        hashes = [m.expected_photos[0] for m in photo_msgs]
        body: dict[str, object] = {
            "report_id": report_id,
            "ts": ts.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "category": category,
            "description": description,
            "photos": hashes,
        }
        if unit_id is not None:
            body["unit_id"] = unit_id
        lat = lon = None
        if position is not None:
            shown = from_wgs84(position[0], position[1], crs)
            body["position"] = {"lat": shown[0], "lon": shown[1], "crs": crs.value}
            # What FireGrid must store is the conversion back, good to centimetres.
            lat, lon = to_wgs84(shown[0], shown[1], crs)
        expected = HazardReport(
            report_id=report_id,
            terminal_id=self.terminal_id,
            ts=ts.astimezone(UTC),
            category=category,
            description=description,
            lat=lat,
            lon=lon,
            photos=hashes,
            unit_id=unit_id,
        )
        message = SimMessage(
            self.topic("report"),
            json.dumps(body, ensure_ascii=False).encode(),
            label="report",
            expected_reports=[expected],
        )
        return message, photo_msgs


def expected_fixes(messages: Sequence[SimMessage]) -> list[Fix]:
    """Return every fix ``messages`` must store, in time order."""
    return sorted((f for m in messages for f in m.expected_fixes), key=lambda f: f.ts)
