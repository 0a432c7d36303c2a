"""NMEA 0183 from handheld terminals (CONTRACT §1 `fg/v1/t/{terminal_id}/nmea`, DOMAIN.md §6).

A payload is what the receiver emitted, CR LF or LF separated, possibly minutes of buffered
sentences. GGA carries position, fix quality, satellites, HDOP and altitude; RMC carries the
status, the date and the speed. GGA has no date, so each GGA is joined with the RMC of the same
UTC time of day in the message; fixes are then ordered, deduplicated and checked for jumps.

Field layouts (index after splitting the text between ``$`` and ``*`` on commas)::

    GGA  0 address  1 hhmmss.ss  2 lat ddmm.mm  3 N/S  4 lon dddmm.mm  5 E/W  6 quality
         7 satellites  8 HDOP  9 altitude  10 M  11 geoid separation  12 M  13 age  14 station
    RMC  0 address  1 hhmmss.ss  2 status A/V  3-6 position  7 speed knots  8 course
         9 ddmmyy  10-11 magnetic variation  12 mode (NMEA 2.3+)  13 nav status (4.10)

This runs on the ingest hot path for shift-change flushes, so it works on bytes, validates only
the sentences it uses (GGA, RMC) and skips everything else after a slice comparison.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Final

from msgspec import Struct, field

from devices.exceptions import DecodeError
from devices.geo import haversine_m
from devices.models import Fix, PartRejection

TALKERS: Final = frozenset({b"GP", b"GL", b"GA", b"GB", b"BD", b"GN"})
KNOT_MPS: Final = 1852.0 / 3600.0
_USED: Final = frozenset({b"GGA,", b"RMC,"})  # sentence type and the comma after it
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
_DAY_US: Final = 86_400_000_000
_ORDINAL_BASE: Final = datetime(1, 1, 1, tzinfo=UTC)  # date.toordinal() == 1


class NmeaPolicy(Struct, frozen=True):
    """Which fixes count as valid (DOMAIN.md §6 practice defaults, all configurable).

    ``hdop_error_m`` is the horizontal error, in metres per unit of HDOP, that the jump check
    allows for at each end: about 2 x a 5 m UERE, i.e. a 95 % error circle. Without it the first
    fixes after acquisition, which wander by tens of metres while the terminal stands still,
    read as a runner (the real beidou-bd.log jumps 33 m in its first second at HDOP 1.1-1.3).
    ``max_ahead``: a GGA dated from ``received_at`` may not lie further ahead of it than this.
    """

    min_satellites: int = 4
    max_hdop: float = 5.0
    flag_hdop: float = 2.0
    max_speed_mps: float = 10.0
    hdop_error_m: float = 10.0
    reject_qualities: frozenset[int] = frozenset({0, 6, 7, 8})
    reject_rmc_void: bool = True
    date_from_received_at: bool = True
    max_ahead: timedelta = timedelta(hours=12)


class NmeaDecoded(Struct):
    """Fixes in time order, rejected lines, counts by reason, and the number of sentences."""

    fixes: list[Fix] = field(default_factory=list)
    rejections: list[PartRejection] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    sentences: int = 0


class _LineError(Exception):
    """One line rejected; internal, becomes a PartRejection."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(reason)


# (line, time of day us, latitude, longitude, quality, satellites, hdop, altitude)
_Gga = tuple[int, int, float, float, int, int, float, float | None]
# (line, time of day us, usable, day ordinal or None, speed m/s or None)
_Rmc = tuple[int, int, bool, int | None, float | None]


