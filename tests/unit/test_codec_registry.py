"""One registry of decoders keyed by topic kind, and ingest's routing through it."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from devices.codecs import CODECS, CodecPolicy, DecodeContext, raw_codec_names
from devices.models import Decoded, Fix, HazardReport, Photo, Reading
from ingest.models import InboundMessage
from ingest.prepare import prepare_batch, route_all
from ingest.terminals.decode import FixChain
from ingest.topics import TopicKind, parse_topic, subscriptions
from simulators.nmea_out import SimFix, write
from simulators.terminal import make_photo

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
POLICY = CodecPolicy()


def test_registry_holds_every_topic_kind_ingest_decodes() -> None:
    assert set(CODECS) == {
        "telemetry",
        "event",
        "raw/mk-pressure",
        "raw/gb26875",
        "nmea",
        "report",
        "photo",
        "case",
    }
    assert raw_codec_names() == ["gb26875", "mk-pressure"]


@pytest.mark.parametrize(
    ("topic", "key"),
    [
        ("fg/v1/d/D1/telemetry", "telemetry"),
        ("fg/v1/d/D1/event", "event"),
        ("fg/v1/d/D1/raw/mk-pressure", "raw/mk-pressure"),
        ("fg/v1/d/D1/raw/gb26875", "raw/gb26875"),
        ("fg/v1/t/T1/nmea", "nmea"),
        ("fg/v1/t/T1/report", "report"),
        (f"fg/v1/t/T1/photo/{'a' * 64}", "photo"),
        ("fg/v1/t/T1/case", "case"),
    ],
)
def test_each_topic_finds_its_decoder_by_kind(topic: str, key: str) -> None:
    route = parse_topic(topic, prefix="fg/v1")
    assert route.codec == key
    assert route.codec in CODECS


def test_case_actions_are_subscribed_and_decoded() -> None:
    # Issue 8: case actions are decoded and stored for the dispatch role.
    assert parse_topic("fg/v1/t/T1/case", prefix="fg/v1").kind is TopicKind.CASE
    assert "case" in CODECS
    assert any(f.endswith("/case") for f in subscriptions(prefix="fg/v1", shared_group=None))


def test_device_codec_decodes_through_the_context() -> None:
    raw = json.dumps({"ts": NOW.isoformat(), "seq": 1, "values": {"pressure_mpa": 0.3}}).encode()
    out = CODECS["telemetry"](raw, DecodeContext("D1", NOW, POLICY))
    assert isinstance(out, Decoded)
    assert out.records == [Reading("D1", NOW, 1, "pressure_mpa", 0.3)]


def test_report_and_photo_decoders_return_their_own_types() -> None:
    report = json.dumps(
        {
            "report_id": "7f0c1a52-9d8e-4b1e-8a3b-2f1c9a0b6d11",
            "terminal_id": "T1",
            "ts": NOW.isoformat(),
            "category": "blocked_exit",
            "lat": 31.2,
            "lon": 121.5,
        }
    ).encode()
    assert isinstance(CODECS["report"](report, DecodeContext("T1", NOW, POLICY)), HazardReport)
    photo = make_photo(seed=3)
    ctx = DecodeContext("T1", NOW, POLICY, arg=hashlib.sha256(photo).hexdigest())
    assert isinstance(CODECS["photo"](photo, ctx), Photo)


def _walk(start: datetime, n: int) -> list[SimFix]:
    return [
        SimFix(
            ts=start + timedelta(seconds=i),
            lat=31.2479 + i * 9e-6,
            lon=121.5874 + i * 9e-6,
            speed_mps=1.4,
            course_deg=40.0,
        )
        for i in range(n)
    ]


def _message(topic: str, payload: bytes) -> InboundMessage:
    return InboundMessage(topic, payload, 1, 1, 1, NOW)


def test_nmea_counts_and_the_fix_chain_pass_through_a_batch() -> None:
    start = NOW - timedelta(minutes=5)
    first = write(_walk(start, 3))
    # 1 km north a second later: a jump, checked against the first message's last fix.
    far = SimFix(ts=start + timedelta(seconds=3), lat=31.2579, lon=121.5874, speed_mps=1.4)
    messages = [_message("fg/v1/t/T1/nmea", first), _message("fg/v1/t/T1/nmea", write([far]))]
    chain = FixChain()
    batch = prepare_batch(
        messages,
        route_all(messages, prefix="fg/v1"),
        known_devices=(),
        known_terminals={"T1"},
        policy=POLICY,
        max_payload_bytes=1 << 20,
        fixes=chain,
    )
    assert [f.ts for f, _ in batch.fixes] == [start + timedelta(seconds=i) for i in range(3)]
    assert batch.nmea_counts["fix"] == 3
    assert [r.reason for r in batch.rejections] == ["speed_jump"]
    newest = chain.previous("T1")
    assert isinstance(newest, Fix)
    assert newest.ts == start + timedelta(seconds=2)


def test_unknown_raw_codec_and_photos_without_a_data_dir_are_rejected() -> None:
    photo = make_photo(seed=4)
    messages = [
        _message("fg/v1/d/D1/raw/acme", b"\x01\x02"),
        _message(f"fg/v1/t/T1/photo/{hashlib.sha256(photo).hexdigest()}", photo),
    ]
    batch = prepare_batch(
        messages,
        route_all(messages, prefix="fg/v1"),
        known_devices={"D1"},
        known_terminals={"T1"},
        policy=POLICY,
        max_payload_bytes=1 << 20,
    )
    assert [(r.reason, r.detail) for r in batch.rejections] == [
        ("unknown_codec", "payload: no decoder named 'acme'; known: gb26875, mk-pressure"),
        ("unsupported_topic", "photo messages are not handled by this ingest version"),
    ]
