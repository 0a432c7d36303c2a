"""Gateway re-framing and answers: golden F1-F3, frames cut anywhere, garbage, F2 from F1."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.codecs.gb26875_frame import (
    ANSWER,
    CONFIRM,
    CST,
    MAX_UNIT,
    AnalogValue,
    GbFrame,
    PartStatus,
    SystemStatus,
    encode,
    parse_frame,
    parse_header,
)
from gateway.commands import CommandKind, ReadTarget, check_target, command_frame
from gateway.framing import MAX_FRAME, BadChecksum, Reframer
from gateway.read_answers import answer_objects
from gateway.replies import DENY, confirm, deny
from tests.golden import frame

F1, F2, F3 = frame("F1"), frame("F2"), frame("F3")
GOLDEN = (F1, F2, F3)


def reframe(*reads: bytes) -> tuple[list[bytes | BadChecksum], Reframer]:
    reframer = Reframer()
    out: list[bytes | BadChecksum] = []
    for data in reads:
        out += reframer.feed(data)
    return out, reframer


def test_f1_decoded_field_by_field() -> None:
    parsed = parse_frame(F1)
    assert (parsed.serial, parsed.version, parsed.command) == (1, (1, 1), 2)
    assert parsed.time == datetime(2012, 9, 26, 9, 58, 32, tzinfo=CST)
    assert (parsed.source, parsed.destination, parsed.unit_type) == (889, 88888, 2)
    assert parsed.objects == (
        PartStatus(
            system_type=1,
            system_address=1,
            part_type=40,
            zone=10,
            position=2,
            status=0x0002,
            description="10区2号感烟探测器",  # GB 18030: as UTF-8 these bytes do not decode
            time=datetime(2012, 9, 26, 9, 58, 2, tzinfo=CST),
        ),
    )
    description = F1[27 + 2 + 9 : 27 + 2 + 9 + 17]
    assert description.decode("gb18030") == "10区2号感烟探测器"


def test_f2_decoded_field_by_field() -> None:
    parsed = parse_frame(F2)
    assert (parsed.serial, parsed.command, parsed.unit_type, parsed.objects) == (1, 3, None, ())
    assert (parsed.source, parsed.destination) == (88888, 889)
    assert parsed.time == datetime(2012, 9, 26, 9, 58, 35, tzinfo=CST)


def test_f3_decoded_field_by_field() -> None:
    parsed = parse_frame(F3)
    assert (parsed.serial, parsed.command, parsed.unit_type) == (2, 2, 3)
    assert parsed.time == datetime(2024, 11, 26, 15, 10, 5, tzinfo=CST)
    assert (parsed.source, parsed.destination) == (889, 88888)
    assert parsed.objects == (
        AnalogValue(11, 1, 0, 5, 1, 5, 3200, datetime(2024, 11, 26, 15, 10, tzinfo=CST)),
    )


def test_confirm_of_f1_is_f2_but_for_time_and_checksum() -> None:
    now = datetime(2026, 12, 7, 12, 0, 1, tzinfo=UTC)
    ours = confirm(parse_header(F1), now=now)
    assert len(ours) == len(F2)
    time_and_checksum = {*range(6, 12), len(F2) - 3}
    for index, (byte, golden) in enumerate(zip(ours, F2, strict=True)):
        if index not in time_and_checksum:
            assert byte == golden, f"byte {index}: {byte:#04x} != {golden:#04x}"
    mine, theirs = parse_frame(ours), parse_frame(F2)
    assert mine.time == now.astimezone(CST)
    assert (mine.serial, mine.source, mine.destination, mine.command) == (
        theirs.serial,
        theirs.source,
        theirs.destination,
        CONFIRM,
    )


def test_wrong_checksum_is_returned_as_bad_and_denied() -> None:
    broken = F1[:-3] + bytes(((F1[-3] + 1) & 0xFF,)) + F1[-2:]
    items, _ = reframe(broken + F3)
    assert items[1] == F3
    assert isinstance(items[0], BadChecksum)
    assert (items[0].stored, items[0].computed) == (0x57, 0x56)
    answer = parse_frame(deny(parse_header(items[0].frame), now=datetime.now(UTC)))
    assert (answer.command, answer.serial, answer.source, answer.destination) == (
        DENY,
        1,
        88888,
        889,
    )


def test_oversize_length_is_not_a_frame() -> None:
    head = bytearray(F2)
    head[24:26] = (MAX_UNIT + 1).to_bytes(2, "little")
    items, reframer = reframe(bytes(head) + F3)
    assert items == [F3]
    assert reframer.skipped_bytes == len(head)


@given(st.sampled_from(GOLDEN), st.data())
def test_a_frame_cut_at_every_byte_position(golden: bytes, data: st.DataObject) -> None:
    for cut in range(len(golden) + 1):
        items, reframer = reframe(golden[:cut], golden[cut:])
        assert items == [golden]
        assert reframer.buffered == 0
    # and in any number of pieces
    cuts = sorted(data.draw(st.lists(st.integers(0, len(golden)), max_size=12)))
    pieces = [golden[a:b] for a, b in zip([0, *cuts], [*cuts, len(golden)], strict=True)]
    assert reframe(*pieces)[0] == [golden]


# Line noise without '@' cannot start a frame, so every frame after it must be found again.
NOISE = st.binary(max_size=64).map(lambda b: b.replace(b"@", b""))
PARTS = st.lists(
    st.builds(
        lambda s, t, v: encode(
            GbFrame(
                serial=s,
                time=None,
                source=889,
                destination=88888,
                command=2,
                unit_type=3,
                objects=(AnalogValue(11, 1, 0, 5, 1, 5, v, t),),
            )
        ),
        st.integers(0, 0xFFFF),
        st.none()
        | st.datetimes(datetime(2000, 1, 1), datetime(2099, 1, 1)).map(
            lambda d: d.replace(tzinfo=CST, microsecond=0)
        ),
        st.integers(-0x8000, 0x7FFF),
    )
    | st.sampled_from(GOLDEN),
    min_size=1,
    max_size=8,
)


@given(PARTS, st.lists(NOISE, min_size=9, max_size=9), st.lists(st.integers(0, 2000)))
def test_concatenated_frames_with_garbage_any_reads(
    frames: list[bytes], noise: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(n + f for n, f in zip(noise, frames, strict=False)) + noise[-1]
    bounds = sorted({c for c in cuts if c <= len(stream)})
    reads = [stream[a:b] for a, b in zip([0, *bounds], [*bounds, len(stream)], strict=True)]
    items, reframer = reframe(*reads)
    assert items == frames
    assert reframer.buffered == 0
    assert reframer.skipped_bytes == len(stream) - sum(map(len, frames))


@given(st.lists(st.binary(max_size=3000), max_size=6))
def test_any_bytes_keep_the_buffer_bounded(reads: list[bytes]) -> None:
    reframer = Reframer()
    for data in reads:
        reframer.feed(data)
        assert reframer.buffered < MAX_FRAME


def test_commands_are_control_frames_with_their_object() -> None:
    now = datetime(2026, 12, 7, 4, 5, 6, tzinfo=UTC)
    sync = command_frame(CommandKind.CLOCK_SYNC, serial=7, centre=88888, device=889, now=now)
    duty = command_frame(
        CommandKind.DUTY_CHECK, serial=8, centre=88888, device=889, now=now, answer_within_min=5
    )
    items, _ = reframe(sync + duty)
    assert items == [sync, duty]  # well framed, checksums right
    for raw, serial, unit in (
        (sync, 7, bytes((90, 1, 6, 5, 12, 7, 12, 26))),
        (duty, 8, bytes((91, 1, 5))),
    ):
        head = parse_header(raw)
        assert (head.command, head.serial, head.source, head.destination) == (1, serial, 88888, 889)
        assert raw[27:-3] == unit  # type, one object: the China time, or the minutes


def test_reads_are_requests_naming_the_system_and_part() -> None:
    now = datetime(2026, 12, 7, 4, 5, 6, tzinfo=UTC)
    system = command_frame(
        CommandKind.READ_SYSTEM_STATUS, serial=9, centre=88888, device=889, now=now
    )
    part = command_frame(
        CommandKind.READ_PART_STATUS,
        serial=10,
        centre=88888,
        device=889,
        now=now,
        target=ReadTarget(system_type=1, system_address=2, zone=258, position=7),
    )
    items, _ = reframe(system + part)
    assert items == [system, part]
    for raw, serial, unit in (
        (system, 9, bytes((61, 1, 1, 1))),  # the fire alarm system 1 by default
        (part, 10, bytes((62, 1, 1, 2, 2, 1, 7, 0))),  # zone 258 = 02 01, little-endian
    ):
        head = parse_header(raw)
        assert (head.command, head.serial, head.source, head.destination) == (4, serial, 88888, 889)
        assert raw[27:-3] == unit


def test_a_part_read_needs_its_part_and_only_reads_take_a_target() -> None:
    check_target(CommandKind.READ_SYSTEM_STATUS, None)
    check_target(CommandKind.READ_PART_STATUS, ReadTarget(zone=0, position=0))
    with pytest.raises(ValueError, match=r"zone and target\.position"):
        check_target(CommandKind.READ_PART_STATUS, ReadTarget(zone=3))
    with pytest.raises(ValueError, match="takes no target"):
        check_target(CommandKind.CLOCK_SYNC, ReadTarget())


def test_an_answer_frame_is_read_into_named_status_objects() -> None:
    at = datetime(2026, 12, 7, 4, 5, 0, tzinfo=CST)
    answer = encode(
        GbFrame(
            serial=10,
            time=at,
            source=889,
            destination=88888,
            command=ANSWER,
            unit_type=2,
            objects=(PartStatus(1, 2, 40, 258, 7, 0b110, "2区7号感烟", at),),
        )
    )
    [item] = answer_objects(parse_frame(answer))
    assert item == {
        "unit_type": 2,
        "system_type": 1,
        "system_address": 2,
        "part_type": 40,
        "part_kind": "smoke",
        "zone": 258,
        "position": 7,
        "description": "2区7号感烟",
        "status": 6,
        "status_bits": ["fire", "fault"],
        "time": at.isoformat(),
    }
    system = encode(
        GbFrame(
            serial=9,
            time=at,
            source=889,
            destination=88888,
            command=ANSWER,
            unit_type=1,
            objects=(SystemStatus(1, 1, 0b11, at),),
        )
    )
    assert [(o["unit_type"], o["status_bits"]) for o in answer_objects(parse_frame(system))] == [
        (1, ["fire"])
    ]
