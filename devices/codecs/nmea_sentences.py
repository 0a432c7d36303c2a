"""The GGA and RMC sentence parsers of the NMEA decoder, line by line, on bytes.

Field layouts (index after splitting the text between ``$`` and ``*`` on commas)::

    GGA  0 address  1 hhmmss.ss  2 lat ddmm.mm  3 N/S  4 lon dddmm.mm  5 E/W  6 quality
         7 satellites  8 HDOP  9 altitude  10 M  11 geoid separation  12 M  13 age  14 station
    RMC  0 address  1 hhmmss.ss  2 status A/V  3-6 position  7 speed knots  8 course
         9 ddmmyy  10-11 magnetic variation  12 mode (NMEA 2.3+)  13 nav status (4.10)

Each parser judges one line on its own (checksum, fields, the per-fix quality gates) and raises
``LineError`` for ``devices.codecs.nmea.decode`` to record; what needs the other lines of the
message (dating a GGA from its RMC, order, duplicates, jumps) is ``devices.codecs.nmea_fixes``.
"""

from __future__ import annotations

import math
import re
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Final

from devices.models import PartRejection

if TYPE_CHECKING:
    from devices.codecs.nmea_types import NmeaDecoded, NmeaPolicy

KNOT_MPS: Final = 1852.0 / 3600.0
_STATUSES: Final = frozenset({b"A", b"V"})
_FRACTION_US: Final = (0, 100_000, 10_000, 1_000, 100, 10, 1)  # by digits after the point
_TIME: Final = rb"([01]\d|2[0-3])([0-5]\d)([0-5]\d)(?:\.(\d{1,6})\d*)?"
# Fast paths for well-formed sentences, one C-level match instead of a dozen field checks.
# Whatever they do not match (empty fields, odd widths, bad values) takes the field-by-field
# path, which also says precisely what is wrong.
_GGA_FAST: Final = re.compile(
    rb"GGA," + _TIME + rb",(\d\d)([0-5]\d(?:\.\d+)?),([NS]),(\d{3})([0-5]\d(?:\.\d+)?),([EW]),"
    rb"(\d),(\d+),(\d+(?:\.\d*)?),(-?\d+(?:\.\d*)?),.*"
)
_RMC_FAST: Final = re.compile(
    rb"RMC," + _TIME + rb",([AV]),[^,]*,[^,]*,[^,]*,[^,]*,(\d+(?:\.\d*)?)?,[^,]*,(\d{6})?"
    rb",[^,]*,[^,]*(?:,([^,]*)(?:,.*)?)?"
)