def decode(
    raw: bytes,
    *,
    terminal_id: str,
    received_at: datetime,
    policy: NmeaPolicy,
    previous: Fix | None = None,
) -> NmeaDecoded:
    """Decode an NMEA payload into accepted WGS-84 fixes and the lines it rejected."""
    out = NmeaDecoded()
    ggas: list[_Gga] = []
    rmcs: list[_Rmc] = []
    gga_tods: set[int] = set()
    dollar_lines = 0
    counts = out.counts
    for n, line in enumerate(raw.splitlines(), 1):
        s = line.strip()
        if not s:
            continue
        out.sentences += 1
        if s[:1] != b"$":
            _reject(out, n, "malformed", "does not start with '$'")
            continue
        dollar_lines += 1
        if s[1:2] == b"P":
            counts["proprietary"] = counts.get("proprietary", 0) + 1
            continue
        kind = s[3:7]
        if kind not in _USED or s[1:3] not in TALKERS:
            counts["unsupported"] = counts.get("unsupported", 0) + 1
            continue
        try:
            body = _checked_body(s)
            if kind == b"GGA,":
                ggas.append(_gga(n, body, policy, gga_tods))
            else:
                rmcs.append(_rmc(n, body, policy, out))
        except _LineError as bad:
            _reject(out, n, bad.reason, bad.detail)
    if out.sentences == 0:
        raise DecodeError("empty", raw, detail="no sentences")
    if dollar_lines == 0:
        raise DecodeError("not_nmea", raw, detail="no line starts with '$'")
    unpaired = sum(1 for r in rmcs if r[2] and r[1] not in gga_tods)
    if unpaired:
        # RMC has no satellites or HDOP, so it cannot pass the quality gates on its own.
        counts["rmc_unpaired"] = unpaired
    candidates = _dated(out, ggas, rmcs, received_at, policy)
    _accept(out, candidates, terminal_id, policy, previous)
    # Joining and the jump check reject after the per-line pass; report in line order.
    out.rejections.sort(key=lambda r: int(r.where[5:]))
    return out


def _reject(out: NmeaDecoded, n: int, reason: str, detail: str) -> None:
    out.rejections.append(PartRejection(f"line {n}", reason, detail))
    out.counts[reason] = out.counts.get(reason, 0) + 1


def _checked_body(s: bytes) -> bytes:
    """Return the text between ``$`` and ``*`` once its checksum is verified."""
    star = s.rfind(b"*")
    if star < 0:
        raise _LineError("missing_checksum", "no '*hh' checksum")
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
        raise _LineError("bad_checksum", f"computed {actual:02X}, sentence says {stated!r}")
    return body


def _gga(n: int, body: bytes, policy: NmeaPolicy, gga_tods: set[int]) -> _Gga:
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
        raise _LineError("no_fix" if quality == 0 else "not_a_fix", f"fix quality {quality}")
    lat = int(lat_d) + float(lat_m) / 60.0
    lon = int(lon_d) + float(lon_m) / 60.0
    if lat > 90.0 or lon > 180.0:
        return _gga_fields(n, body.split(b","), policy, gga_tods)  # says which is wrong
    if ns == b"S":
        lat = -lat
    if ew == b"W":
        lon = -lon
    return _gga_gates((n, tod, lat, lon, quality, int(sats), float(hdop), float(alt)), policy)


def _gga_fields(n: int, f: list[bytes], policy: NmeaPolicy, gga_tods: set[int]) -> _Gga:
    """Read a GGA field by field: the slow path, which names what is wrong."""
    if len(f) < 10:
        raise _LineError("malformed", f"GGA has {len(f) - 1} fields, needs at least 9")
    tod = _time_of_day(f[1])
    gga_tods.add(tod)
    if not f[6].isdigit():
        raise _LineError("malformed", f"fix quality {f[6]!r}")
    quality = int(f[6])
    if quality in policy.reject_qualities:
        raise _LineError("no_fix" if quality == 0 else "not_a_fix", f"fix quality {quality}")
    lat = _angle(f[2], f[3], pos=b"N", neg=b"S", limit=90, name="latitude")
    lon = _angle(f[4], f[5], pos=b"E", neg=b"W", limit=180, name="longitude")
    if not f[7].isdigit():
        raise _LineError("malformed", f"satellites {f[7]!r}")
    hdop = _number(f[8], "HDOP")
    if hdop is None or not hdop >= 0.0:
        raise _LineError("malformed", f"HDOP {f[8]!r}")
    altitude = _number(f[9], "altitude")
    return _gga_gates((n, tod, lat, lon, quality, int(f[7]), hdop, altitude), policy)


