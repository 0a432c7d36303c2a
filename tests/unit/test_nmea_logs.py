"""NMEA decoding against the real BeiDou logs in ``../shared/data/nmea``."""

from __future__ import annotations

from datetime import UTC, datetime

import pynmea2
import pytest

from devices.codecs.nmea import NmeaPolicy
from devices.codecs.nmea_sentences import KNOT_MPS
from tests.unit.nmea_support import log, reasons, run


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
