"""Device payload decoders, one module per format, looked up here by ingest.

Every decoder is pure: bytes in, a ``Decoded`` (records kept plus parts rejected) out, or a
``DecodeError`` when nothing of the payload is usable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Protocol

from devices.codecs import gb26875, json_event, json_telemetry, mk_pressure
from devices.models import Decoded, DecodePolicy


class Decoder(Protocol):
    """A device payload decoder (``device_id`` is the one in the topic)."""

    def __call__(
        self, raw: bytes, /, *, device_id: str, received_at: datetime, policy: DecodePolicy
    ) -> Decoded:
        """Decode ``raw`` into records and part rejections, or raise DecodeError."""
        ...


decode_telemetry: Final[Decoder] = json_telemetry.decode
decode_event: Final[Decoder] = json_event.decode

# Keyed by the {codec} segment of fg/v1/d/{device_id}/raw/{codec}.
RAW_CODECS: Final[dict[str, Decoder]] = {
    "mk-pressure": mk_pressure.decode,
    "gb26875": gb26875.decode,
}

__all__ = ["RAW_CODECS", "Decoder", "decode_event", "decode_telemetry"]
