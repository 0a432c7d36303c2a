"""Every payload decoder, one module per format, in one registry keyed by topic kind.

Ingest finds a message's decoder in ``CODECS`` by its topic kind (``telemetry``, ``event``,
``raw/{codec}``, ``nmea``, ``report``, ``photo``, ``case``) and never parses a payload itself.
Every decoder is pure: the bytes and a ``DecodeContext`` in; a ``Decoded`` (records kept plus
parts rejected), a ``HazardReport``, a ``Photo`` or a ``CaseActionMessage`` out; or a
``DecodeError`` when nothing of the payload is usable.

A format module keeps the signature natural to it (a device codec's is ``DeviceDecoder``); the
adapters here give them the registry's one calling convention.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Final, Protocol

from msgspec import Struct

from devices.codecs import (
    gb26875,
    json_case,
    json_event,
    json_report,
    json_telemetry,
    mk_pressure,
    nmea,
)
from devices.codecs.nmea import NmeaPolicy
from devices.models import CaseActionMessage, Decoded, DecodePolicy, Fix, HazardReport, Photo
from devices.photos import CHINA_STANDARD_TIME, MAX_PHOTO_BYTES, inspect_photo

RAW_PREFIX: Final = "raw/"  # keys of vendor codecs: raw/{codec}, from fg/v1/d/{id}/raw/{codec}


class CodecPolicy(Struct, frozen=True):
    """Every configurable acceptance rule the decoders apply, built once from the settings."""

    decode: DecodePolicy = DecodePolicy()
    nmea: NmeaPolicy = NmeaPolicy()
    photo_max_bytes: int = MAX_PHOTO_BYTES
    exif_default_offset: timedelta = CHINA_STANDARD_TIME  # of EXIF times that state no offset


class DecodeContext(Struct, frozen=True):
    """What a decoder knows about a message besides its bytes."""

    sender_id: str  # the device or terminal ID in the topic
    received_at: datetime
    policy: CodecPolicy
    arg: str = ""  # the topic's own argument where it has one: a photo's SHA-256
    previous_fix: Fix | None = None  # the terminal's last accepted fix: NMEA's jump check


Output = Decoded | HazardReport | Photo | CaseActionMessage


class Decoder(Protocol):
    """A registered decoder: one message's bytes and context to what they say."""

    def __call__(self, raw: bytes, ctx: DecodeContext, /) -> Output:
        """Decode ``raw``, or raise DecodeError when nothing of it is usable."""
        ...


class DeviceDecoder(Protocol):
    """A device format's decoder (``device_id`` is the one in the topic)."""

    def __call__(
        self, raw: bytes, /, *, device_id: str, received_at: datetime, policy: DecodePolicy
    ) -> Decoded:
        """Decode ``raw`` into records and part rejections, or raise DecodeError."""
        ...


def device_codec(decode: DeviceDecoder) -> Decoder:
    """Adapt a device format's decoder to the registry's calling convention."""

    def call(raw: bytes, ctx: DecodeContext, /) -> Decoded:
        return decode(
            raw, device_id=ctx.sender_id, received_at=ctx.received_at, policy=ctx.policy.decode
        )

    return call


def _nmea(raw: bytes, ctx: DecodeContext, /) -> Decoded:
    out = nmea.decode(
        raw,
        terminal_id=ctx.sender_id,
        received_at=ctx.received_at,
        policy=ctx.policy.nmea,
        previous=ctx.previous_fix,
    )
    counts = dict(out.counts)
    counts["fix"] = counts.get("fix", 0) + len(out.fixes)
    return Decoded(records=list(out.fixes), rejections=out.rejections, counts=counts)


def _report(raw: bytes, ctx: DecodeContext, /) -> HazardReport:
    return json_report.decode(
        raw, terminal_id=ctx.sender_id, received_at=ctx.received_at, policy=ctx.policy.decode
    )


def _case(raw: bytes, ctx: DecodeContext, /) -> CaseActionMessage:
    return json_case.decode(
        raw, terminal_id=ctx.sender_id, received_at=ctx.received_at, policy=ctx.policy.decode
    )


def _photo(raw: bytes, ctx: DecodeContext, /) -> Photo:
    return inspect_photo(
        raw,
        sha256=ctx.arg,
        terminal_id=ctx.sender_id,
        max_bytes=ctx.policy.photo_max_bytes,
        exif_offset=ctx.policy.exif_default_offset,
    )


# A plain dict typed read-only (a MappingProxyType lookup costs twice as much, per message).
CODECS: Final[Mapping[str, Decoder]] = {
    "telemetry": device_codec(json_telemetry.decode),  # CONTRACT §1 JSON
    "event": device_codec(json_event.decode),
    RAW_PREFIX + "mk-pressure": device_codec(mk_pressure.decode),  # hydrant pressure frames
    RAW_PREFIX + "gb26875": device_codec(gb26875.decode),  # GB/T 26875.3 transmission units
    "nmea": _nmea,  # terminals' GNSS receivers
    "report": _report,  # terminals' hazard reports
    "photo": _photo,  # terminals' photo evidence
    "case": _case,  # terminals' case actions (sign, feedback, return, verify)
}


def raw_codec_names() -> list[str]:
    """Return the registered vendor codecs' names, as they appear in ``raw/{codec}`` topics."""
    return sorted(k.removeprefix(RAW_PREFIX) for k in CODECS if k.startswith(RAW_PREFIX))


__all__ = [
    "CODECS",
    "RAW_PREFIX",
    "CodecPolicy",
    "DecodeContext",
    "Decoder",
    "DeviceDecoder",
    "NmeaPolicy",
    "Output",
    "device_codec",
    "raw_codec_names",
]