def _gga_gates(gga: _Gga, policy: NmeaPolicy) -> _Gga:
    """Return ``gga`` if its satellites and HDOP pass ``policy``."""
    satellites, hdop = gga[5], gga[6]
    if satellites < policy.min_satellites:
        raise _LineError("few_satellites", f"{satellites} satellites < {policy.min_satellites}")
    if hdop > policy.max_hdop:
        raise _LineError("high_hdop", f"HDOP {hdop} > {policy.max_hdop}")
    return gga


def _rmc(n: int, body: bytes, policy: NmeaPolicy, out: NmeaDecoded) -> _Rmc:
    m = _RMC_FAST.fullmatch(body, 2)
    if m is None:
        f = body.split(b",")
        if len(f) < 10:
            raise _LineError("malformed", f"RMC has {len(f) - 1} fields, needs at least 9")
        tod = _time_of_day(f[1])
        status, speed, day, mode = f[2], f[7], f[9], f[12] if len(f) > 12 else b""
        if status not in _STATUSES:
            raise _LineError("malformed", f"RMC status {status!r}")
    else:
        hh, mm, ss, frac, status, speed, day, mode = m.groups()
        tod = (int(hh) * 3600 + int(mm) * 60 + int(ss)) * 1_000_000
        if frac:
            tod += int(frac) * _FRACTION_US[len(frac)]
    knots = _number(speed, "speed") if speed else None
    if knots is not None and knots < 0.0:
        raise _LineError("malformed", f"speed {speed!r}")
    day_ordinal = _day_ordinal(day) if day else None
    # NMEA 2.3 added a mode field; 'N' means "data not valid" even where status says A.
    valid = status == b"A" and mode != b"N"
    if not valid and policy.reject_rmc_void:
        _reject(out, n, "rmc_void", "RMC status V (navigation receiver warning)")
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
        raise _LineError("malformed", f"time {f!r}")
    hh, mm, ss = int(f[0:2]), int(f[2:4]), int(f[4:6])
    if hh > 23 or mm > 59 or ss > 59:
        raise _LineError("malformed", f"time {f!r}")
    micros = int(frac[:6]) * _FRACTION_US[min(len(frac), 6)] if frac else 0
    return ((hh * 60 + mm) * 60 + ss) * 1_000_000 + micros


@lru_cache(maxsize=256)
def _day_ordinal(f: bytes) -> int:
    """Return the proleptic ordinal of ``ddmmyy`` (cached: a flush repeats one date)."""
    if len(f) != 6 or not f.isdigit():
        raise _LineError("malformed", f"date {f!r}")
    yy = int(f[4:6])
    # Two-digit years: GNSS receivers post-date 1980, so 80-99 are 19xx and 00-79 are 20xx.
    try:
        return date(1900 + yy if yy >= 80 else 2000 + yy, int(f[2:4]), int(f[0:2])).toordinal()
    except ValueError as exc:
        raise _LineError("malformed", f"date {f!r}") from exc


def _angle(value: bytes, hemi: bytes, *, pos: bytes, neg: bytes, limit: int, name: str) -> float:
    """Return signed degrees from ``[d]ddmm.mmmm`` and its hemisphere letter."""
    dot = value.find(b".")
    if dot < 0:
        dot = len(value)
    tail = value[dot + 1 :]
    if dot < 3 or not value[:dot].isdigit() or (tail and not tail.isdigit()):
        raise _LineError("malformed", f"{name} {value!r}")
    minutes = float(value[dot - 2 :])
    angle = int(value[: dot - 2]) + minutes / 60.0
    if minutes >= 60.0 or angle > limit:
        raise _LineError("malformed", f"{name} {value!r} out of range")
    if hemi == pos:
        return angle
    if hemi == neg:
        return -angle
    raise _LineError("malformed", f"{name} hemisphere {hemi!r}")


def _number(value: bytes, name: str) -> float | None:
    if not value:
        return None
    try:
        number = float(value)
    except ValueError as exc:
        raise _LineError("malformed", f"{name} {value!r}") from exc
    if not math.isfinite(number):
        raise _LineError("malformed", f"{name} {value!r}")
    return number


# (UTC microseconds since 0001-01-01 minus one day, i.e. ordinal * day + time of day, line,
#  the GGA, speed from its RMC)
_Candidate = tuple[int, int, _Gga, float | None]


