"""What a handheld terminal's BeiDou+GPS receiver writes: GN-talker GGA, GSA and RMC sentences.

The terminal simulator feeds WGS-84 fixes in and publishes the bytes on
``fg/v1/t/{terminal_id}/nmea``; ``expected_fix`` says what FireGrid must store for each one, and
``spoil`` turns a good fix into the kinds of bad one real receivers emit, named by the reason code
the decoder gives it. Sentences follow NMEA 4.10 as u-blox and Unicore BeiDou receivers write
them: one GSA per constellation with its system ID, RMC with mode and navigation status, CR LF.
Positions carry five decimals of minutes (about 2 cm), as high-resolution receivers emit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

from msgspec import Struct, structs

from devices.codecs.nmea_sentences import KNOT_MPS
from devices.models import Fix

GEOID_SEPARATION_M: Final = 8.3  # what the Shanghai receivers in shared/data/nmea report
MINUTE_DECIMALS: Final = 5
# PRNs handed out to the satellites a fix uses: GPS (system 1) then BeiDou (system 4).
_GPS_PRNS: Final = (25, 32, 14, 12, 29, 31, 22, 18, 24, 10, 1, 9)
_BDS_PRNS: Final = (2, 3, 4, 1, 6, 7, 8, 9, 10, 13, 14, 16)


class SimFix(Struct, frozen=True):
    """One second of receiver output: a WGS-84 fix and how the receiver rates it."""

    ts: datetime
    lat: float
    lon: float
    satellites: int = 12
    hdop: float = 0.9
    quality: int = 1
    speed_mps: float = 0.0
    course_deg: float = 0.0
    altitude_m: float = 12.0
    rmc_status: str = "A"


class BadKind(StrEnum):
    """Bad fixes a real receiver emits; each value is the reason code its GGA is rejected with.

    ``NO_FIX`` and ``RMC_VOID`` also make the RMC line a ``rmc_void`` rejection.
    """

    NO_FIX = "no_fix"
    RMC_VOID = "rmc_void"
    HIGH_HDOP = "high_hdop"
    FEW_SATELLITES = "few_satellites"


def spoil(fix: SimFix, kind: BadKind) -> SimFix:
    """Return ``fix`` as the receiver reports it when it goes bad in the way ``kind`` names."""
    if kind is BadKind.NO_FIX:
        # Lost lock indoors: quality 0, nothing used, u-blox's 99.99 placeholder HDOP.
        return structs.replace(fix, quality=0, satellites=0, hdop=99.99, rmc_status="V")
    if kind is BadKind.RMC_VOID:
        return structs.replace(fix, rmc_status="V")
    if kind is BadKind.HIGH_HDOP:
        return structs.replace(fix, hdop=9.0)
    return structs.replace(fix, satellites=3)


def checksum(body: str) -> str:
    """Return the two hex digits of the XOR of ``body`` (the text between ``$`` and ``*``)."""
    value = 0
    for byte in body.encode("ascii"):
        value ^= byte
    return f"{value:02X}"


def sentence(body: str) -> str:
    """Frame ``body`` as a sentence: ``$``, body, ``*``, checksum, CR LF."""
    return f"${body}*{checksum(body)}\r\n"


def corrupt(line: str) -> str:
    """Return ``line`` with one digit of its time changed, as a noisy serial link does.

    The sentence still parses; only its checksum gives the error away.
    """
    pos = line.index(",") + 3  # tens of minutes: 0-5, so the changed time stays valid
    flipped = str((int(line[pos]) + 1) % 6)
    return line[:pos] + flipped + line[pos + 1 :]


def gga(fix: SimFix) -> str:
    """Return the ``$GNGGA`` sentence for ``fix``."""
    t = _utc_ms(fix.ts)
    hhmmss = f"{t:%H%M%S}.{t.microsecond // 1000:03d}"
    if fix.quality == 0:
        return sentence(f"GNGGA,{hhmmss},,,,,0,{fix.satellites:02d},{fix.hdop:.2f},,,,,,")
    return sentence(
        f"GNGGA,{hhmmss},{_position(fix)},{fix.quality},{fix.satellites:02d},{fix.hdop:.2f},"
        f"{fix.altitude_m:.1f},M,{GEOID_SEPARATION_M:.1f},M,,"
    )


def rmc(fix: SimFix) -> str:
    """Return the ``$GNRMC`` sentence for ``fix`` (NMEA 4.10: mode and navigation status)."""
    t = _utc_ms(fix.ts)
    hhmmss = f"{t:%H%M%S}.{t.microsecond // 1000:03d}"
    ddmmyy = f"{t:%d%m%y}"
    if fix.quality == 0:
        return sentence(f"GNRMC,{hhmmss},V,,,,,,,{ddmmyy},,,N,V")
    mode = "A" if fix.rmc_status == "A" else "N"
    knots = fix.speed_mps / KNOT_MPS
    return sentence(
        f"GNRMC,{hhmmss},{fix.rmc_status},{_position(fix)},{knots:.3f},{fix.course_deg:.2f},"
        f"{ddmmyy},,,{mode},V"
    )


def gsa(fix: SimFix) -> list[str]:
    """Return the ``$GNGSA`` sentences for ``fix``: GPS (system 1), then BeiDou (system 4)."""
    used = max(min(fix.satellites, 24), 0) if fix.quality else 0
    n_gps = min((used + 1) // 2, 12)
    n_bds = min(used - n_gps, 12)
    mode = "3" if fix.quality else "1"
    pdop, vdop = (fix.hdop * 1.6, fix.hdop * 1.25) if fix.quality else (99.99, 99.99)
    dops = f"{pdop:.2f},{fix.hdop:.2f},{vdop:.2f}"
    lines = []
    for system, prns, count in ((1, _GPS_PRNS, n_gps), (4, _BDS_PRNS, n_bds)):
        slots = [f"{p:02d}" for p in prns[:count]] + [""] * (12 - count)
        lines.append(sentence(f"GNGSA,A,{mode},{','.join(slots)},{dops},{system}"))
    return lines


def epoch(fix: SimFix) -> str:
    """Return one second of receiver output for ``fix``: GGA, two GSA, RMC."""
    return gga(fix) + "".join(gsa(fix)) + rmc(fix)


def write(fixes: Iterable[SimFix]) -> bytes:
    """Return the payload a terminal publishes for ``fixes`` (e.g. a buffered flush)."""
    return "".join(epoch(f) for f in fixes).encode("ascii")


def expected_fix(fix: SimFix, *, terminal_id: str) -> Fix:
    """Return the Fix FireGrid must store for a good ``fix``, at the resolution NMEA carries."""
    return Fix(
        terminal_id=terminal_id,
        ts=_utc_ms(fix.ts),
        lat=fix.lat,
        lon=fix.lon,
        quality=fix.quality,
        satellites=fix.satellites,
        hdop=round(fix.hdop, 2),
        altitude_m=round(fix.altitude_m, 1),
        speed_mps=round(fix.speed_mps / KNOT_MPS, 3) * KNOT_MPS,
    )


def _utc_ms(ts: datetime) -> datetime:
    """Return ``ts`` in UTC rounded to the millisecond, as the receiver prints its time."""
    ts = ts.astimezone(UTC)
    us = ts.microsecond
    return ts + timedelta(microseconds=(us + 500) // 1000 * 1000 - us)


def _position(fix: SimFix) -> str:
    """Return ``lat,N/S,lon,E/W`` in NMEA's degrees-and-minutes form."""
    lat = _ddmm(fix.lat, 2)
    lon = _ddmm(fix.lon, 3)
    return f"{lat},{'N' if fix.lat >= 0 else 'S'},{lon},{'E' if fix.lon >= 0 else 'W'}"


def _ddmm(degrees: float, width: int) -> str:
    # Round once, in integer units of the last minute digit, so 59.999996' carries into the
    # degrees instead of printing as 60.00000'.
    scale = 10**MINUTE_DECIMALS
    units = round(abs(degrees) * 60 * scale)
    whole_deg, minute_units = divmod(units, 60 * scale)
    minutes, fraction = divmod(minute_units, scale)
    return f"{whole_deg:0{width}d}{minutes:02d}.{fraction:0{MINUTE_DECIMALS}d}"
