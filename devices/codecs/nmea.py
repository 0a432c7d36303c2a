"""NMEA 0183 from handheld terminals (CONTRACT §1 `fg/v1/t/{terminal_id}/nmea`, DOMAIN.md §6).

A payload is what the receiver emitted, CR LF or LF separated, possibly minutes of buffered
sentences. GGA carries position, fix quality, satellites, HDOP and altitude; RMC carries the
status, the date and the speed. ``decode`` reads each line with the sentence parsers of
``devices.codecs.nmea_sentences``, then hands the GGAs and RMCs to the fix-acceptance filter of
``devices.codecs.nmea_fixes``, which dates, orders, deduplicates and checks them for jumps.

This runs on the ingest hot path for shift-change flushes, so it works on bytes, validates only
the sentences it uses (GGA, RMC) and skips everything else after a slice comparison.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from devices.codecs.nmea_fixes import accept, dated
from devices.codecs.nmea_sentences import (
    Gga,
    LineError,
    Rmc,
    checked_body,
    parse_gga,
    parse_rmc,
    reject,
)
from devices.codecs.nmea_types import NmeaDecoded, NmeaPolicy
from devices.exceptions import DecodeError
from devices.models import Fix

TALKERS: Final = frozenset({b"GP", b"GL", b"GA", b"GB", b"BD", b"GN"})
_USED: Final = frozenset({b"GGA,", b"RMC,"})  # sentence type and the comma after it

__all__ = ["NmeaDecoded", "NmeaPolicy", "decode"]


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
    ggas: list[Gga] = []
    rmcs: list[Rmc] = []
    gga_tods: set[int] = set()
    dollar_lines = 0
    counts = out.counts
    for n, line in enumerate(raw.splitlines(), 1):
        s = line.strip()
        if not s:
            continue
        out.sentences += 1
        if s[:1] != b"$":
            reject(out, n, "malformed", "does not start with '$'")
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
            body = checked_body(s)
            if kind == b"GGA,":
                ggas.append(parse_gga(n, body, policy, gga_tods))
            else:
                rmcs.append(parse_rmc(n, body, policy, out))
        except LineError as bad:
            reject(out, n, bad.reason, bad.detail)
    if out.sentences == 0:
        raise DecodeError("empty", raw, detail="no sentences")
    if dollar_lines == 0:
        raise DecodeError("not_nmea", raw, detail="no line starts with '$'")
    unpaired = sum(1 for r in rmcs if r[2] and r[1] not in gga_tods)
    if unpaired:
        # RMC has no satellites or HDOP, so it cannot pass the quality gates on its own.
        counts["rmc_unpaired"] = unpaired
    candidates = dated(out, ggas, rmcs, received_at, policy)
    accept(out, candidates, terminal_id, policy, previous)
    # Joining and the jump check reject after the per-line pass; report in line order.
    out.rejections.sort(key=lambda r: int(r.where[5:]))
    return out
