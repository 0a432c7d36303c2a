"""Mingkong wireless pressure terminal frames: golden M1/M2, malformed frames, round-trip."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from msgspec.structs import replace

from devices.codecs import CODECS, CodecPolicy, DecodeContext
from devices.codecs.mk_pressure import MkFrame, crc16_modbus, decode, encode, parse_frame
from devices.exceptions import DecodeError
from devices.models import Decoded, DecodePolicy, Reading

# Golden frames from /work/shared/data/device-frames.md, copied verbatim.
M1 = bytes.fromhex(
    "A5 5A 00 00 29 53 48 52 50 32 35 30 39 30 31 32 30 34 D0 00 00 00 01 01 00 00 00 09 C4 02 5D"
    "68 FF B8 87 02 5D 84 3E 55 AA"
)
M2 = bytes.fromhex(
    "A5 5A 00 00 3B 53 48 4D 4B 31 39 30 36 30 30 31 33 34 C8 00 3C 00 0A 01 02 00 64 01 F4 02 1A"
    "5D 19 66 B6 02 19 02 1A 02 16 02 18 02 18 02 13 02 1E 02 1C 02 1D 02 1D 7E 03 55 AA"
)
M1_TIME = datetime(2025, 10, 27, 18, 23, 3, tzinfo=UTC)
M2_TIME = datetime(2019, 7, 1, 1, 49, 42, tzinfo=UTC)
POLICY = DecodePolicy()


def run(
    raw: bytes, device_id: str, received_at: datetime, policy: DecodePolicy = POLICY
) -> Decoded:
    return decode(raw, device_id=device_id, received_at=received_at, policy=policy)


def m2(raw: bytes = M2, policy: DecodePolicy = POLICY) -> Decoded:
    return run(raw, "SHMK19060013", M2_TIME + timedelta(seconds=5), policy)


def reason_of(raw: bytes, device_id: str = "SHMK19060013") -> str:
    with pytest.raises(DecodeError) as info:
        run(raw, device_id, M2_TIME)
    assert info.value.raw == raw
    return info.value.reason


def with_crc(body: bytes) -> bytes:
    """Re-seal a tampered frame so only the tampering is wrong."""
    return body + crc16_modbus(body).to_bytes(2, "big") + b"\x55\xaa"


# --- golden frames ----------------------------------------------------------------------------


def test_m1_fields() -> None:
    frame = parse_frame(M1)
    assert frame.device_code == "SHRP25090120"
    assert frame.command == 0
    assert frame.battery_powered is True
    assert frame.charge_pct == 100
    assert frame.signal_dbm == -48
    assert frame.interval_s == 0
    assert frame.records == (605,)
    assert frame.device_type == 1
    assert frame.alarm_state == 0
    assert (frame.high_alarm, frame.low_alarm) == (False, False)
    assert (frame.low_threshold, frame.high_threshold) == (0, 2500)
    assert frame.current == 605
    assert frame.timestamp == M1_TIME
    assert crc16_modbus(M1[:-4]) == 0x843E


def test_m1_records() -> None:
    decoded = run(M1, "SHRP25090120", M1_TIME + timedelta(seconds=2))
    assert decoded.records == [
        Reading("SHRP25090120", M1_TIME, None, "pressure_mpa", 0.605),
        Reading("SHRP25090120", M1_TIME, None, "battery_pct", 100.0),
        Reading("SHRP25090120", M1_TIME, None, "rsrp_dbm", -48.0),
    ]
    assert decoded.rejections == []


def test_m2_fields() -> None:
    frame = parse_frame(M2)
    assert frame.device_code == "SHMK19060013"
    assert frame.battery_powered is True
    assert frame.charge_pct == 100
    assert frame.signal_dbm == -56
    assert frame.interval_s == 60
    assert len(frame.records) == 10
    assert frame.device_type == 1
    assert frame.alarm_state == 0x02
    assert (frame.high_alarm, frame.low_alarm) == (True, False)
    assert (frame.low_threshold, frame.high_threshold) == (100, 500)
    assert frame.current == 538
    assert frame.timestamp == M2_TIME
    assert frame.records == (537, 538, 534, 536, 536, 531, 542, 540, 541, 541)
    times = frame.record_times()
    assert (times[0], times[-1]) == (M2_TIME - timedelta(minutes=9), M2_TIME)
    assert crc16_modbus(M2[:-4]) == 0x7E03


def test_m2_records_oldest_first_newest_at_the_timestamp() -> None:
    decoded = m2()
    pressures = [
        r for r in decoded.records if isinstance(r, Reading) and r.metric == "pressure_mpa"
    ]
    assert [(r.ts.strftime("%H:%M:%S"), r.value) for r in pressures] == [
        ("01:40:42", 0.537),
        ("01:41:42", 0.538),
        ("01:42:42", 0.534),
        ("01:43:42", 0.536),
        ("01:44:42", 0.536),
        ("01:45:42", 0.531),
        ("01:46:42", 0.542),
        ("01:47:42", 0.540),
        ("01:48:42", 0.541),
        ("01:49:42", 0.541),
    ]
    assert all(
        isinstance(r, Reading) and r.device_id == "SHMK19060013" and r.seq is None
        for r in decoded.records
    )
    assert [(r.metric, r.ts, r.value) for r in decoded.records[10:] if isinstance(r, Reading)] == [
        ("battery_pct", M2_TIME, 100.0),
        ("rsrp_dbm", M2_TIME, -56.0),
    ]
    assert decoded.rejections == []


def test_registered_under_topic_codec_name() -> None:
    decoded = CODECS["raw/mk-pressure"](
        M1, DecodeContext("SHRP25090120", M1_TIME, CodecPolicy(decode=POLICY))
    )
    assert isinstance(decoded, Decoded)
    assert len(decoded.records) == 3


def test_encode_rebuilds_the_golden_frames_byte_for_byte() -> None:
    assert encode(parse_frame(M1)) == M1
    assert encode(parse_frame(M2)) == M2


# --- malformed frames -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty_payload"),
        (b"\x5a\xa5" + M2[2:], "bad_frame"),  # start bytes swapped
        (M2[:-2] + b"\xaa\x55", "bad_frame"),  # end bytes swapped
        (M2 + b"\x00", "bad_frame"),  # a byte after the frame
        (M2[:-1], "truncated_frame"),
        (M2[:20], "truncated_frame"),
        (b"\xa5", "truncated_frame"),
        (with_crc(M2[:3] + b"\x00\x3c" + M2[5:-4]), "bad_frame"),  # length 60 for 10 records
        (with_crc(M2[:21] + b"\x00\x0b" + M2[23:-4]), "bad_frame"),  # count 11 for 59 bytes
        (with_crc(M2[:21] + b"\x02\x59" + M2[23:-4]), "bad_frame"),  # count 601 > 600
        (M2[:-4] + b"\x7e\x04" + M2[-2:], "bad_crc"),
        (M2[:-4] + b"\x03\x7e" + M2[-2:], "bad_crc"),  # CRC stored low byte first
        (M2[:40] + bytes([M2[40] ^ 1]) + M2[41:], "bad_crc"),  # one record bit flipped
        (with_crc(M2[:5] + b"SHMK\xff9060013" + M2[17:-4]), "bad_frame"),  # code not ASCII
        (with_crc(M2[:2] + b"\x01" + M2[3:-4]), "unsupported_frame"),  # downlink command
        (with_crc(M2[:23] + b"\x02" + M2[24:-4]), "unsupported_frame"),  # not a pressure gauge
    ],
)
def test_malformed_frame_reason(raw: bytes, reason: str) -> None:
    assert reason_of(raw) == reason


def test_device_code_must_match_topic() -> None:
    assert reason_of(M2, device_id="SHRP25090120") == "device_mismatch"


def test_part_rejections_keep_the_valid_records() -> None:
    frame = replace(parse_frame(M2), records=(537, -1, 10_001, 541), charge_pct=155, signal_dbm=5)
    decoded = m2(encode(frame))
    assert [(p.where, p.reason) for p in decoded.rejections] == [
        ("records[1]", "out_of_range"),
        ("records[2]", "out_of_range"),
        ("battery", "out_of_range"),
        ("signal", "out_of_range"),
    ]
    assert [(r.ts, r.value) for r in decoded.records if isinstance(r, Reading)] == [
        (M2_TIME - timedelta(minutes=3), 0.537),
        (M2_TIME, 0.541),
    ]


def test_future_timestamp_rejected_whole_under_reject_policy() -> None:
    decoded = run(M2, "SHMK19060013", M2_TIME - timedelta(hours=1))
    assert decoded.records == []
    assert [(p.where, p.reason) for p in decoded.rejections] == [("timestamp", "future_time")]


def test_future_timestamp_clamped_keeps_the_record_spacing() -> None:
    received = M2_TIME - timedelta(hours=1)
    decoded = run(M2, "SHMK19060013", received, DecodePolicy(future_policy="clamp"))
    times = [r.ts for r in decoded.records if isinstance(r, Reading)]
    assert times[9] == received
    assert times[0] == received - timedelta(minutes=9)


def test_records_older_than_policy_are_rejected_alone() -> None:
    policy = DecodePolicy(earliest=M2_TIME - timedelta(minutes=4, seconds=30))
    decoded = m2(policy=policy)
    assert [p.where for p in decoded.rejections] == [f"records[{i}]" for i in range(5)]
    assert {p.reason for p in decoded.rejections} == {"time_too_old"}
    assert len(decoded.records) == 5 + 2


def test_interval_zero_keeps_only_the_newest_record() -> None:
    frame = replace(parse_frame(M2), interval_s=0, records=(500, 510, 520))
    decoded = m2(encode(frame))
    assert [(p.where, p.reason) for p in decoded.rejections] == [
        ("records[0]", "bad_time"),
        ("records[1]", "bad_time"),
    ]
    assert decoded.records[0] == Reading("SHMK19060013", M2_TIME, None, "pressure_mpa", 0.52)


def test_no_cached_records_uses_the_current_value() -> None:
    decoded = m2(encode(replace(parse_frame(M2), records=())))
    assert decoded.records[0] == Reading("SHMK19060013", M2_TIME, None, "pressure_mpa", 0.538)


def test_mains_powered_terminal_reports_no_battery() -> None:
    decoded = m2(encode(replace(parse_frame(M2), battery_powered=False)))
    assert "battery_pct" not in {r.metric for r in decoded.records if isinstance(r, Reading)}


# --- round-trip -------------------------------------------------------------------------------

_FRAMES = st.builds(
    MkFrame,
    device_code=st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=12),
    battery_powered=st.booleans(),
    supply_mode=st.integers(0, 3),
    charge_pct=st.integers(0, 31).map(lambda x: x * 5),
    signal_dbm=st.integers(-128, 127),
    interval_s=st.integers(0, 65_535),
    device_type=st.integers(0, 255),
    alarm_state=st.integers(0, 255),
    low_threshold=st.integers(-32_768, 32_767),
    high_threshold=st.integers(-32_768, 32_767),
    current=st.integers(-32_768, 32_767),
    timestamp=st.integers(0, 2**32 - 1).map(lambda s: datetime.fromtimestamp(s, UTC)),
    records=st.lists(st.integers(-32_768, 32_767), max_size=600).map(tuple),
    command=st.integers(0, 255),
)


@given(_FRAMES)
def test_parse_encode_round_trip(frame: MkFrame) -> None:
    assert parse_frame(encode(frame)) == frame


@given(
    st.lists(st.integers(0, 10_000), min_size=1, max_size=50),
    st.integers(1, 3600),
    st.integers(1_000_000_000, 1_700_000_000),
)
def test_decode_encode_round_trip(records: list[int], interval: int, stamp: int) -> None:
    newest = datetime.fromtimestamp(stamp, UTC)
    frame = replace(parse_frame(M2), records=tuple(records), interval_s=interval, timestamp=newest)
    decoded = run(encode(frame), "SHMK19060013", newest)
    n = len(records)
    assert decoded.records[:n] == [
        Reading(
            "SHMK19060013",
            newest - timedelta(seconds=interval * (n - i - 1)),
            None,
            "pressure_mpa",
            units / 1000,
        )
        for i, units in enumerate(records)
    ]
    assert decoded.rejections == []


@given(st.binary(max_size=120), st.booleans())
def test_arbitrary_bytes_raise_only_decode_error(tail: bytes, framed: bool) -> None:
    raw = b"\xa5\x5a" + tail if framed else tail
    with contextlib.suppress(DecodeError):
        run(raw, "SHMK19060013", M2_TIME)


@given(st.integers(0, len(M2) - 1), st.integers(1, 255))
def test_any_single_byte_corruption_is_caught(position: int, flip: int) -> None:
    raw = bytearray(M2)
    raw[position] ^= flip
    with pytest.raises(DecodeError):
        run(bytes(raw), "SHMK19060013", M2_TIME)
