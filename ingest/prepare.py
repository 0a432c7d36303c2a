"""Turn a batch of received messages into rows: route, decode, check the sender. Pure."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Sequence
from typing import Final

from devices.codecs import (
    CODECS,
    CodecPolicy,
    DecodeContext,
    Decoder,
    Output,
    raw_codec_names,
)
from devices.exceptions import DecodeError
from devices.models import (
    CaseActionMessage,
    Decoded,
    DeviceEvent,
    Fix,
    HazardReport,
    PartRejection,
    Reading,
)
from ingest.config import OVERSIZE_KEEP_BYTES
from ingest.exceptions import TopicError
from ingest.models import InboundMessage, PreparedBatch, ReceivedReport, Rejection
from ingest.terminals.decode import FixChain
from ingest.topics import DEVICE_KINDS, Route, TopicKind, parse_topic

_MAX_DETAIL = 2000
# Module constants: looking a member up on the enum class costs ~50 ns, per message.
_PHOTO: Final = TopicKind.PHOTO
_NMEA: Final = TopicKind.NMEA
_RAW: Final = TopicKind.RAW


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
    policy: CodecPolicy,
    max_payload_bytes: int,
    oversize_keep_bytes: int = OVERSIZE_KEEP_BYTES,
    fixes: FixChain | None = None,
    photos: bool = False,
) -> PreparedBatch:
    """Decode ``messages`` (with their ``routes``) into one PreparedBatch.

    Each message goes to its topic kind's decoder in ``devices.codecs.CODECS``. ``fixes``
    carries each terminal's last fix through the batch; ``photos`` says whether photos are
    accepted (only with a data directory to keep them in).
    """
    batch = PreparedBatch(messages=len(messages))
    fixes = fixes if fixes is not None else FixChain()
    for message, route in zip(messages, routes, strict=True):
        if isinstance(route, TopicError):
            _reject(batch, message, route.reason, "topic is not one of fg/v1's shapes")
            continue
        # A photo has its own size limit and reason (photo_too_large), checked by its decoder.
        if len(message.payload) > max_payload_bytes and route.kind is not _PHOTO:
            _reject_oversize(batch, message, max_payload_bytes, oversize_keep_bytes)
            continue
        device = route.kind in DEVICE_KINDS
        if route.sender_id not in (known_devices if device else known_terminals):
            _unknown_sender(batch, message, route, device=device)
            continue
        decoder = CODECS.get(route.codec)
        if decoder is None or (not photos and route.kind is _PHOTO):
            _no_decoder(batch, message, route)
            continue
        is_nmea = route.kind is _NMEA
        ctx = DecodeContext(
            route.sender_id,
            message.received_at,
            policy,
            route.arg,
            fixes.previous(route.sender_id) if is_nmea else None,
        )
        result = _decode_with(message, decoder, ctx)
        if isinstance(result, Decoded):
            if is_nmea:
                fixes.advance(route.sender_id, result.records)
                if result.counts:
                    batch.nmea_counts.update(result.counts)
            _collect(batch, message, result)
        elif isinstance(result, HazardReport):
            batch.reports.append(
                ReceivedReport(result, message.received_at, message.topic, message.payload)
            )
            batch.accepted_messages += 1
        elif isinstance(result, CaseActionMessage):
            batch.case_actions.append((result, message.received_at))
            batch.accepted_messages += 1
        else:
            batch.photos.append((result, message.received_at))
            batch.accepted_messages += 1
    return batch


def _unknown_sender(
    batch: PreparedBatch, message: InboundMessage, route: Route, *, device: bool
) -> None:
    if device:
        reason, detail = "unknown_device", f"device {route.sender_id!r} is not in the registry"
    else:
        reason, detail = "unknown_terminal", f"terminal {route.sender_id!r} is not in the registry"
    _reject(batch, message, reason, detail)


def _no_decoder(batch: PreparedBatch, message: InboundMessage, route: Route) -> None:
    if route.kind is _RAW:
        # Stored like a decoder's own whole-payload failure; the detail lists the known codecs.
        known = ", ".join(raw_codec_names())
        error = DecodeError(
            "unknown_codec",
            message.payload,
            detail=f"no decoder named {route.arg!r}; known: {known}",
        )
        _collect(batch, message, _decode_error(error))
        return
    _reject(
        batch,
        message,
        "unsupported_topic",
        f"{route.kind} messages are not handled by this ingest version",
    )


def _decode_with(message: InboundMessage, decoder: Decoder, ctx: DecodeContext) -> Output:
    try:
        return decoder(message.payload, ctx)
    except DecodeError as exc:
        return _decode_error(exc)
    except Exception as exc:  # a decoder bug must not stop ingestion
        return _decode_error(
            DecodeError("decoder_error", message.payload, detail=f"{type(exc).__name__}: {exc}")
        )


def _decode_error(exc: DecodeError) -> Decoded:
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


def _reject_oversize(batch: PreparedBatch, message: InboundMessage, limit: int, keep: int) -> None:
    """Reject a payload over ``limit``, keeping its first ``keep`` bytes, size and SHA-256."""
    size = len(message.payload)
    batch.rejected_reasons["payload_too_large"] += 1
    batch.rejections.append(
        Rejection(
            message.received_at,
            message.topic,
            "payload_too_large",
            f"{size} bytes > {limit}",
            message.payload[:keep],
            size,
            hashlib.sha256(message.payload).digest(),
        )
    )


def _reject(batch: PreparedBatch, message: InboundMessage, reason: str, detail: str) -> None:
    batch.rejected_reasons[reason] += 1
    batch.rejections.append(
        Rejection(message.received_at, message.topic, reason, detail, message.payload)
    )
