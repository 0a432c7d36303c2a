"""NMEA decoding against the real BeiDou logs, each rejection rule, and the receiver writer."""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pynmea2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.codecs import nmea_sentences
from devices.codecs.nmea import NmeaDecoded, NmeaPolicy, decode
from devices.codecs.nmea_sentences import KNOT_MPS
from devices.exceptions import DecodeError
from devices.geo import haversine_m
from devices.models import Fix
from simulators.nmea_out import (
    BadKind,
    SimFix,
    corrupt,
    epoch,
    expected_fix,
    gga,
    gsa,
    rmc,
    sentence,
    spoil,
    write,
)

# A CI clone has shared/ beside the repository folder, as /work/shared is beside /work/main.
DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
POLICY = NmeaPolicy()
T0 = datetime(2026, 11, 26, 6, 30, tzinfo=UTC)
RECEIVED = T0 + timedelta(hours=1)


def log(name: str) -> bytes:
    """Return a real log with gpsd's '#' comment lines blanked, so line numbers match the file."""
    path = DATA / "nmea" / name
    if not path.is_file():
        pytest.fail(f"golden NMEA log missing: {path} (expected <repo>/../shared/data/nmea)")
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


# -- the real logs ----------------------------------------------------------------------------


def test_beidou_bd_log_fixes_are_accepted_with_the_logged_coordinates() -> None:
    out = run(log("beidou-bd.log"))
    assert [f.ts for f in out.fixes] == [
        datetime(2015, 2, 25, 7, 41, s, 799000, tzinfo=UTC) for s in range(55, 60)
    ]
    first = out.fixes[0]
    assert (round(first.lat, 6), round(first.lon, 6)) == (31.247950, 121.587438)
    assert first.lat == pytest.approx(31 + 14.8770 / 60, abs=1e-9)
    assert first.lon == pytest.approx(121 + 35.2463 / 60, abs=1e-9)
    assert (first.quality, first.satellites, first.hdop, first.altitude_m) == (1, 5, 1.3, 156.9)
    assert first.speed_mps == pytest.approx(0.30 * KNOT_MPS)
    assert [f.satellites for f in out.fixes] == [5, 7, 7, 7, 7]


def test_beidou_bd_log_no_fix_seconds_are_rejected_with_their_reasons() -> None:
    out = run(log("beidou-bd.log"))
    expected = [(n, "no_fix") for n in (17, 32, 38, 45, 51)]
    expected += [(n, "rmc_void") for n in (30, 36, 42, 49, 55)]
    assert sorted(reasons(out)) == sorted((f"line {n}", r) for n, r in expected)
    assert out.counts["proprietary"] == 12
    assert out.counts["unsupported"] == 47  # GNS, GSA, GSV: counted, never rejections
    assert out.sentences == 79


def test_stray_leading_space_line_is_read() -> None:
    raw = log("beidou-bd.log")
    assert raw.split(b"\n")[80].startswith(b" $GNRMC,074157.799")
    out = run(raw)
    # The only source of 0.32 kn for 07:41:57 is the RMC on the indented line 81.
    assert out.fixes[2].speed_mps == pytest.approx(0.32 * KNOT_MPS)
    assert "line 81" not in {r.where for r in out.rejections}


def test_beidou_gb_log_joins_gpgga_with_gnrmc() -> None:
    out = run(log("beidou-gb.log"))
    assert [(f.ts, round(f.lat, 6), round(f.lon, 6)) for f in out.fixes] == [
        (datetime(2015, 3, 2, 5, 32, 32, 438000, tzinfo=UTC), 31.247982, 121.587403),
        (datetime(2015, 3, 2, 5, 32, 33, 438000, tzinfo=UTC), 31.248035, 121.58738),
    ]
    expected = [(f"line {n}", "no_fix") for n in (11, 24, 37)]
    expected += [(f"line {n}", "rmc_void") for n in (22, 35, 48)]
    assert sorted(reasons(out)) == sorted(expected)
    assert out.counts["proprietary"] == 5


@pytest.mark.parametrize("name", ["beidou-bd.log", "beidou-gb.log"])
def test_positions_agree_with_pynmea2(name: str) -> None:
    oracle = [
        pynmea2.parse(line.strip())
        for line in log(name).decode().splitlines()
        if "GGA," in line and ",0,00," not in line
    ]
    out = run(log(name))
    assert len(out.fixes) == len(oracle)
    for fix, msg in zip(out.fixes, oracle, strict=True):
        assert (fix.lat, fix.lon) == pytest.approx((msg.latitude, msg.longitude), abs=1e-9)


