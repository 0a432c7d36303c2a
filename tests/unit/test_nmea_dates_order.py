"""NMEA decoding: dating fixes, time order, duplicates, line endings and a buffered flush."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from devices.codecs.nmea import decode
from simulators.nmea_out import BadKind, SimFix, corrupt, epoch, gga, sentence, spoil, write
from tests.unit.nmea_support import POLICY, T0, field_by_field, matches_written, reasons, run, walk


def test_gga_without_rmc_takes_the_nearest_rmc_date() -> None:
    before, mid, after = walk(3, start=datetime(2026, 11, 25, 23, 59, 59, tzinfo=UTC))
    out = run(epoch(before) + gga(mid) + gga(after))
    assert [f.ts for f in out.fixes] == [before.ts, mid.ts, after.ts]
    assert after.ts.date().isoformat() == "2026-11-26"  # crossed midnight after the RMC


def test_gga_alone_takes_the_receive_date_and_handles_midnight() -> None:
    fix = walk(1, start=datetime(2026, 11, 25, 23, 59, 50, tzinfo=UTC))[0]
    just_after_midnight = datetime(2026, 11, 26, 0, 0, 30, tzinfo=UTC)
    out = decode(
        gga(fix).encode(), terminal_id="T1", received_at=just_after_midnight, policy=POLICY
    )
    assert [f.ts for f in out.fixes] == [fix.ts]
    same_day = decode(
        gga(fix).encode(),
        terminal_id="T1",
        received_at=fix.ts + timedelta(minutes=1),
        policy=POLICY,
    )
    assert [f.ts for f in same_day.fixes] == [fix.ts]
    assert out.fixes[0].speed_mps is None


@pytest.mark.parametrize(
    ("hhmmss", "micros"),
    [("063000", 0), ("063000.5", 500_000), ("063000.25", 250_000), ("063000.1234567", 123_456)],
)
def test_time_fractions_of_any_width(hhmmss: str, micros: int) -> None:
    rest = "3114.8770,N,12135.2463,E"
    payload = sentence(f"GNGGA,{hhmmss},{rest},1,08,0.9,12.0,M,8.3,M,,")
    payload += sentence(f"GNRMC,{hhmmss},A,{rest},0.0,0.0,261126,,,A")
    assert [f.ts for f in run(payload).fixes] == [T0 + timedelta(microseconds=micros)]
    assert [f.ts for f in field_by_field(payload.encode()).fixes] == [
        T0 + timedelta(microseconds=micros)
    ]


def test_duplicated_sentences_give_one_fix() -> None:
    a, b = walk(2)
    out = run(epoch(a) + gga(a) + epoch(b) + epoch(b))
    assert [f.ts for f in out.fixes] == [a.ts, b.ts]
    assert out.counts["duplicate"] == 2
    assert out.rejections == []


def test_one_second_repeated_thousands_of_times_stays_fast() -> None:
    payload = epoch(walk(1)[0]).encode() * 20_000
    t0 = time.perf_counter()
    out = run(payload)
    assert time.perf_counter() - t0 < 5.0
    assert (len(out.fixes), out.counts["duplicate"]) == (1, 19_999)


def test_rejections_are_reported_in_line_order() -> None:
    a, b, c = walk(3)
    jumped = SimFix(ts=b.ts, lat=b.lat + 0.01, lon=b.lon)
    out = run(write([a, jumped, c]) + corrupt(gga(c)).encode())
    assert reasons(out) == [("line 5", "speed_jump"), ("line 13", "bad_checksum")]


def test_out_of_order_message_gives_fixes_in_time_order() -> None:
    fixes = walk(5)
    out = run(write(reversed(fixes)))
    assert [f.ts for f in out.fixes] == [f.ts for f in fixes]


@pytest.mark.parametrize("sep", [b"\n", b"\r", b"\r\n  ", b" \t\r\n"])
def test_line_endings_and_stray_spaces(sep: bytes) -> None:
    payload = write(walk(3))
    out = run(payload.replace(b"\r\n", sep))
    assert len(out.fixes) == 3
    assert out.rejections == []


def test_thirty_minute_buffered_flush() -> None:
    fixes = walk(1800)
    for i in range(100, 1800, 300):
        fixes[i] = spoil(fixes[i], BadKind.HIGH_HDOP)
    payload = write(fixes)
    assert len(payload) > 400_000
    out = run(payload)
    good = [f for i, f in enumerate(fixes) if (i - 100) % 300]
    assert matches_written(out.fixes, good)
    assert out.counts["high_hdop"] == 6
    assert [f.ts for f in out.fixes] == sorted(f.ts for f in out.fixes)
