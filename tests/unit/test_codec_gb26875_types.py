"""GB/T 26875.3 data-unit types 1, 4, 21 and 24: named flags, events, seq, round trip."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.codecs.gb26875 import DEVICE_SEQ, carries_fire, decode, flags_of
from devices.codecs.gb26875_frame import (
    CST,
    DeviceOperation,
    DeviceStatus,
    GbFrame,
    GbObject,
    SystemOperation,
    SystemStatus,
    encode,
    parse_frame,
)
from devices.exceptions import DecodeError
from devices.models import DecodePolicy, DeviceEvent

AT = datetime(2024, 11, 26, 15, 10, 0, tzinfo=CST)
NOW = datetime(2024, 11, 26, 7, 10, 30, tzinfo=UTC)
TYPES = {SystemStatus: 1, SystemOperation: 4, DeviceStatus: 21, DeviceOperation: 24}


def frame_of(obj: GbObject) -> bytes:
    return encode(
        GbFrame(
            serial=5,
            time=AT,
            source=889,
            destination=88888,
            command=2,
            unit_type=TYPES[type(obj)],
            objects=(obj,),
        )
    )


def events(obj: GbObject) -> list[DeviceEvent]:
    out = decode(frame_of(obj), device_id="UITD-889", received_at=NOW, policy=DecodePolicy())
    return [r for r in out.records if isinstance(r, DeviceEvent)]


@pytest.mark.parametrize(
    ("obj", "kinds", "names", "seq"),
    [
        (SystemStatus(1, 2, 0x0002, AT), ["smoke_alarm"], ["fire"], 1 << 40 | 2 << 32),
        (SystemStatus(1, 2, 0x0100, AT), ["fault"], ["power_fault"], 1 << 40 | 2 << 32),
        (
            SystemStatus(1, 2, 0x0604, AT),
            ["fault"],
            ["fault", "backup_power_fault", "bus_fault"],
            1 << 40 | 2 << 32,
        ),
        (SystemOperation(1, 2, 0x01, 7, AT), ["alarm_cleared"], ["reset"], 1 << 40 | 2 << 32),
        (
            SystemOperation(1, 2, 0x06, 7, AT),
            ["silenced", "smoke_alarm"],
            ["silence", "manual_alarm"],
            1 << 40 | 2 << 32,
        ),
        (DeviceStatus(0x02, AT), ["smoke_alarm"], ["fire"], DEVICE_SEQ),
        (DeviceStatus(0x08, AT), ["fault"], ["power_fault"], DEVICE_SEQ),
        (DeviceStatus(0x61, AT), ["fault"], ["normal", "channel_fault", "line_fault"], DEVICE_SEQ),
        (DeviceOperation(0x10, 3, AT), ["self_test"], ["self_test"], DEVICE_SEQ),
        (
            DeviceOperation(0x21, 3, AT),
            ["alarm_cleared", "duty_check_answered"],
            ["reset", "duty_check_answer"],
            DEVICE_SEQ,
        ),
    ],
)
def test_flags_become_events(obj: GbObject, kinds: list[str], names: list[str], seq: int) -> None:
    got = events(obj)
    assert [e.type for e in got] == kinds
    assert {e.seq for e in got} == {seq}
    assert flags_of(obj)[1] == names
    detail = got[0].detail
    assert detail.get("status_bits", detail.get("operations")) == names
    assert got[0].ts == AT.astimezone(UTC)
    assert carries_fire(parse_frame(frame_of(obj))) == ("smoke_alarm" in kinds)


def test_the_devices_normal_status_is_a_heartbeat_and_a_systems_is_unsupported() -> None:
    assert [e.type for e in events(DeviceStatus(0x01, AT))] == ["heartbeat"]
    assert [e.type for e in events(DeviceStatus(0x05, AT))] == ["fault"]  # normal and fault
    with pytest.raises(DecodeError) as caught:
        decode(
            frame_of(SystemStatus(1, 2, 0x0001, AT)),
            device_id="UITD-889",
            received_at=NOW,
            policy=DecodePolicy(),
        )
    assert caught.value.reason == "unsupported_frame"


TIMES = st.none() | st.datetimes(datetime(2000, 1, 1), datetime(2099, 1, 1)).map(
    lambda d: d.replace(tzinfo=CST, microsecond=0)
)
OBJECTS = (
    st.builds(SystemStatus, st.integers(0, 255), st.integers(0, 255), st.integers(0, 0xFFFF), TIMES)
    | st.builds(
        SystemOperation,
        st.integers(0, 255),
        st.integers(0, 255),
        st.integers(0, 255),
        st.integers(0, 255),
        TIMES,
    )
    | st.builds(DeviceStatus, st.integers(0, 255), TIMES)
    | st.builds(DeviceOperation, st.integers(0, 255), st.integers(0, 255), TIMES)
)


@given(OBJECTS)
def test_parse_inverts_encode(obj: GbObject) -> None:
    assert parse_frame(frame_of(obj)).objects == (obj,)