def test_without_hdop_allowance_the_acquisition_wander_reads_as_a_jump() -> None:
    # 074155 -> 074156 moves 33 m in 1 s while RMC says 0.26 kn: receiver noise, not walking.
    out = run(log("beidou-bd.log"), NmeaPolicy(hdop_error_m=0.0))
    assert ("line 71", "speed_jump") in reasons(out)


# -- each rejection rule ------------------------------------------------------------------------


def test_bad_checksum() -> None:
    good = walk(2)
    out = run(corrupt(gga(good[0])) + rmc(good[0]) + epoch(good[1]))
    assert reasons(out) == [("line 1", "bad_checksum")]
    assert len(out.fixes) == 1
    assert out.counts["rmc_unpaired"] == 1


@pytest.mark.parametrize("tail", ["", "*", "*7", "*ZZ", "*7D0"])
def test_missing_or_unreadable_checksum(tail: str) -> None:
    body = gga(walk(1)[0]).split("*")[0]
    out = run(body + tail + "\r\n")
    assert reasons(out) == [("line 1", "missing_checksum" if not tail else "bad_checksum")]


@pytest.mark.parametrize(
    "body",
    [
        "GNGGA,063000.000,3114.87701,N,12135.24630,E,1,12,0.90",  # too few fields
        "GNGGA,063060.000,3114.87701,N,12135.24630,E,1,12,0.90,12.0,M,8.3,M,,",  # 60 s
        "GNGGA,0630,3114.87701,N,12135.24630,E,1,12,0.90,12.0,M,8.3,M,,",  # short time
        "GNGGA,063000.000,31A4.87701,N,12135.24630,E,1,12,0.90,12.0,M,8.3,M,,",
        "GNGGA,063000.000,3160.00000,N,12135.24630,E,1,12,0.90,12.0,M,8.3,M,,",  # 60'
        "GNGGA,063000.000,9100.00000,N,12135.24630,E,1,12,0.90,12.0,M,8.3,M,,",  # 91°
        "GNGGA,063000.000,3114.87701,X,12135.24630,E,1,12,0.90,12.0,M,8.3,M,,",
        "GNGGA,063000.000,,,,,1,12,0.90,12.0,M,8.3,M,,",  # a fix with no position
        "GNGGA,063000.000,3114.87701,N,12135.24630,E,A,12,0.90,12.0,M,8.3,M,,",
        "GNGGA,063000.000,3114.87701,N,12135.24630,E,1,,0.90,12.0,M,8.3,M,,",
        "GNGGA,063000.000,3114.87701,N,12135.24630,E,1,12,,12.0,M,8.3,M,,",
        "GNGGA,063000.000,3114.87701,N,12135.24630,E,1,12,nan,12.0,M,8.3,M,,",
        "GNGGA,063000.000,3114.87701,N,12135.24630,E,1,12,0.90,inf,M,8.3,M,,",
        "GNRMC,063000.000,X,3114.87701,N,12135.24630,E,0.0,0.0,261126,,,A",
        "GNRMC,063000.000,A,3114.87701,N,12135.24630,E,0.0,0.0,311126,,,A",  # 31 Nov
        "GNRMC,063000.000,A,3114.87701,N,12135.24630,E,-1.0,0.0,261126,,,A",
    ],
)
def test_malformed_fields(body: str) -> None:
    out = run(sentence(body))
    assert reasons(out) == [("line 1", "malformed")]
    assert out.fixes == []


def test_line_not_starting_with_dollar_is_malformed() -> None:
    out = run("garbage\r\n" + epoch(walk(1)[0]))
    assert reasons(out) == [("line 1", "malformed")]
    assert len(out.fixes) == 1


def test_no_fix_rejects_gga_and_its_void_rmc() -> None:
    out = run(epoch(spoil(walk(1)[0], BadKind.NO_FIX)))
    assert reasons(out) == [("line 1", "no_fix"), ("line 4", "rmc_void")]
    assert out.fixes == []


@pytest.mark.parametrize("quality", [6, 7, 8])
def test_dead_reckoning_manual_and_simulated_are_not_fixes(quality: int) -> None:
    out = run(epoch(walk(1, quality=quality)[0]))
    assert reasons(out) == [("line 1", "not_a_fix")]


@pytest.mark.parametrize("quality", [1, 2, 4, 5])
def test_real_fix_qualities_are_accepted(quality: int) -> None:
    assert [f.quality for f in run(epoch(walk(1, quality=quality)[0])).fixes] == [quality]


