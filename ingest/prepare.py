"""Turn a batch of received messages into rows: route, decode, check the sender. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import TypeVar

from devices.codecs import RAW_CODECS, decode_event, decode_telemetry
from devices.exceptions import DecodeError
from devices.models import (
    Decoded,
    DecodePolicy,
    DeviceEvent,
    Fix,
    HazardReport,
    PartRejection,
    Photo,
    Reading,
)
from ingest.exceptions import TopicError
from ingest.models import InboundMessage, PreparedBatch, ReceivedReport, Rejection
from ingest.terminals.decode import TerminalDecoding
from ingest.topics import DEVICE_KINDS, Route, TopicKind, parse_topic

T = TypeVar("T")

_MAX_DETAIL = 2000

# A terminal-topic handler decodes one message for its kind; the terminals issue plugs these in.
TerminalDecoder = Callable[[bytes, str, datetime], Decoded]


def route_all(messages: Sequence[InboundMessage], *, prefix: str) -> list[Route | TopicError]:
    """Parse every message's topic, keeping the error in place of a bad one."""
    routes: list[Route | TopicError] = []
    for message in messages:
        try:
            routes.append(parse_topic(message.topic, prefix=prefix))
        except TopicError as exc:
            routes.append(exc)
    return routes


def senders(routes: Sequence[Route | TopicError]) -> tuple[set[str], set[str]]:
    """Return the device IDs and terminal IDs the routed messages claim to come from."""
    devices: set[str] = set()
    terminals: set[str] = set()
    for route in routes:
        if isinstance(route, Route):
            (devices if route.kind in DEVICE_KINDS else terminals).add(route.sender_id)
    return devices, terminals


def prepare_batch(
    messages: Sequence[InboundMessage],
    routes: Sequence[Route | TopicError],
    *,
    known_devices: Collection[str],
    known_terminals: Collection[str],
    policy: DecodePolicy,
    max_payload_bytes: int,
    terminal_decoders: dict[TopicKind, TerminalDecoder] | None = None,
    terminals: TerminalDecoding | None = None,
) -> PreparedBatch:
    """Decode ``messages`` (with their ``routes``) into one PreparedBatch.

    ``terminals`` decodes the nmea, report and photo topics; ``terminal_decoders`` plugs in
    decoders for other terminal topics.
    """
    batch = PreparedBatch(messages=len(messages))
    terminal_decoders = terminal_decoders or {}
    for message, route in zip(messages, routes, strict=True):
        if isinstance(route, TopicError):
            _reject(batch, message, route.reason, "topic is not one of fg/v1's shapes")
            continue
        # A photo has its own size limit and reason (photo_too_large), checked by its decoder.
        own_limit = route.kind is TopicKind.PHOTO and terminals is not None
        if len(message.payload) > max_payload_bytes and not own_limit:
            _reject(
                batch,
                message,
                "payload_too_large",
                f"{len(message.payload)} bytes > {max_payload_bytes}",
            )
            continue
        if route.kind in DEVICE_KINDS:
            if route.sender_id not in known_devices:
                _reject(
                    batch,
                    message,
                    "unknown_device",
                    f"device {route.sender_id!r} is not in the registry",
                )
                continue
            decoded = _decode_device(message, route, policy)
        else:
            if route.sender_id not in known_terminals:
                _reject(
                    batch,
                    message,
                    "unknown_terminal",
                    f"terminal {route.sender_id!r} is not in the registry",
                )
                continue
            if terminals is not None and terminals.handles(route.kind):
                decoded = _decode_terminal(batch, message, route, terminals)
                if decoded is not None:
                    _collect(batch, message, decoded)
                continue
            decoder = terminal_decoders.get(route.kind)
            if decoder is None:
                _reject(
                    batch,
                    message,
                    "unsupported_topic",
                    f"{route.kind} messages are not handled by this ingest version",
                )
                continue
            decoded = _decode_with(
                message, _terminal_call(decoder, route.sender_id, message.received_at)
            )
        if decoded is not None:
            _collect(batch, message, decoded)
    if terminals is not None:
        batch.nmea_counts.update(terminals.nmea_counts)
    return batch