class LineError(Exception):
    """One line rejected; internal to the NMEA decoder, becomes a PartRejection."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(reason)


# (line, time of day us, latitude, longitude, quality, satellites, hdop, altitude)
Gga = tuple[int, int, float, float, int, int, float, float | None]
# (line, time of day us, usable, day ordinal or None, speed m/s or None)
Rmc = tuple[int, int, bool, int | None, float | None]


def reject(out: NmeaDecoded, n: int, reason: str, detail: str) -> None:
    """Record line ``n`` as rejected for ``reason`` and count it."""
    out.rejections.append(PartRejection(f"line {n}", reason, detail))
    out.counts[reason] = out.counts.get(reason, 0) + 1


def checked_body(s: bytes) -> bytes:
    """Return the text between ``$`` and ``*`` once its checksum is verified."""
    star = s.rfind(b"*")
    if star < 0:
        raise LineError("missing_checksum", "no '*hh' checksum")
    stated = s[star + 1 :]
    try:
        expected = int(stated, 16) if len(stated) == 2 else -1
    except ValueError:
        expected = -1
    body = s[1:star]
    actual = 0
    for c in body:
        actual ^= c
    if actual != expected:
        raise LineError("bad_checksum", f"computed {actual:02X}, sentence says {stated!r}")
    return body


def parse_gga(n: int, body: bytes, policy: NmeaPolicy, gga_tods: set[int]) -> Gga:
    """Read a checked GGA body, adding its time of day to ``gga_tods`` before the fix gates."""
    m = _GGA_FAST.fullmatch(body, 2)
    if m is None:
        return _gga_fields(n, body.split(b","), policy, gga_tods)
    hh, mm, ss, frac, lat_d, lat_m, ns, lon_d, lon_m, ew, q, sats, hdop, alt = m.groups()
    tod = (int(hh) * 3600 + int(mm) * 60 + int(ss)) * 1_000_000
    if frac:
        tod += int(frac) * _FRACTION_US[len(frac)]
    gga_tods.add(tod)
    quality = int(q)
    if quality in policy.reject_qualities:
        raise LineError("no_fix" if quality == 0 else "not_a_fix", f"fix quality {quality}")
    lat = int(lat_d) + float(lat_m) / 60.0
    lon = int(lon_d) + float(lon_m) / 60.0
    if lat > 90.0 or lon > 180.0:
        return _gga_fields(n, body.split(b","), policy, gga_tods)  # says which is wrong
    if ns == b"S":
        lat = -lat
    if ew == b"W":
        lon = -lon
    return _gga_gates((n, tod, lat, lon, quality, int(sats), float(hdop), float(alt)), policy)


def _gga_fields(n: int, f: list[bytes], policy: NmeaPolicy, gga_tods: set[int]) -> Gga:
    """Read a GGA field by field: the slow path, which names what is wrong."""
    if len(f) < 10:
        raise LineError("malformed", f"GGA has {len(f) - 1} fields, needs at least 9")
    tod = _time_of_day(f[1])
    gga_tods.add(tod)
    if not f[6].isdigit():
        raise LineError("malformed", f"fix quality {f[6]!r}")
    quality = int(f[6])
    if quality in policy.reject_qualities:
        raise LineError("no_fix" if quality == 0 else "not_a_fix", f"fix quality {quality}")
    lat = _angle(f[2], f[3], pos=b"N", neg=b"S", limit=90, name="latitude")
    lon = _angle(f[4], f[5], pos=b"E", neg=b"W", limit=180, name="longitude")
    if not f[7].isdigit():
        raise LineError("malformed", f"satellites {f[7]!r}")
    hdop = _number(f[8], "HDOP")
    if hdop is None or not hdop >= 0.0:
        raise LineError("malformed", f"HDOP {f[8]!r}")
    altitude = _number(f[9], "altitude")
    return _gga_gates((n, tod, lat, lon, quality, int(f[7]), hdop, altitude), policy)


def _gga_gates(gga: Gga, policy: NmeaPolicy) -> Gga:
    """Return ``gga`` if its satellites and HDOP pass ``policy``."""
    satellites, hdop = gga[5], gga[6]
    if satellites < policy.min_satellites:
        raise LineError("few_satellites", f"{satellites} satellites < {policy.min_satellites}")
    if hdop > policy.max_hdop:
        raise LineError("high_hdop", f"HDOP {hdop} > {policy.max_hdop}")
    return gga


def parse_rmc(n: int, body: bytes, policy: NmeaPolicy, out: NmeaDecoded) -> Rmc:
    """Read a checked RMC body; a void one is also recorded as rejected (``reject_rmc_void``)."""
    m = _RMC_FAST.fullmatch(body, 2)
    if m is None:
        f = body.split(b",")
        if len(f) < 10:
            raise LineError("malformed", f"RMC has {len(f) - 1} fields, needs at least 9")
        tod = _time_of_day(f[1])
        status, speed, day, mode = f[2], f[7], f[9], f[12] if len(f) > 12 else b""
        if status not in _STATUSES:
            raise LineError("malformed", f"RMC status {status!r}")
    else:
        hh, mm, ss, frac, status, speed, day, mode = m.groups()
        tod = (int(hh) * 3600 + int(mm) * 60 + int(ss)) * 1_000_000
        if frac:
            tod += int(frac) * _FRACTION_US[len(frac)]
    knots = _number(speed, "speed") if speed else None
    if knots is not None and knots < 0.0:
        raise LineError("malformed", f"speed {speed!r}")
    day_ordinal = _day_ordinal(day) if day else None
    # NMEA 2.3 added a mode field; 'N' means "data not valid" even where status says A.
    valid = status == b"A" and mode != b"N"
    if not valid and policy.reject_rmc_void:
        reject(out, n, "rmc_void", "RMC status V (navigation receiver warning)")
    usable = valid or not policy.reject_rmc_void
    return (n, tod, usable, day_ordinal, None if knots is None else knots * KNOT_MPS)


def _time_of_day(f: bytes) -> int:
    """Return microseconds since midnight UTC from ``hhmmss[.sss]``."""
    frac = f[7:]
    if (
        len(f) < 6
        or not f[:6].isdigit()
        or (len(f) > 6 and (f[6:7] != b"." or (frac and not frac.isdigit())))
    ):
        raise LineError("malformed", f"time {f!r}")
    hh, mm, ss = int(f[0:2]), int(f[2:4]), int(f[4:6])
    if hh > 23 or mm > 59 or ss > 59:
        raise LineError("malformed", f"time {f!r}")
    micros = int(frac[:6]) * _FRACTION_US[min(len(frac), 6)] if frac else 0
    return ((hh * 60 + mm) * 60 + ss) * 1_000_000 + micros


@lru_cache(maxsize=256)
def _day_ordinal(f: bytes) -> int:
    """Return the proleptic ordinal of ``ddmmyy`` (cached: a flush repeats one date)."""
    if len(f) != 6 or not f.isdigit():
        raise LineError("malformed", f"date {f!r}")
    yy = int(f[4:6])
    # Two-digit years: GNSS receivers post-date 1980, so 80-99 are 19xx and 00-79 are 20xx.
    try:
        return date(1900 + yy if yy >= 80 else 2000 + yy, int(f[2:4]), int(f[0:2])).toordinal()
    except ValueError as exc:
        raise LineError("malformed", f"date {f!r}") from exc


def _angle(value: bytes, hemi: bytes, *, pos: bytes, neg: bytes, limit: int, name: str) -> float:
    """Return signed degrees from ``[d]ddmm.mmmm`` and its hemisphere letter."""
    dot = value.find(b".")
    if dot < 0:
        dot = len(value)
    tail = value[dot + 1 :]
    if dot < 3 or not value[:dot].isdigit() or (tail and not tail.isdigit()):
        raise LineError("malformed", f"{name} {value!r}")
    minutes = float(value[dot - 2 :])
    angle = int(value[: dot - 2]) + minutes / 60.0
    if minutes >= 60.0 or angle > limit:
        raise LineError("malformed", f"{name} {value!r} out of range")
    if hemi == pos:
        return angle
    if hemi == neg:
        return -angle
    raise LineError("malformed", f"{name} hemisphere {hemi!r}")


def _number(value: bytes, name: str) -> float | None:
    if not value:
        return None
    try:
        number = float(value)
    except ValueError as exc:
        raise LineError("malformed", f"{name} {value!r}") from exc
    if not math.isfinite(number):
        raise LineError("malformed", f"{name} {value!r}")
    return number