def _dated(
    out: NmeaDecoded,
    ggas: list[_Gga],
    rmcs: list[_Rmc],
    received_at: datetime,
    policy: NmeaPolicy,
) -> list[_Candidate]:
    """Date each GGA from its RMC, the nearest RMC, or the receive time."""
    by_tod: dict[int, list[_Rmc]] = {}
    for rmc in rmcs:
        by_tod.setdefault(rmc[1], []).append(rmc)
    # (line, full time) of every usable RMC with a date, in line order
    dated = [(r[0], r[3] * _DAY_US + r[1]) for r in rmcs if r[2] and r[3] is not None]
    dated_lines = [d[0] for d in dated]
    received_at = received_at.astimezone(UTC)
    ra_day = received_at.toordinal()
    ra_full = (received_at - _ORDINAL_BASE) // timedelta(microseconds=1) + _DAY_US
    max_ahead_us = policy.max_ahead // timedelta(microseconds=1)
    candidates: list[_Candidate] = []
    for gga in ggas:
        n, tod = gga[0], gga[1]
        partner = _nearest(by_tod.get(tod), n)
        speed = None
        full = None
        if partner is not None:
            if not partner[2]:
                _reject(out, n, "rmc_void", f"its RMC at line {partner[0]} has status V")
                continue
            speed = partner[4]
            if partner[3] is not None:
                full = partner[3] * _DAY_US + tod
        if full is None and dated:
            i = bisect_left(dated_lines, n)
            rmc_full = min(dated[max(i - 1, 0) : i + 1], key=lambda d: abs(d[0] - n))[1]
            # Same day as that RMC, or the day before or after when the two straddle midnight.
            full = (rmc_full - tod + _DAY_US // 2) // _DAY_US * _DAY_US + tod
        if full is None:
            if not policy.date_from_received_at:
                _reject(out, n, "no_date", "no RMC with a date in the message")
                continue
            full = ra_day * _DAY_US + tod
            if full - ra_full > max_ahead_us:
                full -= _DAY_US
        candidates.append((full, n, gga, speed))
    candidates.sort(key=lambda c: (c[0], c[1]))
    return candidates


def _accept(
    out: NmeaDecoded,
    candidates: list[_Candidate],
    terminal_id: str,
    policy: NmeaPolicy,
    previous: Fix | None,
) -> None:
    """Keep one fix per time, in time order, dropping jumps a walker cannot make."""
    last_full = None
    prev = previous
    counts = out.counts
    for full, n, gga, speed in candidates:
        if full == last_full:
            counts["duplicate"] = counts.get("duplicate", 0) + 1
            continue
        last_full = full
        _, _, lat, lon, quality, satellites, hdop, altitude = gga
        ts = _ORDINAL_BASE + timedelta(microseconds=full - _DAY_US)
        if prev is not None:
            dt = abs((ts - prev.ts).total_seconds())
            if dt > 0.0:
                allowance = policy.hdop_error_m * (hdop + (prev.hdop or 0.0))
                moved = haversine_m(prev.lat, prev.lon, lat, lon)
                if max(moved - allowance, 0.0) / dt > policy.max_speed_mps:
                    detail = f"{moved:.0f} m in {dt:g} s from the fix at {prev.ts.isoformat()}"
                    _reject(out, n, "speed_jump", detail)
                    continue
        if hdop > policy.flag_hdop:
            counts["hdop_flagged"] = counts.get("hdop_flagged", 0) + 1
        prev = Fix(terminal_id, ts, lat, lon, quality, satellites, hdop, altitude, speed)
        out.fixes.append(prev)


def _nearest(rmcs: list[_Rmc] | None, n: int) -> _Rmc | None:
    """Return the RMC (of a list in line order) closest to line ``n``."""
    if not rmcs:
        return None
    if len(rmcs) == 1:
        return rmcs[0]
    # Bisect, not a scan: a payload repeating one second thousands of times stays linear.
    i = bisect_left(rmcs, n, key=lambda r: r[0])
    return min(rmcs[max(i - 1, 0) : i + 1], key=lambda r: abs(r[0] - n))