def _decode_terminal(
    batch: PreparedBatch, message: InboundMessage, route: Route, terminals: TerminalDecoding
) -> Decoded | None:
    """Decode a terminal message; keep a report or photo aside, return what _collect takes."""
    result = _decode_with(
        message,
        lambda raw: terminals.decode(
            route.kind,
            raw,
            sender=route.sender_id,
            arg=route.arg,
            received_at=message.received_at,
        ),
    )
    if isinstance(result, HazardReport):
        batch.reports.append(
            ReceivedReport(result, message.received_at, message.topic, message.payload)
        )
    elif isinstance(result, Photo):
        batch.photos.append((result, message.received_at))
    else:
        return result
    batch.accepted_messages += 1
    return None


def _decode_device(message: InboundMessage, route: Route, policy: DecodePolicy) -> Decoded | None:
    if route.kind is TopicKind.TELEMETRY:
        decoder = decode_telemetry
    elif route.kind is TopicKind.EVENT:
        decoder = decode_event
    else:
        found = RAW_CODECS.get(route.arg)
        if found is None:
            known = ", ".join(sorted(RAW_CODECS))
            return _decode_error(
                message,
                DecodeError(
                    "unknown_codec",
                    message.payload,
                    detail=f"no decoder named {route.arg!r}; known: {known}",
                ),
            )
        decoder = found
    return _decode_with(
        message,
        lambda raw: decoder(
            raw, device_id=route.sender_id, received_at=message.received_at, policy=policy
        ),
    )


def _terminal_call(
    decoder: TerminalDecoder, sender_id: str, received_at: datetime
) -> Callable[[bytes], Decoded]:
    def call(raw: bytes) -> Decoded:
        return decoder(raw, sender_id, received_at)

    return call


def _decode_with(message: InboundMessage, call: Callable[[bytes], T]) -> T | Decoded:
    try:
        return call(message.payload)
    except DecodeError as exc:
        return _decode_error(message, exc)
    except Exception as exc:  # a decoder bug must not stop ingestion
        return _decode_error(
            message,
            DecodeError("decoder_error", message.payload, detail=f"{type(exc).__name__}: {exc}"),
        )


def _decode_error(message: InboundMessage, exc: DecodeError) -> Decoded:
    # A whole-payload failure is carried as a single part rejection so _collect stores it.
    return Decoded(
        rejections=[
            PartRejection(where="payload", reason=exc.reason, detail=exc.detail or str(exc))
        ]
    )


def _collect(batch: PreparedBatch, message: InboundMessage, decoded: Decoded) -> None:
    received_at = message.received_at
    for record in decoded.records:
        if isinstance(record, Reading):
            batch.readings.append((record, received_at))
        elif isinstance(record, DeviceEvent):
            batch.events.append((record, received_at))
        elif isinstance(record, Fix):
            batch.fixes.append((record, received_at))
    batch.unknown_metrics += decoded.unknown_metrics
    if decoded.records:
        batch.accepted_messages += 1
    if not decoded.rejections:
        return
    by_reason: dict[str, list[str]] = defaultdict(list)
    for part in decoded.rejections:
        by_reason[part.reason].append(f"{part.where}: {part.detail}" if part.detail else part.where)
        batch.rejected_reasons[part.reason] += 1
    # One stored rejection per reason and message: the raw payload is kept once per reason
    # rather than once per bad value of a 1,000-sample batch.
    for reason, places in by_reason.items():
        detail = "; ".join(places)
        if len(detail) > _MAX_DETAIL:
            detail = detail[: _MAX_DETAIL - 20] + f" … ({len(places)} parts)"
        batch.rejections.append(
            Rejection(received_at, message.topic, reason, detail, message.payload)
        )


def _reject(batch: PreparedBatch, message: InboundMessage, reason: str, detail: str) -> None:
    batch.rejected_reasons[reason] += 1
    batch.rejections.append(
        Rejection(message.received_at, message.topic, reason, detail, message.payload)
    )