def test_rmc_void_rejects_its_gga_partner_too() -> None:
    out = run(epoch(spoil(walk(1)[0], BadKind.RMC_VOID)))
    assert sorted(reasons(out)) == [("line 1", "rmc_void"), ("line 4", "rmc_void")]
    assert out.fixes == []
    relaxed = run(epoch(spoil(walk(1)[0], BadKind.RMC_VOID)), NmeaPolicy(reject_rmc_void=False))
    assert (relaxed.rejections, len(relaxed.fixes)) == ([], 1)


def test_rmc_status_a_with_mode_n_is_void() -> None:
    fix = walk(1)[0]
    void = sentence(rmc(fix)[1:].split("*")[0].replace(",A,V", ",N,V"))
    out = run(gga(fix) + void)
    assert sorted(reasons(out)) == [("line 1", "rmc_void"), ("line 2", "rmc_void")]


def test_few_satellites() -> None:
    out = run(epoch(spoil(walk(1)[0], BadKind.FEW_SATELLITES)))
    assert reasons(out) == [("line 1", "few_satellites")]
    assert len(run(epoch(walk(1, satellites=4)[0])).fixes) == 1
    assert reasons(run(epoch(walk(1, satellites=5)[0]), NmeaPolicy(min_satellites=6))) == [
        ("line 1", "few_satellites")
    ]


def test_high_hdop_rejected_and_moderate_hdop_flagged() -> None:
    assert reasons(run(epoch(spoil(walk(1)[0], BadKind.HIGH_HDOP)))) == [("line 1", "high_hdop")]
    assert reasons(run(epoch(walk(1, hdop=5.01)[0]))) == [("line 1", "high_hdop")]
    for hdop, flagged in ((2.0, 0), (2.01, 1), (5.0, 1)):
        out = run(epoch(walk(1, hdop=hdop)[0]))
        assert (len(out.fixes), out.counts.get("hdop_flagged", 0)) == (1, flagged)


def test_speed_jump_from_previous_accepted_fix() -> None:
    fixes = walk(3)
    jumped = SimFix(ts=fixes[1].ts, lat=fixes[1].lat + 0.002, lon=fixes[1].lon)  # 222 m in 1 s
    out = run(write([fixes[0], jumped, fixes[2]]))
    assert reasons(out) == [("line 5", "speed_jump")]
    # The third fix is judged against the first (the last accepted), not the jump.
    assert [f.ts for f in out.fixes] == [fixes[0].ts, fixes[2].ts]


def test_speed_jump_from_previous_argument() -> None:
    here = walk(1)[0]
    far = Fix("T1", here.ts - timedelta(seconds=10), here.lat - 0.01, here.lon, 1, 8, 0.9)
    near = Fix("T1", here.ts - timedelta(seconds=10), here.lat - 0.0005, here.lon, 1, 8, 0.9)
    assert reasons(run(epoch(here), previous=far)) == [("line 1", "speed_jump")]
    assert len(run(epoch(here), previous=near).fixes) == 1


def test_slow_walk_after_a_long_gap_is_not_a_jump() -> None:
    a, b = walk(2, step_s=600.0)
    b = SimFix(ts=b.ts, lat=a.lat + 0.005, lon=a.lon)  # 556 m in 10 min
    assert len(run(write([a, b])).fixes) == 2


def test_proprietary_and_unsupported_are_counted_not_rejected() -> None:
    extra = (
        "$PSRF151,3,1833,28692,0x7EFFFFFF*15\r\n"
        "$PUBX,00,bad checksum is not our business*00\r\n"
        "$GPGSV,1,1,01,25,76,102,50*4F\r\n$GNVTG,,T,,M,0.0,N,0.0,K,A*3D\r\n"
        "$GNTXT,01,01,02,ANTSTATUS=OK*3B\r\n$XXGGA,063000.000*00\r\n"
    )
    out = run(extra + epoch(walk(1)[0]))
    assert out.rejections == []
    assert (out.counts["proprietary"], out.counts["unsupported"]) == (2, 6)
    assert out.sentences == 10


def test_no_date_when_receive_time_may_not_date_fixes() -> None:
    fix = walk(1)[0]
    assert reasons(run(gga(fix), NmeaPolicy(date_from_received_at=False))) == [
        ("line 1", "no_date")
    ]


def test_unpaired_rmc_is_counted_not_turned_into_a_fix() -> None:
    out = run(rmc(walk(1)[0]))
    assert (out.fixes, out.rejections, out.counts) == ([], [], {"rmc_unpaired": 1})


