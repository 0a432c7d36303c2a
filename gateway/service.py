"""Frames to the database through ingest's own write path, durably, before they are answered.

A frame from a registered address goes to ``ingest.flows.BatchWriter`` exactly as if it had
come over MQTT on the device's ``raw/gb26875`` topic: the same decoder, identities (a resent
frame is stored once), rejections, ``batch.committed`` event and metrics, so the rules, cases
and live feed treat it like any other device's message. A frame from an address no device holds
is kept as rejected (``unknown_device``) under the gateway topic with its bytes, and replayed
once the address is registered (``firegrid rejected replay``); a frame failing its checksum is
kept as rejected (``bad_checksum``) the same way. Both calls retry while the database is away
and return only once everything is committed: the caller answers the frames after that.

A duty check nobody answered becomes the device's canonical JSON ``duty_check_missed`` event on
the same path (``missed_check_events``), so the rules raise it like any device event.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from devices.service import devices_by_gb26875_address
from gateway.command_service import MissedCheck
from gateway.models import ReceivedFrame, Verdict
from ingest.flows import BatchWriter
from ingest.models import InboundMessage, Rejection
from ingest.topics import GATEWAY_CODEC, device_topic, event_topic, gateway_topic


class FrameStore:
    """Stores batches of received frames; knows which device each address is."""

    def __init__(self, writer: BatchWriter, *, prefix: str) -> None:
        self._writer = writer
        self._prefix = prefix
        self._devices: dict[int, str] = {}  # address -> device ID, cached once found

    def store(self, frames: Sequence[ReceivedFrame]) -> None:
        """Commit what ``frames`` carry (data or rejections); return when it is durable."""
        self._resolve({f.head.source for f in frames} - self._devices.keys())
        messages: list[InboundMessage] = []
        rejections: list[Rejection] = []
        for frame in frames:
            device_id = self._devices.get(frame.head.source)
            if frame.verdict is Verdict.DENY:
                rejections.append(self._rejection(frame, "bad_checksum", frame.detail, device_id))
            elif device_id is None:
                detail = f"no device is registered with gb26875_address {frame.head.source}"
                rejections.append(self._rejection(frame, "unknown_device", detail, None))
            else:
                topic = device_topic(prefix=self._prefix, device_id=device_id, codec=GATEWAY_CODEC)
                messages.append(InboundMessage(topic, frame.raw, 0, 0, 0, frame.received_at))
        if messages:
            self._writer.write(messages)
        self._writer.reject(rejections)

    def _resolve(self, missing: set[int]) -> None:
        # A miss is asked again with every batch it occurs in: a device registered while the
        # gateway runs is recognised from its next frame.
        if missing:
            found = self._writer.read(
                lambda conn: devices_by_gb26875_address(conn, addresses=sorted(missing))
            )
            self._devices.update(found)

    def _rejection(
        self, frame: ReceivedFrame, reason: str, detail: str, device_id: str | None
    ) -> Rejection:
        topic = (
            gateway_topic(prefix=self._prefix, address=frame.head.source)
            if device_id is None
            else device_topic(prefix=self._prefix, device_id=device_id, codec=GATEWAY_CODEC)
        )
        return Rejection(frame.received_at, topic, reason, detail, frame.raw)


def missed_check_events(
    checks: Sequence[MissedCheck], *, prefix: str, now: datetime
) -> list[InboundMessage]:
    """Return a canonical JSON ``duty_check_missed`` event per missed duty check.

    Written through ingest like a device's own event, at the check's answer time with the
    command's id as ``seq``: stored once however often it is written.
    """
    return [
        InboundMessage(
            event_topic(prefix=prefix, device_id=check.device_id),
            json.dumps(
                {
                    "ts": check.answer_by.astimezone(UTC).isoformat(),
                    "seq": check.id,
                    "type": "duty_check_missed",
                    "detail": {
                        "command_id": check.id,
                        "sent": check.first_sent_at is not None,  # else never connected
                    },
                }
            ).encode(),
            0,
            0,
            0,
            now,
        )
        for check in checks
    ]
