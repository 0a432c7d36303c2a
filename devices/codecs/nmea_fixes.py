"""The NMEA decoder's fix-acceptance filter: date each GGA, order, deduplicate, drop jumps.

GGA has no date, so each GGA is joined with the RMC of the same UTC time of day in the message
(or dated from the nearest RMC, or from the receive time); fixes are then ordered, deduplicated
and checked for jumps a walker cannot make. Apart from ``devices.codecs.nmea_sentences`` because
this judges fixes against each other and the previous fix, never a line on its own.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

from devices.codecs.nmea_sentences import Gga, Rmc, reject
from devices.geo import haversine_m
from devices.models import Fix

if TYPE_CHECKING:
    from devices.codecs.nmea_types import NmeaDecoded, NmeaPolicy

_DAY_US: Final = 86_400_000_000
_ORDINAL_BASE: Final = datetime(1, 1, 1, tzinfo=UTC)  # date.toordinal() == 1

# (UTC microseconds since 0001-01-01 minus one day, i.e. ordinal * day + time of day, line,
#  the GGA, speed from its RMC)
_Candidate = tuple[int, int, Gga, float | None]


def dated(
    out: NmeaDecoded,
    ggas: list[Gga],
    rmcs: list[Rmc],
    received_at: datetime,
    policy: NmeaPolicy,
) -> list[_Candidate]:
    """Date each GGA from its RMC, the nearest RMC, or the receive time."""
    by_tod: dict[int, list[Rmc]] = {}
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
                reject(out, n, "rmc_void", f"its RMC at line {partner[0]} has status V")
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
                reject(out, n, "no_date", "no RMC with a date in the message")
                continue
            full = ra_day * _DAY_US + tod
            if full - ra_full > max_ahead_us:
                full -= _DAY_US
        candidates.append((full, n, gga, speed))
    candidates.sort(key=lambda c: (c[0], c[1]))
    return candidates


def accept(
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
                    reject(out, n, "speed_jump", detail)
                    continue
        if hdop > policy.flag_hdop:
            counts["hdop_flagged"] = counts.get("hdop_flagged", 0) + 1
        prev = Fix(terminal_id, ts, lat, lon, quality, satellites, hdop, altitude, speed)
        out.fixes.append(prev)


def _nearest(rmcs: list[Rmc] | None, n: int) -> Rmc | None:
    """Return the RMC (of a list in line order) closest to line ``n``."""
    if not rmcs:
        return None
    if len(rmcs) == 1:
        return rmcs[0]
    # Bisect, not a scan: a payload repeating one second thousands of times stays linear.
    i = bisect_left(rmcs, n, key=lambda r: r[0])
    return min(rmcs[max(i - 1, 0) : i + 1], key=lambda r: abs(r[0] - n))