@pytest.mark.parametrize(("raw", "reason"), [(b"", "empty"), (b" \r\n\n", "empty")])
def test_empty_payload_is_a_decode_error(raw: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as err:
        run(raw)
    assert (err.value.reason, err.value.raw) == (reason, raw)


def test_payload_with_no_sentence_is_not_nmea() -> None:
    with pytest.raises(DecodeError, match="not_nmea"):
        run(b"\x89PNG\r\n\x1a\n\x00\x00")


# -- dates, order, duplicates -------------------------------------------------------------------


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
    assert _close(out.fixes, good)
    assert out.counts["high_hdop"] == 6
    assert [f.ts for f in out.fixes] == sorted(f.ts for f in out.fixes)


# -- round trip through the receiver writer -----------------------------------------------------


def _close(got: list[Fix], want: list[SimFix]) -> bool:
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


@st.composite
def tracks(draw: st.DrawFn) -> list[SimFix]:
    start = draw(
        st.datetimes(
            min_value=datetime(2000, 1, 1),
            max_value=datetime(2079, 12, 31),
            timezones=st.just(UTC),
        )
    )
    lat = draw(st.floats(-85.0, 85.0))
    lon = draw(st.floats(-179.9, 179.9))
    n = draw(st.integers(1, 20))
    out = []
    t = start
    for _ in range(n):
        out.append(
            SimFix(
                ts=t,
                lat=lat,
                lon=lon,
                satellites=draw(st.integers(4, 40)),
                hdop=draw(st.floats(0.5, 5.0)),
                quality=draw(st.sampled_from([1, 2, 4, 5])),
                speed_mps=draw(st.floats(0.0, 9.0)),
                course_deg=draw(st.floats(0.0, 359.99)),
                altitude_m=draw(st.floats(-400.0, 8000.0)),
            )
        )
        t += timedelta(milliseconds=draw(st.integers(100, 120_000)))
        # Steps of up to ~3 m per axis: a walker, whatever the time step.
        lat = max(-85.0, min(85.0, lat + draw(st.floats(-3e-5, 3e-5))))
        lon = max(-179.9, min(179.9, lon + draw(st.floats(-3e-5, 3e-5))))
    return out


@settings(max_examples=200, deadline=None)
@given(tracks())
def test_round_trip_decode_of_written_fixes(fixes: list[SimFix]) -> None:
    out = run(write(fixes))
    assert out.rejections == []
    assert _close(out.fixes, fixes)


@settings(max_examples=200, deadline=None)
@given(tracks(), st.data())
def test_round_trip_with_rmc_lost_dates_from_the_nearest_rmc(
    fixes: list[SimFix], data: st.DataObject
) -> None:
    keep = data.draw(st.lists(st.booleans(), min_size=len(fixes), max_size=len(fixes)))
    keep[data.draw(st.integers(0, len(fixes) - 1))] = True
    payload = "".join(
        gga(f) + "".join(gsa(f)) + (rmc(f) if k else "") for f, k in zip(fixes, keep, strict=True)
    )
    out = run(payload)
    assert [f.ts for f in out.fixes] == [expected_fix(f, terminal_id="T1").ts for f in fixes]
    assert [f.speed_mps is None for f in out.fixes] == [not k for k in keep]


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


@pytest.mark.parametrize("name", ["beidou-bd.log", "beidou-gb.log"])
def test_fast_path_equals_field_by_field_on_real_logs(name: str) -> None:
    assert run(log(name)) == field_by_field(log(name))


@settings(max_examples=200, deadline=None)
@given(tracks())
def test_fast_path_equals_field_by_field(fixes: list[SimFix]) -> None:
    payload = write(fixes)
    assert nmea_sentences._GGA_FAST.fullmatch(gga(fixes[0])[1:-5].encode(), 2) is not None
    assert nmea_sentences._RMC_FAST.fullmatch(rmc(fixes[0])[1:-5].encode(), 2) is not None
    assert run(payload) == field_by_field(payload)


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=300) | st.lists(st.sampled_from(write(walk(2)).split(b","))).map(b",".join)
)
def test_arbitrary_bytes_never_crash(raw: bytes) -> None:
    try:
        out = run(raw)
    except DecodeError:
        return
    assert all(not math.isnan(f.lat) for f in out.fixes)
    assert sum(out.counts.values()) >= len(out.rejections)


def test_written_sentences_parse_with_pynmea2() -> None:
    fix = walk(1)[0]
    for line in epoch(fix).splitlines():
        pynmea2.parse(line, check=True)
    msg = pynmea2.parse(gga(fix).strip())
    assert haversine_m(msg.latitude, msg.longitude, fix.lat, fix.lon) < 0.05
