"""NMEA decoding: each rule that rejects a sentence or a fix, and what is counted instead."""

from __future__ import annotations

from datetime import timedelta

import pytest

from devices.codecs.nmea import NmeaPolicy
from devices.exceptions import DecodeError
from devices.models import Fix
from simulators.nmea_out import BadKind, SimFix, corrupt, epoch, gga, rmc, sentence, spoil, write
from tests.unit.nmea_support import reasons, run, walk


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
