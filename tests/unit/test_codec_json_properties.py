"""JSON decoders as properties: what a well-behaved device sends comes back unchanged, and no
input escapes as anything but a ``DecodeError``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from devices.codecs.json_event import decode as decode_event
from devices.codecs.json_telemetry import decode as decode_telemetry
from devices.exceptions import DecodeError
from devices.models import PartRejection, Reading
from tests.unit.json_codec_support import DEV, NOW, POLICY, tele

_VALUES = st.dictionaries(
    st.sampled_from(["pressure_mpa", "battery_pct", "level_m", "smoke_pct"]),
    st.floats(min_value=0, max_value=10, allow_nan=False),
    min_size=1,
)
_SAMPLE = st.fixed_dictionaries(
    {
        "ts": st.integers(min_value=946_684_800_000, max_value=int(NOW.timestamp() * 1000)),
        "seq": st.integers(min_value=0, max_value=2**32 - 1),
        "values": _VALUES,
    }
)


@given(st.lists(_SAMPLE, min_size=1, max_size=20))
def test_telemetry_round_trip(samples: list[dict[str, Any]]) -> None:
    decoded = tele({"device_id": DEV, "samples": samples})
    expected = [
        Reading(
            DEV,
            datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=s["ts"]),
            s["seq"],
            metric,
            value,
        )
        for s in samples
        for metric, value in s["values"].items()
    ]
    assert decoded.records == expected
    assert decoded.rejections == []


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_other_errors(raw: bytes) -> None:
    for decoder in (decode_telemetry, decode_event):
        try:
            decoded = decoder(raw, device_id=DEV, received_at=NOW, policy=POLICY)
        except DecodeError:
            continue
        assert all(isinstance(part, PartRejection) for part in decoded.rejections)
