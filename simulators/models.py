"""What a simulator emits: the raw message and what FireGrid must make of it."""

from __future__ import annotations

from dataclasses import dataclass, field

from devices.models import DeviceEvent, Reading


@dataclass(frozen=True)
class SimMessage:
    """A message to publish, with the records and rejection reasons it must produce."""

    topic: str
    payload: bytes
    expected: list[Reading | DeviceEvent] = field(default_factory=list)
    expected_rejections: list[str] = field(default_factory=list)
    label: str = ""
