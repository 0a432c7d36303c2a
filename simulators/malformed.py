"""A catalogue of malformed inputs, each with the reason FireGrid must store it under.

Every case that can carry valid parts carries some, with the records they must still produce,
so a test checks both halves: the bad part rejected with its own reason, the good parts kept.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from devices.models import DeviceEvent, Reading
from simulators.models import SimMessage
from simulators.sensors import iso


def catalogue(
    *,
    prefix: str,
    device: str,
    other_device: str,
    unknown_device: str,
    now: datetime,
    mk_frame: bytes,
    mk_device: str,
    gb_frame: bytes,
) -> list[SimMessage]:
    """Return the malformed cases for a registered ``device`` (and a registered mk device).

    ``mk_frame`` is a valid Mingkong frame of registered device ``mk_device``; ``gb_frame`` a
    valid GB/T 26875.3 frame. ``other_device`` is registered too (for the ID-mismatch case).
    """
    tel = f"{prefix}/d/{device}/telemetry"
    evt = f"{prefix}/d/{device}/event"
    t = now - timedelta(minutes=1)
    good = {"ts": iso(t), "seq": 1, "values": {"battery_pct": 80}}

    def j(value: object) -> bytes:
        return json.dumps(value).encode()

    def case(
        label: str,
        topic: str,
        payload: bytes,
        reason: str,
        expected: list[Reading | DeviceEvent] | None = None,
    ) -> SimMessage:
        return SimMessage(topic, payload, expected or [], [reason], label)

    def with_good(label: str, bad_sample: dict[str, object], reason: str, seq: int) -> SimMessage:
        # A batch of one bad sample and one good one: the good one must be stored.
        good_n = {**good, "seq": seq, "ts": iso(t + timedelta(seconds=seq))}
        expected = [Reading(device, t + timedelta(seconds=seq), seq, "battery_pct", 80.0)]
        return case(label, tel, j({"samples": [bad_sample, good_n]}), reason, list(expected))

    bad_crc = bytearray(mk_frame)
    bad_crc[-4] ^= 0xFF
    bad_checksum = bytearray(gb_frame)
    bad_checksum[-3] ^= 0xFF
    return [
        case("truncated JSON", tel, j(good)[:-7], "bad_json"),
        case("empty payload", tel, b"", "empty_payload"),
        case("not UTF-8", tel, b'{"ts": "\xff\xfe", "values": {}}', "not_utf8"),
        case("JSON array, not an object", tel, j([good]), "not_an_object"),
        case("values is a list", tel, j({**good, "values": [1, 2]}), "wrong_type"),
        case("oversize batch", tel, j({"samples": [good] * 1001}), "batch_too_large"),
        case("empty batch", tel, j({"samples": []}), "empty_batch"),
        case("ID mismatch", tel, j({**good, "device_id": other_device}), "device_mismatch"),
        case("unknown device", f"{prefix}/d/{unknown_device}/telemetry", j(good), "unknown_device"),
        case("wrong codec", f"{prefix}/d/{device}/raw/no-such-codec", mk_frame, "unknown_codec"),
        case("bad CRC", f"{prefix}/d/{mk_device}/raw/mk-pressure", bytes(bad_crc), "bad_crc"),
        case(
            "frame truncated",
            f"{prefix}/d/{mk_device}/raw/mk-pressure",
            mk_frame[:20],
            "truncated_frame",
        ),
        case(
            "frame with wrong start bytes",
            f"{prefix}/d/{mk_device}/raw/mk-pressure",
            b"\x00\x00" + mk_frame[2:],
            "bad_frame",
        ),
        case(
            "GB/T 26875.3 bad checksum",
            f"{prefix}/d/{device}/raw/gb26875",
            bytes(bad_checksum),
            "bad_checksum",
        ),
        case("bad topic shape", f"{prefix}/d/{device}/telemetry/extra", j(good), "bad_topic"),
        case(
            "NaN beside a good value",
            tel,
            b'{"ts": "' + iso(t).encode() + b'", "seq": 2, '
            b'"values": {"pressure_mpa": NaN, "battery_pct": 80}}',
            "nan",
            [Reading(device, t, 2, "battery_pct", 80.0)],
        ),
        case(
            "Infinity beside a good value",
            tel,
            b'{"ts": "' + iso(t).encode() + b'", "seq": 3, '
            b'"values": {"pressure_mpa": Infinity, "battery_pct": 80}}',
            "infinite",
            [Reading(device, t, 3, "battery_pct", 80.0)],
        ),
        case(
            "out of range beside a good value",
            tel,
            j({"ts": iso(t), "seq": 4, "values": {"pressure_mpa": 12.5, "battery_pct": 80}}),
            "out_of_range",
            [Reading(device, t, 4, "battery_pct", 80.0)],
        ),
        case(
            "string value beside a good value",
            tel,
            j({"ts": iso(t), "seq": 5, "values": {"temp_c": "hot", "battery_pct": 80}}),
            "not_a_number",
            [Reading(device, t, 5, "battery_pct", 80.0)],
        ),
        case(
            "bad metric name beside a good value",
            tel,
            j({"ts": iso(t), "seq": 6, "values": {"Pressure MPa": 0.3, "battery_pct": 80}}),
            "bad_metric_name",
            [Reading(device, t, 6, "battery_pct", 80.0)],
        ),
        with_good(
            "far-future time",
            {"ts": iso(now + timedelta(days=400)), "seq": 7, "values": {"battery_pct": 80}},
            "future_time",
            8,
        ),
        with_good(
            "time without offset",
            {"ts": "2026-11-26T06:30:00", "seq": 9, "values": {"battery_pct": 80}},
            "time_without_offset",
            10,
        ),
        with_good(
            "device clock never set (1970)",
            {"ts": 5000, "seq": 11, "values": {"battery_pct": 80}},
            "time_too_old",
            12,
        ),
        with_good("missing ts", {"seq": 13, "values": {"battery_pct": 80}}, "missing_field", 14),
        with_good(
            "negative seq", {"ts": iso(t), "seq": -5, "values": {"battery_pct": 80}}, "bad_seq", 15
        ),
        with_good("no values", {"ts": iso(t), "seq": 16, "values": {}}, "no_values", 17),
        case(
            "unknown event type beside a good event",
            evt,
            j(
                {
                    "events": [
                        {"ts": iso(t), "seq": 20, "type": "exploded"},
                        {"ts": iso(t), "seq": 21, "type": "self_test"},
                    ]
                }
            ),
            "unknown_event_type",
            [DeviceEvent(device, t, 21, "self_test", {})],
        ),
    ]


def reference_now() -> datetime:
    """Return the current time truncated to milliseconds (as payloads carry it)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
