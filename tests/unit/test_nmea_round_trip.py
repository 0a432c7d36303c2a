"""NMEA decoding of what the receiver writer writes, the fast paths, and arbitrary bytes."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pynmea2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.codecs import nmea_sentences
from devices.exceptions import DecodeError
from devices.geo import haversine_m
from simulators.nmea_out import SimFix, epoch, expected_fix, gga, gsa, rmc, write
from tests.unit.nmea_support import field_by_field, log, matches_written, run, walk


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
    assert matches_written(out.fixes, fixes)


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
