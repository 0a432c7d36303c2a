"""Topic routing: which decoder a message goes to, and whose it claims to be (CONTRACT §1)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

from msgspec import Struct

from devices.codecs import RAW_PREFIX
from devices.models import ID_PATTERN
from ingest.exceptions import TopicError

_ID: Final = re.compile(ID_PATTERN)
_SHA256: Final = re.compile(r"[0-9a-f]{64}")


class TopicKind(StrEnum):
    """What a topic carries."""

    TELEMETRY = "telemetry"
    EVENT = "event"
    RAW = "raw"
    NMEA = "nmea"
    REPORT = "report"
    PHOTO = "photo"
    CASE = "case"


DEVICE_KINDS: Final = frozenset({TopicKind.TELEMETRY, TopicKind.EVENT, TopicKind.RAW})


class Route(Struct, frozen=True):
    """A parsed topic: the kind, the sender's ID, the codec or photo hash if any, and the key
    of its decoder in ``devices.codecs.CODECS`` (the kind, or ``raw/{codec}``).
    """

    kind: TopicKind
    sender_id: str
    arg: str
    codec: str  # a field, not a property: looked up for every message on the hot path


# Topics whose tail is one fixed word, by scope.
_DEVICE_WORDS: Final = {"telemetry": TopicKind.TELEMETRY, "event": TopicKind.EVENT}
_TERMINAL_WORDS: Final = {
    "nmea": TopicKind.NMEA,
    "report": TopicKind.REPORT,
    "case": TopicKind.CASE,
}


def parse_topic(topic: str, *, prefix: str) -> Route:
    """Parse ``topic`` under ``prefix`` into a Route, or raise TopicError saying why."""
    if not topic.startswith(prefix + "/"):
        raise TopicError(topic, "bad_topic")
    parts = topic[len(prefix) + 1 :].split("/")
    if len(parts) < 3 or not _ID.fullmatch(parts[1]):
        raise TopicError(topic, "bad_topic")
    scope, sender, rest = parts[0], parts[1], parts[2:]
    route = None
    if scope == "d":
        route = _device_route(sender, rest)
    elif scope == "t":
        route = _terminal_route(topic, sender, rest)
    if route is None:
        raise TopicError(topic, "bad_topic")
    return route


def _device_route(sender: str, rest: list[str]) -> Route | None:
    if len(rest) == 1 and rest[0] in _DEVICE_WORDS:
        kind = _DEVICE_WORDS[rest[0]]
        return Route(kind, sender, "", kind.value)
    if len(rest) == 2 and rest[0] == "raw" and rest[1]:
        return Route(TopicKind.RAW, sender, rest[1], RAW_PREFIX + rest[1])
    return None


def _terminal_route(topic: str, sender: str, rest: list[str]) -> Route | None:
    if len(rest) == 1 and rest[0] in _TERMINAL_WORDS:
        kind = _TERMINAL_WORDS[rest[0]]
        return Route(kind, sender, "", kind.value)
    if len(rest) == 2 and rest[0] == "photo":
        if not _SHA256.fullmatch(rest[1].lower()):
            raise TopicError(topic, "bad_photo_hash")
        return Route(TopicKind.PHOTO, sender, rest[1].lower(), TopicKind.PHOTO.value)
    if rest == ["inbox"]:
        raise TopicError(topic, "inbox_is_outbound")
    return None


# Frames the GB/T 26875.3 gateway received over TCP from an address no device is registered
# under yet: kept as rejected under this topic (never published), replayed under the device's
# raw topic once the registry names the address (``ingest.rejected_replay``).
GATEWAY_CODEC: Final = "gb26875"
_GATEWAY_WORDS: Final = ("gw", GATEWAY_CODEC)


def gateway_topic(*, prefix: str, address: int) -> str:
    """Return the topic a frame from GB/T 26875.3 ``address`` is kept under until registered."""
    return "/".join((prefix, *_GATEWAY_WORDS, str(address)))


def gateway_address(topic: str, *, prefix: str) -> int | None:
    """Return the address of a ``gateway_topic``, or None for any other topic."""
    head = "/".join((prefix, *_GATEWAY_WORDS, ""))
    tail = topic.removeprefix(head)
    return int(tail) if tail != topic and tail.isdigit() else None


def device_topic(*, prefix: str, device_id: str, codec: str) -> str:
    """Return the topic a device's frames in vendor format ``codec`` arrive on."""
    return f"{prefix}/d/{device_id}/raw/{codec}"


def event_topic(*, prefix: str, device_id: str) -> str:
    """Return the topic of a device's canonical JSON events (CONTRACT §1)."""
    return f"{prefix}/d/{device_id}/event"


def subscriptions(*, prefix: str, shared_group: str | None) -> list[str]:
    """Return the topic filters the ingest role subscribes to."""
    filters = [
        f"{prefix}/d/+/#",
        f"{prefix}/t/+/nmea",
        f"{prefix}/t/+/report",
        f"{prefix}/t/+/photo/+",
        f"{prefix}/t/+/case",
    ]
    if shared_group:
        return [f"$share/{shared_group}/{f}" for f in filters]
    return filters
