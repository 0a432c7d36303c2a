"""Helpers shared by the NMEA decoder tests: the real logs, a decode shortcut, a walking track,
the decoded-equals-written check and a decode with the regex fast paths off.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from devices.codecs import nmea_sentences
from devices.codecs.nmea import NmeaDecoded, NmeaPolicy, decode
from devices.models import Fix
from simulators.nmea_out import SimFix, expected_fix
from tests.golden import shared_data

# A CI clone has shared/ beside the repository folder, as /work/shared is beside /work/main.
DATA = shared_data()
POLICY = NmeaPolicy()
T0 = datetime(2026, 11, 26, 6, 30, tzinfo=UTC)
RECEIVED = T0 + timedelta(hours=1)


def log(name: str) -> bytes:
    """Return a real log with gpsd's '#' comment lines blanked, so line numbers match the file."""
    path = DATA / "nmea" / name
    if not path.is_file():
        pytest.fail(f"golden NMEA log missing: {path}")
    lines = path.read_bytes().split(b"\n")
    return b"\n".join(b"" if line.startswith(b"#") else line for line in lines)


def run(
    raw: bytes | str, policy: NmeaPolicy = POLICY, *, previous: Fix | None = None
) -> NmeaDecoded:
    data = raw.encode() if isinstance(raw, str) else raw
    return decode(data, terminal_id="T1", received_at=RECEIVED, policy=policy, previous=previous)


def reasons(out: NmeaDecoded) -> list[tuple[str, str]]:
    return [(r.where, r.reason) for r in out.rejections]


def walk(n: int, *, start: datetime = T0, step_s: float = 1.0, **kw: object) -> list[SimFix]:
    """A grid worker walking north-east at about 1.4 m/s from a Shanghai street corner."""
    return [
        SimFix(
            ts=start + timedelta(seconds=i * step_s),
            lat=31.2479 + i * 9e-6,
            lon=121.5874 + i * 9e-6,
            speed_mps=1.4,
            course_deg=40.0,
            **kw,  # type: ignore[arg-type]  # kw mixes field types by design
        )
        for i in range(n)
    ]


def matches_written(got: list[Fix], want: list[SimFix]) -> bool:
    """Assert decoded fixes equal the written ones to the sentences' precision."""
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        e = expected_fix(w, terminal_id="T1")
        assert (g.ts, g.quality, g.satellites, g.hdop, g.altitude_m) == (
            e.ts,
            e.quality,
            e.satellites,
            e.hdop,
            e.altitude_m,
        )
        assert abs(g.lat - w.lat) < 1e-6
        assert abs(g.lon - w.lon) < 1e-6
        assert g.speed_mps == pytest.approx(e.speed_mps, abs=1e-9)
    return True


def field_by_field(raw: bytes) -> NmeaDecoded:
    """Decode with the regex fast paths disabled, so every line takes the detailed path."""
    saved = nmea_sentences._GGA_FAST, nmea_sentences._RMC_FAST
    never = re.compile(b"(?!)")
    setattr(nmea_sentences, "_GGA_FAST", never)  # noqa: B010 - the names are Final for mypy
    setattr(nmea_sentences, "_RMC_FAST", never)  # noqa: B010
    try:
        return run(raw)
    finally:
        setattr(nmea_sentences, "_GGA_FAST", saved[0])  # noqa: B010
        setattr(nmea_sentences, "_RMC_FAST", saved[1])  # noqa: B010
