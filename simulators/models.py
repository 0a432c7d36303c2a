"""What a simulator emits: the raw message and what FireGrid must make of it."""

from __future__ import annotations

from dataclasses import dataclass, field

from devices.models import DeviceEvent, Fix, HazardReport, Reading


@dataclass(frozen=True)
class SimMessage:
    """A message to publish, with the records and rejection reasons it must produce."""

    topic: str
    payload: bytes
    expected: list[Reading | DeviceEvent] = field(default_factory=list)
    expected_rejections: list[str] = field(default_factory=list)
    label: str = ""
    # Terminals: accepted fixes, hazard reports and photo hashes the message must store.
    expected_fixes: list[Fix] = field(default_factory=list)
    expected_reports: list[HazardReport] = field(default_factory=list)
    expected_photos: list[str] = field(default_factory=list)
