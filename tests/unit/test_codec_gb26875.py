"""GB/T 26875.3-2011 frames: golden F1-F3, concatenation, malformed frames, round-trip."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from msgspec.structs import replace

from devices.codecs.gb26875 import decode, part_seq
from devices.codecs.gb26875_frame import (
    CST,
    AnalogValue,
    GbFrame,
    PartStatus,
    checksum,
    encode,
    parse_frame,
)
from devices.exceptions import DecodeError
from devices.models import Decoded, DecodePolicy, DeviceEvent, Reading

# Golden frames from /work/shared/data/device-frames.md, copied verbatim.
F1 = bytes.fromhex(
    "40 40 01 00 01 01 20 3A 09 1A 09 0C 79 03 00 00 00 00 38 5B 01 00 00 00 30 00 02"
    "02 01 01 01 28 0A 00 02 00 02 00"
    "31 30 C7 F8 32 BA C5 B8 D0 D1 CC CC BD B2 E2 C6 F7 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
    "02 3A 09 1A 09 0C 56 23 23"
)
F2 = bytes.fromhex(
    "40 40 01 00 01 01 23 3A 09 1A 09 0C 38 5B 01 00 00 00 79 03 00 00 00 00 00 00 03 AB 23 23"
)
F3 = bytes.fromhex(
    "40 40 02 00 01 01 05 0A 0F 1A 0B 18 79 03 00 00 00 00 38 5B 01 00 00 00 12 00 02"
    "03 01 0B 01 00 05 00 01 00 05 80 0C 00 0A 0F 1A 0B 18 80 23 23"
)
DEV = "UITD-889"
F1_EVENT_TIME = datetime(2012, 9, 26, 9, 58, 2, tzinfo=CST)
F3_SAMPLE_TIME = datetime(2024, 11, 26, 15, 10, 0, tzinfo=CST)
NOW = datetime(2024, 11, 26, 7, 10, 30, tzinfo=UTC)  # 15:10:30 in China
POLICY = DecodePolicy()
SMOKE = PartStatus(1, 1, 40, 3, 7, 0x0002, "3区7号感烟探测器", F3_SAMPLE_TIME)
PRESSURE = AnalogValue(11, 1, 0, 5, 1, 5, 3200, F3_SAMPLE_TIME)


def run(raw: bytes, received_at: datetime = NOW, policy: DecodePolicy = POLICY) -> Decoded:
    return decode(raw, device_id=DEV, received_at=received_at, policy=policy)


def frame_of(*objects: PartStatus | AnalogValue, unit_type: int | None = None) -> bytes:
    kind = unit_type if unit_type is not None else (2 if isinstance(objects[0], PartStatus) else 3)
    return encode(
        GbFrame(
            serial=9,
            time=F3_SAMPLE_TIME,
            source=889,
            destination=88888,
            command=2,
            unit_type=kind,
            objects=objects,
        )
    )


def reason_of(raw: bytes) -> str:
    with pytest.raises(DecodeError) as info:
        run(raw)
    assert info.value.raw == raw
    return info.value.reason


def parts(decoded: Decoded) -> list[tuple[str, str]]:
    return [(p.where, p.reason) for p in decoded.rejections]


def kinds(decoded: Decoded) -> list[str]:
    return [
        r.type if isinstance(r, DeviceEvent) else getattr(r, "metric", "") for r in decoded.records
    ]


def reseal(frame: bytes) -> bytes:
    """Recompute the checksum of a tampered frame so only the tampering is wrong."""
    return frame[:-3] + bytes((checksum(frame[2:-3]),)) + frame[-2:]


# --- golden frames ----------------------------------------------------------------------------


def test_f1_header_fields() -> None:
    frame = parse_frame(F1)
    assert frame.serial == 1
    assert frame.version == (1, 1)
    assert frame.time == datetime(2012, 9, 26, 9, 58, 32, tzinfo=CST)
    assert frame.source == 889
    assert frame.destination == 88888
    assert int.from_bytes(F1[24:26], "little") == 48
    assert frame.command == 2
    assert frame.unit_type == 2
    assert checksum(F1[2:-3]) == 0x56


def test_f1_part_status_object() -> None:
    (obj,) = parse_frame(F1).objects
    assert isinstance(obj, PartStatus)
    assert (obj.system_type, obj.system_address, obj.part_type) == (1, 1, 40)
    assert (obj.zone, obj.position) == (10, 2)
    assert obj.status == 0x0002
    assert obj.description == "10区2号感烟探测器"
    assert obj.time == F1_EVENT_TIME
    with pytest.raises(UnicodeDecodeError):
        F1[38:55].decode("utf-8")  # the description is GB 18030, not UTF-8


def test_f1_becomes_a_smoke_alarm_in_utc() -> None:
    decoded = run(F1, received_at=datetime(2012, 9, 26, 1, 58, 5, tzinfo=UTC))
    assert decoded.records == [
        DeviceEvent(
            DEV,
            datetime(2012, 9, 26, 1, 58, 2, tzinfo=UTC),
            1 << 40 | 1 << 32 | 10 << 16 | 2,  # the part's address: system 1/1, zone 10, no. 2
            "smoke_alarm",
            {
                "system_type": 1,
                "system_address": 1,
                "part_type": 40,
                "part_kind": "smoke",
                "part_address": "10-2",
                "status": 2,
                "status_bits": ["fire"],
                "description": "10区2号感烟探测器",
                "source_address": 889,
            },
        )
    ]
    assert decoded.rejections == []


def test_f2_confirm_parses_but_is_unsupported() -> None:
    frame = parse_frame(F2)
    assert (frame.serial, frame.command, frame.source, frame.destination) == (1, 3, 88888, 889)
    assert frame.time == datetime(2012, 9, 26, 9, 58, 35, tzinfo=CST)
    assert (frame.unit_type, frame.objects) == (None, ())
    assert reason_of(F2) == "unsupported_frame"


def test_f3_analog_pressure() -> None:
    frame = parse_frame(F3)
    assert (frame.serial, frame.source, frame.destination) == (2, 889, 88888)
    assert frame.time == datetime(2024, 11, 26, 15, 10, 5, tzinfo=CST)
    assert frame.objects == (PRESSURE,)
    decoded = decode(F3, device_id=DEV, received_at=NOW, policy=POLICY)
    assert decoded.records == [
        Reading(
            DEV,
            datetime(2024, 11, 26, 7, 10, tzinfo=UTC),
            11 << 40 | 1 << 32 | 5 << 16 | 1,  # hydrant system 11/1, zone 5, position 1
            "pressure_mpa",
            0.32,
        )
    ]


def test_encode_rebuilds_the_golden_frames_byte_for_byte() -> None:
    for raw in (F1, F2, F3):
        assert encode(parse_frame(raw)) == raw


def test_concatenated_frames_are_all_decoded() -> None:
    decoded = run(F1 + F2 + F3)
    assert kinds(decoded) == ["smoke_alarm", "pressure_mpa"]
    assert parts(decoded) == [("frames[1]", "unsupported_frame")]


# --- mapping ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("analog_type", "raw_value", "metric", "value"),
    [
        (3, -125, "temp_c", -12.5),
        (4, 12, "pressure_mpa", 1.2),
        (5, 3200, "pressure_mpa", 0.32),
        (8, 36, "battery_v", 3.6),
    ],
)
def test_analog_types_map_to_metrics(
    analog_type: int, raw_value: int, metric: str, value: float
) -> None:
    decoded = run(frame_of(replace(PRESSURE, analog_type=analog_type, value=raw_value)))
    assert [(r.metric, r.value) for r in decoded.records if isinstance(r, Reading)] == [
        (metric, value)
    ]


def test_fault_and_fire_bits_give_two_events_other_part_noted() -> None:
    call_point = replace(SMOKE, part_type=23, status=0x0006, description="手报")
    decoded = run(frame_of(call_point, replace(SMOKE, status=0x0104)))
    assert kinds(decoded) == ["smoke_alarm", "fault", "fault"]
    first = decoded.records[0]
    assert isinstance(first, DeviceEvent)
    assert (first.detail["part_type"], first.detail["part_kind"]) == (23, "manual_call_point")
    last = decoded.records[2]
    assert isinstance(last, DeviceEvent)
    assert last.detail["status_bits"] == ["fault", "power_fault"]


def test_object_problems_reject_the_object_and_keep_its_neighbours() -> None:
    decoded = run(
        frame_of(
            PRESSURE,
            replace(PRESSURE, value=-10),  # negative pressure
            replace(PRESSURE, analog_type=7),  # an analog type we do not map
            replace(PRESSURE, time=None),  # six bytes that are no date
            replace(PRESSURE, time=F3_SAMPLE_TIME + timedelta(hours=1)),
            replace(PRESSURE, value=3100),
        )
    )
    assert [r.value for r in decoded.records if isinstance(r, Reading)] == [0.32, 0.31]
    assert parts(decoded) == [
        ("frames[0].objects[1].value", "out_of_range"),
        ("frames[0].objects[2].analog_type", "unsupported_frame"),
        ("frames[0].objects[3].time", "bad_time"),
        ("frames[0].objects[4].time", "future_time"),
    ]


def test_every_object_rejected_returns_rejections_without_raising() -> None:
    decoded = run(frame_of(replace(PRESSURE, time=None), replace(PRESSURE, value=-1)))
    assert decoded.records == []
    assert parts(decoded) == [
        ("frames[0].objects[0].time", "bad_time"),
        ("frames[0].objects[1].value", "out_of_range"),
    ]


def test_garbled_description_does_not_cost_the_alarm() -> None:
    raw = bytearray(F1)
    raw[38:40] = b"\x80\xff"
    decoded = run(reseal(bytes(raw)), received_at=datetime(2012, 9, 26, 2, tzinfo=UTC))
    assert kinds(decoded) == ["smoke_alarm"]


# --- malformed payloads -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty_payload"),
        (b"##" + F3[2:], "bad_frame"),
        (F3[:-2] + b"@@", "bad_frame"),
        (F3[:-1], "truncated_frame"),
        (F3[:20], "truncated_frame"),
        (b"@", "truncated_frame"),
        (reseal(F3[:24] + b"\x01\x04" + F3[26:]), "bad_frame"),  # data unit 1025 bytes
        (F3[:-3] + b"\x81" + F3[-2:], "bad_checksum"),
        (reseal(F3[:28] + b"\x02" + F3[29:]), "bad_frame"),  # 2 objects in 18 bytes
        (reseal(F3[:27] + b"\x05" + F3[28:]), "unsupported_frame"),  # software version: unmapped
        (F2, "unsupported_frame"),
        (F2 + F2, "unsupported_frame"),
        (frame_of(replace(SMOKE, status=0x0001)), "unsupported_frame"),  # normal: no event
        (F2 + F3[:-3] + b"\x00" + F3[-2:], "bad_checksum"),
    ],
)
def test_malformed_payload_reason(raw: bytes, reason: str) -> None:
    assert reason_of(raw) == reason


@pytest.mark.parametrize(
    ("tail", "reason"),
    [
        (F1[:-3] + b"\x00" + F1[-2:], "bad_checksum"),
        (F1[:-5], "truncated_frame"),
        (b"\r\n", "bad_frame"),
        (F2, "unsupported_frame"),
    ],
)
def test_bad_second_frame_keeps_the_first(tail: bytes, reason: str) -> None:
    decoded = run(F3 + tail)
    assert kinds(decoded) == ["pressure_mpa"]
    assert parts(decoded) == [("frames[1]", reason)]


def test_too_many_objects_in_one_payload() -> None:
    assert run(F3 * 3, policy=DecodePolicy(max_batch_samples=3)).rejections == []
    with pytest.raises(DecodeError) as info:
        run(F3 * 4, policy=DecodePolicy(max_batch_samples=3))
    assert info.value.reason == "batch_too_large"


def test_bad_checksum_frame_is_skipped_and_later_frames_read() -> None:
    decoded = run(F3[:-3] + b"\x00" + F3[-2:] + F3)
    assert kinds(decoded) == ["pressure_mpa"]
    assert parts(decoded) == [("frames[0]", "bad_checksum")]


# --- round-trip -------------------------------------------------------------------------------

_TIMES = st.one_of(
    st.none(),
    st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31, 23, 59, 59)).map(
        lambda t: t.replace(microsecond=0, tzinfo=CST)
    ),
)
_U8, _U16 = st.integers(0, 255), st.integers(0, 65_535)
_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), max_size=10
).filter(lambda s: len(s.encode("gb18030")) <= 31)
_PARTS = st.builds(PartStatus, _U8, _U8, _U8, _U16, _U16, _U16, _TEXT, _TIMES)
_ANALOGS = st.builds(
    AnalogValue, _U8, _U8, _U8, _U16, _U16, _U8, st.integers(-32_768, 32_767), _TIMES
)


@st.composite
def _frames(draw: st.DrawFn) -> GbFrame:
    unit_type = draw(st.sampled_from([None, 2, 3]))
    objects: tuple[PartStatus | AnalogValue, ...] = ()
    if unit_type is not None:
        objects = tuple(draw(st.lists(_PARTS if unit_type == 2 else _ANALOGS, max_size=10)))
    return GbFrame(
        serial=draw(_U16),
        time=draw(_TIMES),
        source=draw(st.integers(0, 2**48 - 1)),
        destination=draw(st.integers(0, 2**48 - 1)),
        command=2 if unit_type is not None else draw(st.integers(1, 6)),
        unit_type=unit_type,
        objects=objects,
        version=(draw(_U8), draw(_U8)),
    )


@given(_frames())
def test_parse_encode_round_trip(frame: GbFrame) -> None:
    assert parse_frame(encode(frame)) == frame


@given(st.lists(st.integers(0, 32_767), min_size=1, max_size=20))
def test_decode_encode_round_trip(values: list[int]) -> None:
    objects = [replace(PRESSURE, value=v, zone=i) for i, v in enumerate(values)]
    decoded = run(frame_of(*objects))
    assert decoded.records == [
        Reading(DEV, F3_SAMPLE_TIME, part_seq(o), "pressure_mpa", v / 10_000)
        for o, v in zip(objects, values, strict=True)
    ]


@given(st.binary(max_size=120), st.booleans())
def test_arbitrary_bytes_raise_only_decode_error(tail: bytes, framed: bool) -> None:
    with contextlib.suppress(DecodeError):
        run(b"@@" + tail if framed else tail)


@given(st.integers(0, len(F3) - 1), st.integers(1, 255))
def test_any_single_byte_corruption_is_caught(position: int, flip: int) -> None:
    raw = bytearray(F3)
    raw[position] ^= flip
    with pytest.raises(DecodeError):  # a byte sum catches every single-byte change
        run(bytes(raw))


def test_two_parts_in_the_same_second_have_distinct_identities() -> None:
    other = replace(SMOKE, zone=4, position=1, description="4区1号感烟探测器")
    twin_pressure = replace(PRESSURE, position=2)
    events = run(frame_of(SMOKE, other)).records
    readings = run(frame_of(PRESSURE, twin_pressure)).records
    for records in (events, readings):
        assert len(records) == 2
        assert records[0].ts == records[1].ts
        assert records[0].seq != records[1].seq
    # The same frame decoded again (a resend after a lost confirm) gives the same identities.
    again = run(frame_of(SMOKE, other)).records
    assert [(r.ts, r.seq) for r in again] == [(r.ts, r.seq) for r in events]


def test_part_seq_packs_the_whole_part_address() -> None:
    assert part_seq(SMOKE) == 1 << 40 | 1 << 32 | 3 << 16 | 7
    assert part_seq(replace(SMOKE, system_address=2)) != part_seq(SMOKE)
    assert part_seq(replace(SMOKE, system_type=2)) != part_seq(SMOKE)
